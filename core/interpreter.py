"""Which Python runs the user's code: the project's own, a cached one built for it, or the tool's.

``resolve()`` answers, in this order (the first that applies wins):

1. ``PGADMIN_PROJECT_PYTHON`` when set (the user said so);
2. the project's own environment: ``.venv/`` or ``venv/`` in ``PGADMIN_PROJECT_DIR`` or in the
   folder of ``PGADMIN_ALEMBIC_CONFIG``, then an activated ``VIRTUAL_ENV`` (not the tool's own),
   uv's ``UV_PROJECT_ENVIRONMENT``, and Poetry's environment for a Poetry project;
3. a cached environment built for the project from what it declares (``uv.lock``,
   ``poetry.lock``, ``requirements*.txt``, ``pyproject.toml``) in ``DATA_DIR/envs/<hash>``, with
   ``uv`` (shipped in its PyPI wheel) or pip, plus SQLAlchemy and Alembic when the project does not
   list them (the child needs both). The build runs in a background thread so the server never
   waits for it: until it is ready the child runs on the tool's interpreter and ``status()`` says
   what is happening (the dashboard and the startup report show it); the next start reuses it;
4. the tool's own interpreter.

An environment that cannot import SQLAlchemy and Alembic is not used: the tool's interpreter
runs instead, with a warning naming why. ``PGADMIN_PROJECT_ENV_BUILD=0`` turns step 3 off.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

try:  # Python 3.11+; on 3.10 a Poetry/pyproject project needs PGADMIN_PROJECT_PYTHON or a requirements file
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - exercised only on 3.10
    tomllib = None  # type: ignore[assignment]

# The files that say what a project depends on, most precise first.
LOCK_FILES = ("uv.lock", "poetry.lock")
BUILD_TIMEOUT_S = 1800
_CHECK_TIMEOUT_S = 30


@dataclass(frozen=True)
class Interpreter:
    """The interpreter chosen for the child and why (``reason`` is said to the user as is)."""

    path: str
    reason: str
    source: str  # setting | project | active | built | building | tool
    warning: str = ""

    def report_line(self) -> str:
        """The startup report's line: ``Project interpreter: /p/.venv/bin/python (the project's .venv)``."""
        line = f"Project interpreter: {self.path} ({self.reason})"
        return f"{line} — {self.warning}" if self.warning else line

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


# --- the build's state, shared by the thread that builds and the views that show it ---------------
_lock = threading.Lock()
_builds: dict[str, dict[str, Any]] = {}   # key -> status dict (see status())
_threads: dict[str, threading.Thread] = {}
_checked: dict[tuple[str, float], str] = {}  # (python, mtime) -> "" when usable, else why not


def tool_python() -> str:
    """The tool's own interpreter (the fallback)."""
    return sys.executable


def _venv_python(venv: Path) -> Path | None:
    for candidate in (venv / "bin" / "python", venv / "Scripts" / "python.exe"):
        if candidate.exists():
            return candidate
    return None


def _same_env(python: Path | str) -> bool:
    """True when ``python`` belongs to the tool's own environment (no point in calling it the project's)."""
    try:
        return Path(python).parent.parent.resolve() == Path(sys.prefix).resolve()
    except OSError:
        return False


def _project_folders() -> list[Path]:
    """PROJECT_DIR, then the folder of PGADMIN_ALEMBIC_CONFIG when it points elsewhere."""
    root = Path(settings.PROJECT_DIR)
    folders = [root]
    if settings.ALEMBIC_CONFIG:
        ini = Path(settings.ALEMBIC_CONFIG)
        ini = ini if ini.is_absolute() else root / ini
        if ini.parent not in folders:
            folders.append(ini.parent)
    return folders


def _explicit_python() -> str:
    """PGADMIN_PROJECT_PYTHON as settings hold it ('' when the user left it unset)."""
    value = str(getattr(settings, "PROJECT_PYTHON", "") or "")
    return "" if value == tool_python() else value


def unusable_reason(python: str) -> str:
    """'' when ``python`` imports SQLAlchemy and Alembic, else what is wrong (cached per binary)."""
    try:
        mtime = Path(python).stat().st_mtime
    except OSError:
        return f"{python} does not exist"
    key = (python, mtime)
    if key not in _checked:
        try:
            proc = subprocess.run([python, "-c", "import sqlalchemy, alembic"], capture_output=True, text=True,
                                  timeout=_CHECK_TIMEOUT_S, stdin=subprocess.DEVNULL)
            last = (proc.stderr.strip().splitlines() or [""])[-1]
            _checked[key] = "" if proc.returncode == 0 else (last or f"exit code {proc.returncode}")
        except (OSError, subprocess.TimeoutExpired) as exc:
            _checked[key] = f"cannot run it ({exc})"
    return _checked[key]


