"""The warm project worker: a long-lived child that imports the project once and serves many tasks.

Executed as a script by the project's interpreter (``python pgadmin_worker.py``), never imported by
the server (``core/worker.py`` starts it). Its first line on the protocol stream is ``hello``
(protocol version, Python, Alembic and SQLAlchemy versions); then it reads one request per line
(``pgadmin_protocol.Request``) from a private copy of its stdin and answers with events tagged with
the request's id, ending in ``result`` or ``error``. One request at a time. It exits when its stdin
closes (the server retired it, or the server died: during a task it then kills its own process group).

The same isolation as the one-shot runner (``pgadmin_child_common`` takes over fds 1 and 2 first),
plus fd 0: the user's code reading stdin gets ``/dev/null``, never a request.

Each task runs as it would in a fresh child (``TaskScope``): its ``sys.path`` is built from its own
payload, it runs in its own working directory, and afterwards everything a task may change for the
process is put back — attributes patched on Alembic's classes and modules (``RevisionStep.__init__``,
``EnvironmentContext.configure``, ``MigrationContext.run_migrations``…), SQLAlchemy event listeners
added by our modules or by ``env.py`` (which Alembic runs again on every task), logging configuration
(``env.py``'s ``fileConfig``), environment variables, warnings filters, signal handlers and the
child's per-task records. What cannot be put back makes the worker ask to be replaced after the
task (``recycle`` on the final event): a project module that failed halfway through its import, or
a mapper configuration that failed (SQLAlchemy would answer the next task with another message).
Only the standard library is used here.
"""

# ruff: noqa: UP006, UP007, UP035, UP045  (Python 3.9 syntax: the child runs in the project's interpreter)
from __future__ import annotations

import gc
import logging
import os
import queue
import secrets
import signal
import sys
import threading
import traceback
import warnings
from types import ModuleType
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

import pgadmin_child_common as common  # noqa: I001  (takes over stdout first)
from pgadmin_protocol import ERROR, HELLO, PROTOCOL_VERSION, RUN_TASKS, ProtocolError, Request

# Modules whose functions and classes the task modules patch for the length of a task.
PATCHED_MODULES = ("alembic.runtime.migration", "alembic.runtime.environment", "alembic.command", "alembic.config",
                   "alembic.script.base", "alembic.script.revision", "alembic.autogenerate.api",
                   "alembic.autogenerate.compare", "alembic.operations.base", "alembic.ddl.impl")
IDLE_GC_S = 1.0  # a garbage collection once the worker has been idle this long after a request
STDERR_MARK = f"\x1epgadmin-worker-end:{secrets.token_hex(8)}:"  # see pgadmin_protocol.Hello
_SIGNALS = tuple(getattr(signal, name) for name in ("SIGALRM", "SIGINT", "SIGTERM", "SIGHUP", "SIGUSR1", "SIGUSR2")
                 if hasattr(signal, name))


def _take_over_stdin() -> int:
    """A private copy of fd 0 for the requests; fd 0 becomes /dev/null for the user's code."""
    private = os.dup(0)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    return private


# --- what a task may change, and how it is put back -------------------------------------------

class _Snapshot:
    """A shallow copy of a namespace (a module's or a class's ``__dict__``), restorable by identity.

    A patch replaces an attribute that exists (``RevisionStep.__init__``…): every such replacement is put
    back. Attributes that appear during a task are left alone: a library may register them lazily (the
    methods an operations module adds to ``Operations`` when it is first imported), and removing them
    would break every later task.
    """

    def __init__(self, owner: Any) -> None:
        self.owner = owner
        self.items = dict(vars(owner))

    def changed(self) -> List[str]:
        now = vars(self.owner)
        return [key for key, value in self.items.items() if now.get(key, _MISSING) is not value]

    def restore(self) -> None:
        for key in self.changed():
            value = self.items[key]
            if isinstance(self.owner, ModuleType):
                vars(self.owner)[key] = value
            else:
                setattr(self.owner, key, value)


_MISSING = object()


