"""What a cached answer depends on: files, checked by stat and then by content, and folder listings.

A ``Deps`` names the files an answer was computed from (a revision file, env.py, the modules the model
import loaded) and the folder listings whose *set of names* matters (a new revision file changes the
history even though no known file changed). ``Deps.snapshot()`` records their state; ``Snapshot.valid()``
tells whether the answer still holds:

* a file whose ``(mtime_ns, size)`` is unchanged is taken as unchanged, except when its mtime is so
  recent that a second write in the same clock tick could hide (the "racily clean" case git knows):
  then its content is hashed anyway;
* a file whose stat changed is hashed: same content (``touch``, a checkout that rewrote it, an editor's
  save without change) keeps the answer and the new stat is remembered; other content invalidates;
* a file that appeared or vanished invalidates; so does a listing with other names.

Content hashes are memoised per ``(path, mtime_ns, size)``, so entries sharing a file hash it once.
The helpers at the end build the usual sets (an Alembic script folder, the project's Python files,
the files a model import loaded).
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Folders never part of a project's own sources (the child's model discovery skips the same ones,
# plus the Alembic folders, which the model import never scans).
SKIP_DIRS = frozenset({".git", ".hg", ".venv", "venv", "env", ".env", "node_modules", "__pycache__", "site-packages",
                       ".tox", ".nox", ".mypy_cache", ".pytest_cache", ".ruff_cache", "build", "dist", ".pgadmin"})
MODEL_SKIP_DIRS = SKIP_DIRS | {"tests", "test", "migrations", "alembic"}

# A stat this close to the snapshot (or newer) is not trusted: mtime has a coarse tick on some file systems.
RACY_NS = 2_000_000_000
_MEMO_LIMIT = 50_000
# File times come from a coarse kernel clock: a write just after a computation started may carry a
# time slightly before it. Changes within this slack of the start count as made during the computation.
CLOCK_SLACK_NS = 20_000_000
_CHANGED_MEANWHILE = (-1, -1, "", 0)  # a recorded state no file ever has: the next check recomputes

_memo_lock = threading.Lock()
_memo: dict[str, tuple[int, int, str]] = {}  # path -> (mtime_ns, size, digest)


def _stat(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def file_digest(path: str, stat: tuple[int, int] | None = None, *, fresh: bool = False) -> str | None:
    """Content hash of ``path`` (None when it cannot be read), memoised by its stat unless ``fresh``."""
    stat = stat or _stat(path)
    if stat is None:
        return None
    if not fresh:
        with _memo_lock:
            hit = _memo.get(path)
        if hit is not None and hit[:2] == stat:
            return hit[2]
    try:
        with open(path, "rb") as fh:
            digest = hashlib.blake2b(fh.read(), digest_size=16).hexdigest()
    except OSError:
        return None
    with _memo_lock:
        if len(_memo) > _MEMO_LIMIT:
            _memo.clear()
        _memo[path] = (stat[0], stat[1], digest)
    return digest


@dataclass(frozen=True)
class Listing:
    """The names of the files below ``root`` ending with ``suffixes`` (recursively or not)."""

    root: str
    suffixes: tuple[str, ...] = (".py",)
    recursive: bool = False
    skip: frozenset[str] = SKIP_DIRS

    def files(self, folders: list[str] | None = None) -> list[str]:
        """Absolute paths, sorted (an absent root lists nothing); ``folders`` collects the folders walked."""
        out: list[str] = []
        if not self.recursive:
            try:
                with os.scandir(self.root) as it:
                    out = [e.path for e in it if e.name.endswith(self.suffixes) and e.is_file()]
            except OSError:
                return []
            if folders is not None:
                folders.append(self.root)
            return sorted(out)
        for dirpath, dirs, names in os.walk(self.root):
            dirs[:] = [d for d in dirs if d not in self.skip and not d.startswith(".")]
            if folders is not None:
                folders.append(dirpath)
            out.extend(os.path.join(dirpath, n) for n in names if n.endswith(self.suffixes))
        return sorted(out)

    def digest(self, changed_since_ns: int | None = None) -> str:
        """A hash of the names; ``""`` (which matches nothing) when a folder changed after ``changed_since_ns``."""
        folders: list[str] = []
        joined = "\n".join(os.path.relpath(p, self.root) for p in self.files(folders))
        if changed_since_ns is not None and any((_stat(f) or (0, 0))[0] >= changed_since_ns for f in folders):
            return ""  # a file came or went while the answer was computed: it may not have seen it
        return hashlib.blake2b(joined.encode(), digest_size=16).hexdigest()


@dataclass(frozen=True)
class Deps:
    """Files (by content) and listings (by names) an answer depends on."""

    files: frozenset[str] = frozenset()
    listings: frozenset[Listing] = frozenset()

    @classmethod
    def of(cls, files: Iterable[str | Path | None] = (), listings: Iterable[Listing] = ()) -> Deps:
        return cls(frozenset(os.path.abspath(str(f)) for f in files if f), frozenset(listings))

    def __or__(self, other: Deps) -> Deps:
        return Deps(self.files | other.files, self.listings | other.listings)

    def snapshot(self, changed_since_ns: int | None = None) -> Snapshot:
        """The state of the files and listings now. ``changed_since_ns``: when the answer's computation
        started; what changed after it is recorded as never valid, since the answer may predate the change."""
        now = time.time_ns()
        since = changed_since_ns - CLOCK_SLACK_NS if changed_since_ns is not None else None
        files: dict[str, tuple[int, int, str, int] | None] = {}
        for path in self.files:
            stat = _stat(path)
            if stat is not None and since is not None and stat[0] >= since:
                files[path] = _CHANGED_MEANWHILE
                continue
            digest = file_digest(path, stat, fresh=stat is not None and stat[0] >= now - RACY_NS) if stat else None
            files[path] = None if stat is None or digest is None else (stat[0], stat[1], digest, now)
        return Snapshot(files=files, listings={lst: lst.digest(since) for lst in self.listings})


@dataclass
class Snapshot:
    """The state of a ``Deps`` when an answer was computed: per file ``(mtime_ns, size, digest, checked_ns)``
    (mutable: a touched file's new stat is kept, and so is the time its content was last confirmed)."""

    files: dict[str, tuple[int, int, str, int] | None]
    listings: dict[Listing, str] = field(default_factory=dict)

    def valid(self) -> bool:
        """Whether every file and listing still has the recorded content (see the module docstring)."""
        for path, seen in list(self.files.items()):
            stat = _stat(path)
            if seen is None or stat is None:
                if seen is not None or stat is not None:
                    return False  # appeared or vanished
                continue
            # Written within a clock tick of the last check: a second write could keep mtime and size.
            racy = stat[0] >= seen[3] - RACY_NS
            if stat == seen[:2] and not racy:
                continue
            digest = file_digest(path, stat, fresh=True)
            if digest != seen[2]:
                return False
            self.files[path] = (stat[0], stat[1], digest, time.time_ns())  # same content: keep the entry
        return all(lst.digest() == digest for lst, digest in self.listings.items())


# --- the usual sets ---------------------------------------------------------------------------

def project_python(root: str | Path, *, skip: frozenset[str] = SKIP_DIRS) -> Deps:
    """Every Python file of the project (content) and their listing: the coarse fallback."""
    listing = Listing(str(Path(root).resolve()), (".py",), recursive=True, skip=skip)
    return Deps.of(listing.files(), [listing])


def alembic_scripts(script_location: str | None, *, ini: str | Path | None = None,
                    module_paths: Iterable[str] = (), extra_folders: Iterable[str] = ()) -> Deps:
    """An Alembic script folder: its revision files (every .py below it), their listing, env.py,
    script.py.mako, the ini, and the folders of revision files outside it (version_locations)."""
    files: list[str | Path | None] = [ini, *module_paths]
    listings: list[Listing] = []
    if script_location and os.path.isdir(script_location):
        below = Listing(os.path.abspath(script_location), (".py",), recursive=True)
        files += [*below.files(), os.path.join(script_location, "script.py.mako"),
                  os.path.join(script_location, "env.py")]
        listings.append(below)
    folders = {os.path.dirname(os.path.abspath(p)) for p in module_paths} | {os.path.abspath(f) for f in extra_folders}
    listings += [Listing(folder) for folder in sorted(folders)]
    return Deps.of(files, listings)


def model_import(result: dict[str, Any], project_dir: str | Path, *, ini: str | Path | None = None,
                 env_py: str | None = None) -> Deps:
    """What a model import depends on, from the child's answer (``models.inspect`` or the probe's summary).

    The project files the import loaded, the project's listing (a new module in a package that is
    imported whole), the ini and env.py. When the child could not say (an older runner), when some
    module failed (a failed import leaves no trace in ``sys.modules``), or when the models were found
    by scanning (which modules are imported depends on every file's text): every Python file.
    """
    loaded = result.get("project_files")
    found_by = str(result.get("found_by") or "")
    import_failed = any("property" not in e for e in result.get("errors") or [])
    base = Deps.of([ini, env_py])
    if not isinstance(loaded, list) or import_failed or found_by.startswith("scan"):
        return base | project_python(project_dir, skip=MODEL_SKIP_DIRS)
    listing = Listing(str(Path(project_dir).resolve()), (".py",), recursive=True, skip=MODEL_SKIP_DIRS)
    return base | Deps.of([str(p) for p in loaded], [listing])


# Who knows the files the project's model import loaded: the model map records them when it reads the
# models, and registers itself here (``ModelmapConfig.ready``); the drift panel builds on the same files.
# A hook rather than an import, so that the migrations feature does not depend on the model map's app.
_model_files: Callable[[], Deps | None] | None = None


def provide_model_files(provider: Callable[[], Deps | None]) -> None:
    """Register the function answering the model import's files (None: not known yet)."""
    global _model_files
    _model_files = provider


def model_files() -> Deps | None:
    """The files the last model import loaded, when some app records them; None when unknown."""
    return _model_files() if _model_files is not None else None
