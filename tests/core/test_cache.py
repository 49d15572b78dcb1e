"""The one cache (core.cache) and what its answers depend on (core.deps), on real files.

Stories: an answer is computed once for ten callers at the same moment; callers get copies; an
answer stays while its files keep their content (even when touched) and goes when one changes, when a
file appears in a folder it lists, or when it is pushed out by newer answers.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from core.cache import Cache, Computed, clear_all
from core.deps import Deps, Listing, model_import


def wait_until_true(predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    """Poll ``predicate`` until it holds (threads reaching the cache), failing after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "still false"
        time.sleep(0.01)


def _files(tmp_path: Path, **contents: str) -> dict[str, Path]:
    out = {}
    for name, text in contents.items():
        path = tmp_path / f"{name}.py"
        path.write_text(text)
        out[name] = path
    return out


def _age(path: Path, seconds: float = 60) -> None:
    """Date the file back, as an edit made a while ago (outside the racy window where content is re-read)."""
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_ten_callers_at_once_compute_the_answer_once():
    cache = Cache("test-single-flight")
    computes = []
    release = threading.Event()

    def compute() -> Computed:
        computes.append(1)
        release.wait(10)
        return Computed({"answer": 42})

    results: list[dict] = []
    threads = [threading.Thread(target=lambda: results.append(cache.get_or_compute("k", compute))) for _ in range(10)]
    for t in threads:
        t.start()
    wait_until_true(lambda: cache.waiting("k") == 9)  # one computes, nine wait for it
    release.set()
    for t in threads:
        t.join(10)
    assert len(computes) == 1
    assert results == [{"answer": 42}] * 10


def test_waiting_callers_get_the_computation_error_and_nothing_is_kept():
    cache = Cache("test-error")
    release = threading.Event()
    errors: list[BaseException] = []

    def compute() -> Computed:
        release.wait(10)
        raise ValueError("the child crashed")

    def call() -> None:
        try:
            cache.get_or_compute("k", compute)
        except ValueError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(3)]
    for t in threads:
        t.start()
    wait_until_true(lambda: cache.waiting("k") == 2)
    release.set()
    for t in threads:
        t.join(10)
    assert [str(e) for e in errors] == ["the child crashed"] * 3
    assert cache.peek("k") is None


def test_mutating_a_returned_answer_does_not_change_the_next_one():
    cache = Cache("test-copies")
    first = cache.get_or_compute("k", lambda: Computed({"models": [{"name": "Client", "columns": ["id"]}]}))
    first["models"][0]["columns"].append("drift")
    first["models"].append({"name": "Injected"})
    assert cache.get_or_compute("k", lambda: Computed({"never": "computed"})) == \
        {"models": [{"name": "Client", "columns": ["id"]}]}
    peeked = cache.peek("k")
    peeked["models"].clear()
    assert cache.peek("k") == {"models": [{"name": "Client", "columns": ["id"]}]}


def test_peek_never_computes():
    cache = Cache("test-peek")
    assert cache.peek("k") is None
    assert cache.stats["computes"] == 0


def test_a_touched_but_unchanged_file_keeps_the_answer_and_an_edit_drops_it(tmp_path):
    files = _files(tmp_path, rev="def upgrade():\n    pass\n")
    _age(files["rev"])
    cache = Cache("test-touch")
    calls = []

    def compute() -> Computed:
        calls.append(1)
        return Computed(files["rev"].read_text(), Deps.of([files["rev"]]))

    cache.get_or_compute("k", compute)
    os.utime(files["rev"])  # `touch`: new mtime, same content
    assert cache.get_or_compute("k", compute) == "def upgrade():\n    pass\n"
    assert len(calls) == 1
    files["rev"].write_text("def upgrade():\n    op.add_column()\n")
    assert cache.peek("k") is None
    assert cache.get_or_compute("k", compute) == "def upgrade():\n    op.add_column()\n"
    assert len(calls) == 2


def test_an_edit_keeping_size_and_mtime_within_the_same_tick_is_still_seen(tmp_path):
    files = _files(tmp_path, rev="x = 1\n")
    _age(files["rev"], seconds=0.5)  # edited a moment ago: its stat alone is not trusted yet
    cache = Cache("test-racy")
    cache.get_or_compute("k", lambda: Computed("one", Deps.of([files["rev"]])))
    assert cache.peek("k") == "one"
    stat = files["rev"].stat()
    files["rev"].write_text("x = 2\n")  # same size
    os.utime(files["rev"], ns=(stat.st_atime_ns, stat.st_mtime_ns))  # and the same mtime
    assert cache.peek("k") is None


