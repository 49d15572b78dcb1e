"""Helpers shared by the child-process task modules (imported first by pgadmin_runner and pgadmin_worker).

Importing this module takes over the standard streams, at the level of file descriptors: the real
fd 1 (the pipe the server reads the protocol from) is duplicated to a private descriptor that no
subprocess inherits, and fd 2 (stderr) is put on fd 1. So whatever the user's code writes —
``print``, ``os.write(1, …)``, a subprocess it starts (``subprocess.run(["echo", …])``), a C library
writing to stdout — lands on stderr, which the server drains and shows as log lines, and can never
corrupt the JSON lines. ``sys.stdout`` becomes ``sys.stderr`` too, so Python-level writes keep their
order with stderr's. Only the standard library is used here.
"""

from __future__ import annotations

import os
import sys
import threading
import traceback
from typing import Any, TextIO

from pgadmin_protocol import encode_event


def _take_over_stdout() -> TextIO:
    """The protocol stream on a private copy of fd 1; fd 1 and ``sys.stdout`` become stderr."""
    sys.stdout.flush()
    private = os.dup(1)  # not inheritable (PEP 446): the user's subprocesses do not get it
    try:
        os.dup2(2, 1)
    except OSError:  # no usable stderr: user output goes nowhere rather than into the protocol
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)
    sys.stdout = sys.stderr
    return os.fdopen(private, "w", encoding="utf-8", errors="replace", newline="\n")


_PROTOCOL = _take_over_stdout()
PROTOCOL_FD = _PROTOCOL.fileno()
_write_lock = threading.Lock()  # the run's watchdog thread emits too: one whole line at a time
_REQUEST: list[int | None] = [None]  # the warm worker's current request id (None in a one-shot child)

SKIP_DIRS = {".git", ".hg", ".venv", "venv", "env", ".env", "node_modules", "__pycache__", "site-packages",
             ".tox", ".nox", ".mypy_cache", ".pytest_cache", ".ruff_cache", "build", "dist", "tests", "test",
             "migrations", "alembic", ".pgadmin"}


def emit(event: str, **data: Any) -> None:
    """One event on the protocol stream, tagged with the current request in a warm worker."""
    line = encode_event(event, _REQUEST[0], **data)
    with _write_lock:
        _PROTOCOL.write(line)
        _PROTOCOL.flush()


def set_request(request_id: int | None) -> None:
    """The request the following events belong to (the warm worker sets it around each task)."""
    _REQUEST[0] = request_id