def _namespaces() -> List[Any]:
    """The patchable modules already imported, and the classes they define."""
    out: List[Any] = []
    for name in PATCHED_MODULES:
        module = sys.modules.get(name)
        if module is None:
            continue
        out.append(module)
        out.extend(v for v in list(vars(module).values()) if isinstance(v, type) and v.__module__ == name)
    return out


def _code_file(fn: Any) -> str:
    code = getattr(getattr(fn, "__func__", fn), "__code__", None)
    return code.co_filename if code is not None else ""


def _ours_or_env_py(fn: Any) -> bool:
    """A listener our task modules added, or one env.py added (Alembic runs env.py again on every task)."""
    name = os.path.basename(_code_file(fn))
    return name.startswith("pgadmin_") or name == "env.py"


class _ListenRecorder:
    """Records ``sqlalchemy.event.listen`` calls during a task, to remove the task's own listeners after it."""

    def __init__(self) -> None:
        self.added: List[Tuple[Any, str, Any]] = []
        self._patched: List[Tuple[Any, Any]] = []

    def install(self) -> None:
        try:
            from sqlalchemy import event
            from sqlalchemy.event import api
        except ImportError:
            return
        original = api.listen

        def listen(target: Any, identifier: str, fn: Callable[..., Any], *args: Any, **kw: Any) -> None:
            original(target, identifier, fn, *args, **kw)
            self.added.append((target, identifier, fn))

        for owner in (event, api):
            self._patched.append((owner, vars(owner)["listen"]))
            owner.listen = listen  # type: ignore[attr-defined]

    def uninstall(self) -> None:
        for owner, original in self._patched:
            owner.listen = original  # type: ignore[attr-defined]
        if not self.added:
            return
        from sqlalchemy import event

        for target, identifier, fn in reversed(self.added):
            if _ours_or_env_py(fn):
                try:
                    event.remove(target, identifier, fn)
                except Exception:  # noqa: BLE001, S110 - already gone (a once=True listener, a dead engine)
                    pass
        # pgadmin_child_alembic adds its connect recorder once per process: it was just removed.
        recorder = getattr(sys.modules.get("pgadmin_child_alembic"), "_connect_recorder", None)
        if isinstance(recorder, list):
            del recorder[:]


def _logging_state() -> Dict[str, Any]:
    manager = logging.Logger.manager
    loggers = {name: (lg.level, list(lg.handlers), lg.propagate, lg.disabled)
               for name, lg in list(manager.loggerDict.items()) if isinstance(lg, logging.Logger)}
    root = logging.getLogger()
    return {"root": (root.level, list(root.handlers)), "loggers": loggers, "disable": manager.disable}


def _restore_logging(state: Dict[str, Any]) -> None:
    """Put back the loggers as they were before the task (env.py's ``fileConfig`` reconfigures them all)."""
    root = logging.getLogger()
    root.setLevel(state["root"][0])
    root.handlers[:] = state["root"][1]
    logging.Logger.manager.disable = state["disable"]
    for name, lg in list(logging.Logger.manager.loggerDict.items()):
        if not isinstance(lg, logging.Logger):
            continue
        if name not in state["loggers"]:
            lg.disabled = False  # created during the task (an import); fileConfig's disabling is the task's
            continue
        level, handlers, propagate, disabled = state["loggers"][name]
        lg.setLevel(level)
        lg.handlers[:] = handlers
        lg.propagate, lg.disabled = propagate, disabled


def _library_path(origin: str) -> bool:
    """A file of the interpreter or of an installed distribution (not the project's own code)."""
    return ("site-packages" in origin or "dist-packages" in origin or origin.startswith(sys.base_prefix)
            or origin.startswith(sys.prefix))


class _GuardedLoader:
    """A project module's loader that notes when executing the module fails (then re-raises)."""

    def __init__(self, loader: Any, name: str, failed: Set[str]) -> None:
        self._loader, self._name, self._failed = loader, name, failed

    def __getattr__(self, attr: str) -> Any:  # get_source, get_data, is_package… as the real loader
        return getattr(self._loader, attr)

    def create_module(self, spec: Any) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        try:
            self._loader.exec_module(module)
        except BaseException:
            self._failed.add(self._name)
            raise