def _checked_or_tool(python: str, reason: str, source: str) -> Interpreter:
    why = unusable_reason(python)
    if not why:
        return Interpreter(python, reason, source)
    return Interpreter(tool_python(), "the tool's own interpreter", "tool",
                       warning=f"{python} ({reason}) cannot import SQLAlchemy and Alembic: {why}. "
                               "Install them into that environment (the child needs both) or set PGADMIN_PROJECT_PYTHON.")


def _found_environment() -> tuple[str, str, str] | None:
    """(python, reason, source) of the project's own environment, if it has one."""
    for folder in _project_folders():
        for name in (".venv", "venv"):
            python = _venv_python(folder / name)
            if python is not None:
                where = f"the project's {name}" if folder == Path(settings.PROJECT_DIR) else f"the {name} beside alembic.ini"
                return str(python), where, "project"
    active = os.environ.get("VIRTUAL_ENV", "")
    if active:
        python = _venv_python(Path(active))
        if python is not None and not _same_env(python):
            return str(python), f"the active virtualenv, VIRTUAL_ENV={active}", "active"
    uv_env = os.environ.get("UV_PROJECT_ENVIRONMENT", "")
    if uv_env:
        folder = Path(uv_env) if Path(uv_env).is_absolute() else Path(settings.PROJECT_DIR) / uv_env
        python = _venv_python(folder)
        if python is not None:
            return str(python), f"uv's project environment, UV_PROJECT_ENVIRONMENT={uv_env}", "active"
    return _poetry_environment()


_poetry_cache: dict[tuple[str, float], tuple[str, str, str] | None] = {}


def _poetry_environment() -> tuple[str, str, str] | None:
    """Poetry's environment of a Poetry project (asked once per lock file version: it costs a process)."""
    root = Path(settings.PROJECT_DIR)
    poetry = shutil.which("poetry")
    if not poetry or not (root / "poetry.lock").is_file():
        return None
    key = (str(root), (root / "poetry.lock").stat().st_mtime)
    if key not in _poetry_cache:
        _poetry_cache[key] = _ask_poetry(poetry, root)
    return _poetry_cache[key]


