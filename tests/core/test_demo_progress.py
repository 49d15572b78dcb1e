"""`make demo` and `make demo-big` say what they are doing while it takes time: the pip install one
line per package, the demo load each migration and the sample rows, and the 10-million-row load a
running count with a percentage and the time left."""

from __future__ import annotations

import re
import sys

import pytest

from core.demo import Progress, duration, load_demo
from tests.conftest import REPO, create_database, drop_database

sys.path.insert(0, str(REPO / "scripts"))
from pip_progress import condense  # noqa: E402


def seconds(text: str) -> int:
    """``2 min 05 s`` / ``42 s`` back to seconds."""
    match = re.fullmatch(r"(?:(\d+) min )?(\d+) s", text)
    assert match, text
    return int(match[1] or 0) * 60 + int(match[2])


def test_loading_the_demo_reports_each_migration_and_the_sample_rows(pg_server_url):
    url = create_database(pg_server_url, "demo_progress")
    try:
        said: list[str] = []
        result = load_demo(url, progress=said.append)
        assert result["ok"], result
        migrations = [line for line in said if line.startswith("  migration ")]
        assert migrations and migrations[-1].endswith(f"→ {result['revision']}")
        assert not any(line.endswith(",") for line in migrations)  # Alembic's ", description" is cut off
        rows = next(line for line in said if line.startswith("  sample rows: "))
        assert f"{result['clients']:,} clients" in rows and f"{result['operations']:,} operations" in rows
    finally:
        drop_database(pg_server_url, url)


def test_the_big_load_shows_a_running_count_percentage_and_an_honest_time_left():
    # the demo setup's progress lines (brokerbot/demo_setup.py) for a steady 14 s per million rows
    reading = Progress()
    shown = [reading.line(f"operations: {n * 1_000_000:,} / 10,000,000 ({n * 14:.1f} s)") for n in range(1, 11)]
    assert all(shown)
    left = []
    for n, line in enumerate(shown[:-1], start=1):
        assert f"{n * 1_000_000:,} / 10,000,000 rows ({n * 10}%)" in line
        left.append(seconds(re.search(r"about (.+) left", line)[1]))  # type: ignore[index]
    # the estimate shrinks as the rows come in, and covers the rows still to load plus the rebuild after them
    assert left == sorted(left, reverse=True) and len(set(left)) == len(left)
    for n, estimate in enumerate(left, start=1):
        rows_left = (10 - n) * 14
        assert rows_left < estimate <= rows_left + 0.5 * 140
    assert "(100%)" in shown[-1] and "rebuilding the indexes" in shown[-1] and reading.loaded
    rebuild = seconds(re.search(r"about (.+) more", shown[-1])[1])  # type: ignore[index]
    # the heartbeat during the rebuild counts down that estimate, then says it is over it
    assert re.fullmatch(rf"  … still rebuilding indexes: 0 s so far, about {re.escape(duration(rebuild))} left "
                        r"\(2 min 30 s since the start\)", reading.still(150))
    reading.rebuild_from -= rebuild + 5
    assert f"longer than the {duration(rebuild)} estimated" in reading.still(200)
    assert reading.line("INFO  [sqlalchemy.engine] SELECT 1") is None  # noise stays out


@pytest.mark.parametrize(("value", "text"), [(0, "0 s"), (42.4, "42 s"), (125, "2 min 05 s"), (3600, "60 min 00 s")])
def test_durations_read_like_a_clock(value, text):
    assert duration(value) == text


PIP_OUTPUT = """\
Collecting Django==5.2.19 (from -r requirements.txt (line 2))
  Downloading django-5.2.19-py3-none-any.whl.metadata (4.1 kB)
Collecting psycopg[binary]==3.3.9 (from -r requirements.txt (line 6))
  Using cached psycopg-3.3.9-py3-none-any.whl.metadata (4.3 kB)
Processing /opt/wheels/pygments-2.21.0-py3-none-any.whl (from -r requirements.txt (line 15))
Collecting asgiref>=3.8.1 (from Django==5.2.19->-r requirements.txt (line 2))
  Downloading asgiref-3.13.0-py3-none-any.whl.metadata (9.3 kB)
Installing collected packages: pygments, asgiref, psycopg, Django
Successfully installed Django-5.2.19 asgiref-3.13.0 psycopg-3.3.9 pygments-2.21.0
"""


def test_pip_output_is_condensed_to_one_line_per_package():
    ticks = iter(range(0, 1000, 3))
    lines = list(condense(PIP_OUTPUT.splitlines(keepends=True), clock=lambda: float(next(ticks))))
    assert [re.sub(r" · \d+ s$", "", line) for line in lines[:4]] == [
        "  [ 1] django 5.2.19", "  [ 2] psycopg[binary] 3.3.9", "  [ 3] pygments 2.21.0", "  [ 4] asgiref 3.13.0"]
    assert lines[4].startswith("  installing 4 packages (pygments, asgiref, psycopg, Django)")
    assert lines[5].startswith("  done: 4 packages installed in ")
    assert len(lines) == 6


def test_pip_errors_are_shown_in_full():
    failing = "Collecting nosuchpkg==1.0\nERROR: Could not find a version that satisfies the requirement nosuchpkg==1.0\n"
    lines = list(condense(failing.splitlines(keepends=True)))
    assert lines[-1] == "ERROR: Could not find a version that satisfies the requirement nosuchpkg==1.0"