class _ImportWatch:
    """Notes the project modules whose import failed during a task.

    A module that raised halfway through its body may have registered mapped classes and tables:
    importing it again in the same process would not behave as the first import in a fresh child.
    Only the project's own source files are watched (a library's optional-dependency probe is not
    a failure: a missing module is never executed).
    """

    def __init__(self) -> None:
        self.failed: Set[str] = set()

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            try:
                spec = finder.find_spec(name, path, target)
            except Exception:  # noqa: BLE001 - let the import system meet the same error itself
                return None
            if spec is None:
                continue
            origin = spec.origin or ""
            if origin.endswith(".py") and spec.loader is not None and not _library_path(origin):
                spec.loader = _GuardedLoader(spec.loader, name, self.failed)  # type: ignore[assignment]
                return spec
            return None
        return None


def _failed_mappers() -> List[str]:
    """Mapped classes whose configuration failed (SQLAlchemy keeps the failure on them)."""
    import pgadmin_compat as compat

    registries = compat.loaded_registries()
    return sorted({m.class_.__name__ for r in registries for m in list(r.mappers) if compat.mapper_failed(m)})


class TaskScope:
    """Runs one task as in a fresh child, and undoes what it changed for the process."""

    def __init__(self, payload: Dict[str, Any], cwd: Optional[str]) -> None:
        self.payload, self.cwd = payload, cwd
        self.recycle: List[str] = []

    def __enter__(self) -> TaskScope:
        self.path = list(sys.path)
        self.environ = dict(os.environ)
        self.workdir = os.getcwd()
        self.filters = list(warnings.filters)
        self.streams = (sys.stdout, sys.stderr, sys.stdin)
        self.logging = _logging_state()
        self.signals = {sig: signal.getsignal(sig) for sig in _SIGNALS}
        self.namespaces = [_Snapshot(ns) for ns in _namespaces()]
        self.listeners = _ListenRecorder()
        self.listeners.install()
        self.imports = _ImportWatch()
        sys.meta_path.insert(0, self.imports)  # type: ignore[arg-type]
        if self.cwd and os.path.isdir(self.cwd):
            os.chdir(self.cwd)
        try:
            from pgadmin_runner import set_project_path

            set_project_path(self.payload)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        if hasattr(signal, "alarm"):
            signal.alarm(0)
        if self.imports in sys.meta_path:
            sys.meta_path.remove(self.imports)  # type: ignore[arg-type]
        self.listeners.uninstall()
        for snapshot in self.namespaces:
            snapshot.restore()
        for sig, handler in self.signals.items():
            if signal.getsignal(sig) is not handler and handler is not None:
                signal.signal(sig, handler)
        _restore_logging(self.logging)
        warnings.filters[:] = self.filters  # type: ignore[index]  # a list at runtime
        sys.stdout, sys.stderr, sys.stdin = self.streams
        if dict(os.environ) != self.environ:
            os.environ.clear()
            os.environ.update(self.environ)
        if os.getcwd() != self.workdir:
            os.chdir(self.workdir)
        sys.path[:] = self.path
        common.reset_task_state()
        failed = sorted(self.imports.failed)
        if failed:
            self.recycle.append(f"the import of {', '.join(failed[:3])} failed")
        mappers = _failed_mappers()
        if mappers:
            self.recycle.append(f"the mapper configuration of {', '.join(mappers[:3])} failed")


# --- the loop -------------------------------------------------------------------------------

def _versions() -> Tuple[Optional[str], Optional[str]]:
    """Alembic's and SQLAlchemy's versions, importing both (every task needs them anyway)."""
    out: List[Optional[str]] = []
    for name in ("alembic", "sqlalchemy"):
        try:
            module = __import__(name)
        except ImportError:
            out.append(None)
            continue
        out.append(str(getattr(module, "__version__", "?")))
    for name in PATCHED_MODULES:  # imported before the first task so that its patches are undone too
        try:
            __import__(name)
        except ImportError:
            pass
    return out[0], out[1]


_PRISTINE: List[_Snapshot] = []  # the patchable namespaces as the worker started (for ``worker.state``)