def test_a_file_changed_while_the_answer_was_computed_is_computed_again(tmp_path):
    files = _files(tmp_path, models="class Client: ...\n")
    _age(files["models"])
    cache = Cache("test-meanwhile")

    def compute() -> Computed:
        text = files["models"].read_text()
        files["models"].write_text("class Client: ...\nclass Broker: ...\n")  # saved while the child ran
        return Computed(text, Deps.of([files["models"]]))

    assert cache.get_or_compute("k", compute) == "class Client: ...\n"
    assert cache.peek("k") is None  # that answer predates the file's content: never served again


def test_an_answer_depends_only_on_its_own_files(tmp_path):
    files = _files(tmp_path, rev_a="a = 1\n", rev_b="b = 1\n", models="class Client: ...\n")
    for path in files.values():
        _age(path)
    cache = Cache("test-own-files")
    for name, path in files.items():
        cache.get_or_compute(name, lambda p=path: Computed(p.read_text(), Deps.of([p])))
    files["rev_a"].write_text("a = 2\n")
    assert cache.peek("rev_a") is None
    assert cache.peek("rev_b") == "b = 1\n"
    assert cache.peek("models") == "class Client: ...\n"


def test_a_new_file_in_a_listed_folder_drops_the_answer(tmp_path):
    versions = tmp_path / "versions"
    versions.mkdir()
    (versions / "0001_first.py").write_text("revision = '0001'\n")
    _age(versions / "0001_first.py")
    _age(versions)
    cache = Cache("test-listing")
    listing = Listing(str(versions))
    cache.get_or_compute("history", lambda: Computed(["0001"], Deps.of(listing.files(), [listing])))
    (versions / "notes.txt").write_text("not a revision")  # another suffix: not part of the listing
    assert cache.peek("history") == ["0001"]
    (versions / "0002_second.py").write_text("revision = '0002'\n")
    assert cache.peek("history") is None


def test_a_file_that_appears_or_vanishes_drops_the_answer(tmp_path):
    env_py = tmp_path / "env.py"
    cache = Cache("test-appear")
    cache.get_or_compute("k", lambda: Computed("no env.py", Deps.of([env_py])))
    assert cache.peek("k") == "no env.py"
    env_py.write_text("target_metadata = None\n")
    assert cache.peek("k") is None
    _age(env_py)
    cache.get_or_compute("k", lambda: Computed("with env.py", Deps.of([env_py])))
    assert cache.peek("k") == "with env.py"
    env_py.unlink()
    assert cache.peek("k") is None


def test_an_answer_marked_not_to_keep_is_computed_again():
    cache = Cache("test-transient")
    calls = []

    def compute() -> Computed:
        calls.append(1)
        return Computed({"runner_error": "timeout"}, store=False)

    assert cache.get_or_compute("k", compute) == {"runner_error": "timeout"}
    cache.get_or_compute("k", compute)
    assert len(calls) == 2


def test_the_oldest_answers_go_first_beyond_the_bound():
    cache = Cache("test-bound", max_entries=3)
    for key in "abcd":
        cache.get_or_compute(key, lambda k=key: Computed(k))
    assert len(cache) == 3
    assert cache.peek("a") is None
    assert [cache.peek(k) for k in "bcd"] == ["b", "c", "d"]
    big = Cache("test-bytes", max_bytes=1000)
    big.get_or_compute("x", lambda: Computed("x" * 600))
    big.get_or_compute("y", lambda: Computed("y" * 600))
    assert big.peek("x") is None and big.peek("y") == "y" * 600


def test_force_recomputes_and_invalidate_forgets():
    cache = Cache("test-force")
    cache.get_or_compute("k", lambda: Computed(1))
    assert cache.get_or_compute("k", lambda: Computed(2), force=True) == 2
    cache.invalidate("k")
    assert cache.peek("k") is None
    cache.get_or_compute("k", lambda: Computed(3))
    clear_all()
    assert cache.peek("k") is None


def test_model_answers_follow_the_loaded_files_unless_the_import_could_not_say(tmp_path):
    project = tmp_path / "proj"
    (project / "app").mkdir(parents=True)
    models = project / "app" / "models.py"
    models.write_text("class Client: ...\n")
    other = project / "app" / "views.py"
    other.write_text("print('unrelated')\n")
    loaded = model_import({"found_by": "env.py target_metadata", "project_files": [str(models)], "errors": []}, project)
    assert str(models) in loaded.files and str(other) not in loaded.files
    unknown = model_import({"found_by": "env.py target_metadata", "errors": []}, project)  # an older runner
    assert {str(models), str(other)} <= unknown.files
    failed = model_import({"found_by": "env.py target_metadata", "project_files": [str(models)],
                           "errors": [{"module": "app.views", "error": "boom"}]}, project)
    assert str(other) in failed.files  # a module that failed to import leaves no trace: every file counts


@pytest.fixture(autouse=True)
def _fresh_caches():
    yield
    clear_all()