_MODELS_HINT = "Fix the error in your project, or set PGADMIN_SQLALCHEMY_BASE=module:Base to import only the models module."


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception and its causes/contexts (a DBAPI error wrapped by SQLAlchemy, an OSError below it)."""
    out: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in out and len(out) < 10:
        out.append(cur)
        orig = getattr(cur, "orig", None)  # sqlalchemy.exc.DBAPIError keeps the driver's error here
        cur = orig if isinstance(orig, BaseException) and orig not in out else (cur.__cause__ or cur.__context__)
    return out


def _type_names(exc: BaseException) -> set[str]:
    return {cls.__name__ for e in _chain(exc) for cls in type(e).__mro__}


# Set by the alembic tasks: where env.py tried to connect (SQLAlchemy's do_connect event) and which
# environment variables env.py reads, so that a connection failure names both.
CONNECT_ATTEMPTS: list[str] = []
ENV_PY: dict[str, str] = {}


def reset_task_state() -> None:
    """Forget what one task recorded (a warm worker's next task starts as in a fresh child)."""
    del CONNECT_ATTEMPTS[:]
    ENV_PY.clear()


def _env_variables(env_py: str) -> list[str]:
    """Names env.py reads with os.environ[...] / os.environ.get(...) / os.getenv(...) (parsed, not run)."""
    import ast

    try:
        with open(env_py, encoding="utf-8") as fh:
            tree = ast.parse(fh.read())
    except (OSError, SyntaxError, ValueError):
        return []
    names: list[str] = []
    for node in ast.walk(tree):
        key = None
        if isinstance(node, ast.Subscript) and getattr(node.value, "attr", None) == "environ":
            key = node.slice
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
            func = node.func
            if func.attr == "getenv" or (func.attr == "get" and getattr(func.value, "attr", None) == "environ"):
                key = node.args[0]
        if isinstance(key, ast.Constant) and isinstance(key.value, str) and key.value not in names:
            names.append(key.value)
    return names


def project_frame(exc: BaseException) -> tuple[str, int] | None:
    """The innermost traceback frame in the user's code (not the standard library, site-packages or ours)."""
    import os

    found = None
    for e in reversed(_chain(exc)):
        for frame in traceback.extract_tb(e.__traceback__):
            name = frame.filename
            if ("site-packages" in name or "dist-packages" in name or name.startswith("<")
                    or os.path.basename(name).startswith("pgadmin_") or name.startswith(sys.prefix)
                    or name.startswith(sys.base_prefix)):
                continue
            found = (name, frame.lineno or 0)
    return found


def hint_for(exc: BaseException, default: str) -> tuple[str, str] | None:
    """(error, hint) chosen by the exception's type; None when no rule fits (the caller's default stands)."""
    import configparser

    names = _type_names(exc)
    chain = _chain(exc)
    env_py = ENV_PY.get("path", "")
    if isinstance(exc, KeyError) and exc.args and isinstance(exc.args[0], str) and not exc.args[0].isupper() \
            or any(isinstance(e, configparser.NoOptionError) for e in chain):
        option = next((e.option for e in chain if isinstance(e, configparser.NoOptionError)), None) \
            or (exc.args[0] if exc.args else "?")
        return (f"env.py reads the ini option {option!r}, which the ini does not set",
                f"Set PGADMIN_ALEMBIC_URL_OPTION={option}: the tool then puts the target's URL in that option "
                "(as your own deployment does).")
    if names & {"gaierror", "ConnectionRefusedError", "OperationalError", "InterfaceError", "ConnectionError",
                "CannotConnectNowError", "ConnectionDoesNotExistError", "TimeoutError"} \
            and not names & {"InvalidSchemaName", "ProgrammingError"}:
        tried = ", ".join(CONNECT_ATTEMPTS[-2:]) or "a server named in the URL env.py builds"
        variables = _env_variables(env_py) if env_py else []
        reads = (f"env.py reads {', '.join(variables)}" if variables
                 else "env.py reads its URL from sqlalchemy.url (the tool sets it to the target)")
        first_line = (str(exc).strip().splitlines() or [""])[0]
        return (f"env.py could not connect to {tried}: {type(exc).__name__}: {first_line}",
                f"{reads}; give the tool the same values your application gets (the sidecar's environment), or make "
                "env.py use $DATABASE_URL / sqlalchemy.url (the tool sets both to its target).")
    if "InvalidSchemaName" in names:
        return (f"a schema does not exist: {str(exc).strip().splitlines()[0]}",
                "Create the schema first (CREATE SCHEMA …), or check version_table_schema / search_path in env.py.")
    raised_in_asyncio = any("asyncio" in f.filename for e in chain for f in traceback.extract_tb(e.__traceback__))
    if "MissingGreenlet" in names or (isinstance(exc, RuntimeError) and (raised_in_asyncio or "event loop" in str(exc))):
        return (f"{type(exc).__name__}: {exc}",
                "env.py uses an async engine: run the migrations through asyncio.run(...) and connection.run_sync(...) "
                "as Alembic's async template does (alembic init -t async).")
    where = project_frame(exc)
    if where is not None:
        return (f"{type(exc).__name__}: {exc}",
                f"The error is raised at {where[0]}:{where[1]}: fix it there (the same happens with the alembic CLI).")
    return None


def describe_import_error(module: str, exc: BaseException, default_hint: str = _MODELS_HINT) -> dict[str, Any]:
    """An import failure as {module, error, hint} in plain words."""
    error = f"{type(exc).__name__}: {exc}"
    hint = default_hint
    if isinstance(exc, ModuleNotFoundError):
        missing = exc.name or str(exc)
        error = f"module '{missing}' not found"
        hint = (f"install your project's requirements into PGADMIN_PROJECT_PYTHON ({sys.executable}), "
                "or set PGADMIN_PROJECT_PYTHON to your venv's python")
    elif isinstance(exc, SyntaxError):
        error = f"SyntaxError: {exc.msg} ({exc.filename}:{exc.lineno})"
        hint = f"fix the syntax error at {exc.filename}:{exc.lineno}"
    elif isinstance(exc, KeyError) and exc.args and isinstance(exc.args[0], str) and exc.args[0].isupper():
        error = f"missing environment variable {exc.args[0]!r}"
        hint = (f"set {exc.args[0]} in the tool's environment: the runner inherits it "
                "(in docker-compose, add it to the sidecar's environment)")
    elif default_hint is not _MODELS_HINT and (found := hint_for(exc, default_hint)) is not None:
        error, hint = found
    tb = traceback.extract_tb(exc.__traceback__)
    where = f"{tb[-1].filename}:{tb[-1].lineno}" if tb else ""
    return {"module": module, "error": error, "hint": hint, "where": where}