def _ask_poetry(poetry: str, root: Path) -> tuple[str, str, str] | None:
    try:
        proc = subprocess.run([poetry, "env", "info", "--path"], cwd=root, capture_output=True, text=True,
                              timeout=_CHECK_TIMEOUT_S, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    python = _venv_python(Path(proc.stdout.strip())) if proc.returncode == 0 and proc.stdout.strip() else None
    return (str(python), "the Poetry project's environment", "active") if python else None


# --- what the project declares -------------------------------------------------------------------
def dependency_files(root: Path) -> list[Path]:
    """The files a cached environment is built from (and keyed by), most precise first."""
    for name in LOCK_FILES:
        if (root / name).is_file():
            return [root / name]
    reqs = sorted(p for p in root.glob("requirements*.txt") if p.is_file())
    main = [p for p in reqs if p.name == "requirements.txt"]
    if main or reqs:
        return main or reqs
    pyproject = root / "pyproject.toml"
    if pyproject.is_file() and _pyproject_requirements(pyproject):
        return [pyproject]
    return []


def _pyproject_requirements(pyproject: Path) -> list[str]:
    if tomllib is None:
        return []
    try:
        data = tomllib.loads(pyproject.read_text())
    except (OSError, ValueError):
        return []
    deps = list(data.get("project", {}).get("dependencies", []) or [])
    poetry = data.get("tool", {}).get("poetry", {}).get("dependencies", {}) or {}
    # Poetry's caret/tilde constraints are not PEP 440: take the names and let the resolver choose.
    deps += [name for name in poetry if name.lower() != "python"]
    return [str(d) for d in deps]


def _poetry_lock_requirements(lock: Path) -> list[str]:
    if tomllib is None:
        raise RuntimeError("reading poetry.lock needs Python 3.11+; set PGADMIN_PROJECT_PYTHON to the project's venv")
    data = tomllib.loads(lock.read_text())
    pins = []
    for pkg in data.get("package", []):
        groups = pkg.get("groups") or [pkg.get("category", "main")]
        if "main" in groups and pkg.get("source", {}).get("type") not in ("directory", "git", "file", "url"):
            pins.append(f"{pkg['name']}=={pkg['version']}")
    return pins


_key_cache: dict[tuple[Any, ...], str] = {}


def env_key(files: list[Path]) -> str:
    """Hash of the dependency files' names and contents, and of the Python that builds the env.

    resolve() runs on every page that reads the project (cache keys, health): the files are read
    and hashed again only when their size or mtime changes.
    """
    stamp = tuple((str(p), st.st_mtime_ns, st.st_size) for p in files for st in [p.stat()])
    if stamp not in _key_cache:
        digest = hashlib.sha256(f"{sys.version_info[:2]}".encode())
        for path in files:
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
        _key_cache.clear()  # one project per server: keep only the current answer
        _key_cache[stamp] = digest.hexdigest()[:16]
    return _key_cache[stamp]


def envs_dir() -> Path:
    return Path(settings.DATA_DIR) / "envs"


def _needs_child_packages(lines: list[str]) -> list[str]:
    """SQLAlchemy and Alembic at the tool's versions, unless the project lists them."""
    import alembic
    import sqlalchemy

    names = [line.lstrip("# ").lower() for line in lines]
    extra = []
    for name, version in (("sqlalchemy", sqlalchemy.__version__), ("alembic", alembic.__version__)):
        if not any(line.startswith(name) and not line[len(name):len(name) + 1].isalnum() for line in names):
            extra.append(f"{name}=={version}")
    return extra


def _uv() -> str | None:
    try:
        import uv  # type: ignore[import-not-found,import-untyped,unused-ignore]

        return str(uv.find_uv_bin())
    except (ImportError, FileNotFoundError):
        return shutil.which("uv")


# --- status (read by the dashboard and the report) -----------------------------------------------
def status() -> dict[str, Any]:
    """The interpreter in use and the cached environment's build state, for the dashboard.

    ``state`` is one of ``ready`` (an interpreter is chosen, nothing to build), ``building``,
    ``built``, ``failed`` or ``off``; ``interpreter`` is what ``resolve()`` answers now.
    """
    chosen = resolve()
    with _lock:
        builds = [dict(b) for b in _builds.values()]
    current = next((b for b in builds if b.get("key") == _current_key()), None)
    if current is None:
        current = _read_status_file(_current_key())
    state = "ready" if chosen.source not in ("building",) else "building"
    if current and current.get("state") in ("failed", "building"):
        state = current["state"]
    if chosen.source == "tool" and not getattr(settings, "PROJECT_ENV_BUILD", True) and dependency_files(
            Path(settings.PROJECT_DIR)):
        state = "off"
    return {"state": state, "interpreter": chosen.as_json(), "build": current}


def _current_key() -> str:
    files = dependency_files(Path(settings.PROJECT_DIR))
    return env_key(files) if files else ""


def _status_file(key: str) -> Path:
    return envs_dir() / key / "pgadmin-env.json"


def _read_status_file(key: str) -> dict[str, Any] | None:
    if not key:
        return None
    try:
        data: dict[str, Any] = json.loads(_status_file(key).read_text())
        return data
    except (OSError, ValueError):
        return None


def _set_status(key: str, **changes: Any) -> None:
    with _lock:
        entry = _builds.setdefault(key, {"key": key})
        entry.update(changes)
        snapshot = dict(entry)
    path = _status_file(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(snapshot, indent=1))
    tmp.replace(path)


# --- building ------------------------------------------------------------------------------------
def build(root: Path, files: list[Path], key: str) -> None:
    """Build the cached environment for ``files`` into ``DATA_DIR/envs/<key>`` (blocking)."""
    folder = envs_dir() / key
    venv = folder / "venv"
    log_path = folder / "build.log"
    folder.mkdir(parents=True, exist_ok=True)
    names = ", ".join(p.name for p in files)
    _set_status(key, state="building", files=[str(p) for p in files], venv=str(venv), log=str(log_path),
                started=time.time(), finished=None, error="", step=f"creating the environment for {names}")
    uv = _uv()
    try:
        with log_path.open("w") as log:
            def run(cmd: list[str], step: str) -> None:
                _set_status(key, step=step)
                log.write(f"$ {' '.join(cmd)}\n")
                log.flush()
                subprocess.run(cmd, cwd=root, stdout=log, stderr=subprocess.STDOUT, check=True,
                               timeout=BUILD_TIMEOUT_S, stdin=subprocess.DEVNULL)

            if venv.exists():
                shutil.rmtree(venv)  # a half-built one from an interrupted start
            if uv:
                run([uv, "venv", "--python", sys.executable, str(venv)], "creating the environment (uv)")
            else:
                run([sys.executable, "-m", "venv", str(venv)], "creating the environment (venv)")
            python = _venv_python(venv)
            if python is None:
                raise RuntimeError(f"no interpreter in {venv} after creating it")
            requirements = folder / "requirements.txt"
            lines = _requirement_lines(root, files, uv, run, requirements)
            lines += _needs_child_packages(lines)
            requirements.write_text("\n".join(lines) + "\n")
            install = ([uv, "pip", "install", "--python", str(python), "-r", str(requirements)] if uv
                       else [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-r", str(requirements)])
            run(install, f"installing {len(lines)} requirements from {names}")
        why = unusable_reason(str(python))
        if why:
            raise RuntimeError(f"the built environment cannot import SQLAlchemy and Alembic: {why}")
        _set_status(key, state="built", python=str(python), finished=time.time(), step="ready")
    except (OSError, RuntimeError, subprocess.SubprocessError, ValueError, KeyError) as exc:
        tail = ""
        try:
            tail = "\n".join(log_path.read_text().splitlines()[-15:])
        except OSError:
            pass
        detail = f"exit code {exc.returncode}" if isinstance(exc, subprocess.CalledProcessError) else str(exc)
        _set_status(key, state="failed", finished=time.time(), error=f"building the environment failed ({detail})",
                    log_tail=tail)


def _requirement_lines(root: Path, files: list[Path], uv: str | None, run: Any, out: Path) -> list[str]:
    """What to install, as requirement lines (``-r file`` keeps a requirements file's own options)."""
    first = files[0]
    if first.name == "uv.lock":
        if not uv:
            raise RuntimeError("uv.lock needs uv to export it; install uv or set PGADMIN_PROJECT_PYTHON")
        exported = out.with_name("uv-export.txt")
        run([uv, "export", "--frozen", "--no-hashes", "--no-emit-project", "--no-dev", "-o", str(exported)],
            "reading uv.lock")
        return [line for line in exported.read_text().splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if first.name == "poetry.lock":
        return _poetry_lock_requirements(first)
    if first.name == "pyproject.toml":
        return _pyproject_requirements(first)
    return [f"-r {p}" for p in files] + [line for p in files for line in _plain_lines(p)]


def _plain_lines(path: Path) -> list[str]:
    """A requirements file's lines, only to see whether it names SQLAlchemy/Alembic (installed via -r)."""
    return ["# " + line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("-")]


def _start_build(root: Path, files: list[Path], key: str) -> None:
    with _lock:
        if key in _threads and _threads[key].is_alive():
            return
        if _builds.get(key, {}).get("state") == "failed":
            return  # not again at every request; the next start (or a changed lock file) tries again
        thread = threading.Thread(target=build, args=(root, files, key), name=f"pgadmin-env-{key}", daemon=True)
        _threads[key] = thread
        _builds.setdefault(key, {"key": key})["state"] = "building"
    thread.start()


def wait_for_build(timeout: float = BUILD_TIMEOUT_S) -> None:
    """Wait until no build runs (tests and `serve --check` use it)."""
    for thread in list(_threads.values()):
        thread.join(timeout)


def _cached_environment(wait: bool) -> Interpreter | None:
    root = Path(settings.PROJECT_DIR)
    files = dependency_files(root)
    if not files:
        return None
    names = ", ".join(p.name for p in files)
    if not getattr(settings, "PROJECT_ENV_BUILD", True):
        return Interpreter(tool_python(), f"the tool's own interpreter: PGADMIN_PROJECT_ENV_BUILD=0, so no environment "
                                          f"is built from {names}", "tool")
    key = env_key(files)
    saved = _read_status_file(key)
    python = _venv_python(envs_dir() / key / "venv")
    if saved and saved.get("state") == "built" and python is not None:
        return Interpreter(str(python), f"an environment built from {names}, cached in {envs_dir() / key}", "built")
    _start_build(root, files, key)
    if wait:
        wait_for_build()
        return _cached_environment(wait=False)
    with _lock:
        current = dict(_builds.get(key, {}))
    if current.get("state") == "failed":
        return Interpreter(tool_python(), "the tool's own interpreter", "tool",
                           warning=f"{current.get('error')}; see {current.get('log')}. Fix it and restart, "
                                   "or set PGADMIN_PROJECT_PYTHON.")
    return Interpreter(tool_python(), f"the tool's own interpreter while an environment is built from {names}: "
                                      "building… (see dashboard)", "building")


def resolve(*, wait: bool = False) -> Interpreter:
    """The interpreter that runs the project's code now, and why (see the module docstring).

    Never blocks on a build unless ``wait`` is true: while one runs, the tool's interpreter is
    answered with source ``building``.
    """
    explicit = _explicit_python()
    if explicit:  # the user's word: used as given, with a warning when the child cannot run on it
        why = unusable_reason(explicit) if "/" in explicit or "\\" in explicit else ""
        return Interpreter(explicit, "PGADMIN_PROJECT_PYTHON", "setting",
                           warning=f"it cannot import SQLAlchemy and Alembic: {why}; install both into it" if why else "")
    found = _found_environment()
    if found:
        if _same_env(found[0]):
            return Interpreter(found[0], f"{found[1]}, the tool's own environment", found[2])
        return _checked_or_tool(*found)
    cached = _cached_environment(wait)
    if cached is not None:
        return cached
    return Interpreter(tool_python(), "the tool's own interpreter: the project has no .venv/venv and declares no "
                                      "dependencies (uv.lock, poetry.lock, requirements*.txt, pyproject.toml)", "tool")