def _state() -> Dict[str, Any]:
    """What a task may change in the process, as data (task ``worker.state``: tests compare it across tasks)."""
    patched = sorted(f"{getattr(s.owner, '__qualname__', getattr(s.owner, '__name__', '?'))}.{key}"
                     for s in _PRISTINE for key in s.changed())
    root = logging.getLogger()
    return {"patched": patched, "sys_path": list(sys.path), "cwd": os.getcwd(), "environ": sorted(os.environ),
            "root_logger": [root.level, len(root.handlers)], "meta_path": [type(f).__name__ for f in sys.meta_path],
            "disabled_loggers": sorted(n for n, lg in logging.Logger.manager.loggerDict.items()
                                       if isinstance(lg, logging.Logger) and lg.disabled),
            "signals": {int(sig): repr(signal.getsignal(sig)) for sig in _SIGNALS},
            "connect_attempts": len(common.CONNECT_ATTEMPTS), "stdout_is_stderr": sys.stdout is sys.stderr}


def serve_one(request: Request) -> None:
    """Run one request and emit its final event (``recycle`` says the worker must be replaced)."""
    common.set_request(request.id)
    try:
        recycle: List[str] = []
        kind: str
        data: Dict[str, Any]
        if request.task in RUN_TASKS:  # runs get a fresh child of their own, never a warm one
            kind, data = ERROR, {"error": f"{request.task} does not run in the warm worker"}
        elif request.task == "worker.state":
            kind, data = "result", {"result": _state()}
        else:
            from pgadmin_runner import execute

            payload = {"project_dir": os.getcwd(), **request.payload}
            scope = TaskScope(payload, request.cwd)
            try:
                with scope:
                    kind, data = execute(request.task, payload)
                recycle = scope.recycle
            except BaseException as exc:  # noqa: BLE001 - our own failure around the task: answer, then go
                kind, data = ERROR, {"error": f"the worker could not run {request.task}: {type(exc).__name__}: {exc}",
                                     "traceback": traceback.format_exc()}
                recycle = scope.recycle + ["the worker's own error"]
        if recycle:
            data = {**data, "recycle": "; ".join(recycle)}
        _mark_stderr(request.id)
        common.emit(kind, **data)
    finally:
        common.set_request(None)


def _mark_stderr(request_id: int) -> None:
    """The end of this request's stderr (what the task wrote is in the pipe before this line)."""
    try:
        sys.stderr.flush()
        os.write(2, f"{STDERR_MARK}{request_id}\n".encode())
    except (OSError, ValueError):
        pass


def main() -> int:
    requests_fd = _take_over_stdin()
    alembic_version, sqlalchemy_version = _versions()
    _PRISTINE.extend(_Snapshot(ns) for ns in _namespaces())
    common.emit(HELLO, protocol=PROTOCOL_VERSION, pid=os.getpid(), python=sys.version.split()[0],
                alembic=alembic_version, sqlalchemy=sqlalchemy_version, stderr_mark=STDERR_MARK)
    lines: queue.Queue[Optional[str]] = queue.Queue()
    busy = threading.Event()

    def read() -> None:
        with os.fdopen(requests_fd, encoding="utf-8") as stream:
            for line in stream:
                lines.put(line)
        lines.put(None)
        if busy.is_set() and os.getpgrp() == os.getpid():  # the server died mid-task: nobody waits for the answer
            os.killpg(os.getpgrp(), signal.SIGKILL)

    threading.Thread(target=read, daemon=True, name="pgadmin-worker-requests").start()
    dirty = False
    while True:
        try:
            line = lines.get(timeout=IDLE_GC_S if dirty else None)
        except queue.Empty:
            # Idle: collect now, not between an answer and the next request (a full collection of a big
            # project's heap takes ~0.1 s). Engines env.py left in reference cycles close their connections.
            gc.collect()
            dirty = False
            continue
        if line is None:
            return 0
        if not line.strip():
            continue
        try:
            request = Request.decode(line)
        except ProtocolError as exc:
            common.emit(ERROR, error=f"bad request: {exc}")
            continue
        busy.set()
        try:
            serve_one(request)
        finally:
            busy.clear()
        dirty = True


if __name__ == "__main__":
    sys.exit(main())
