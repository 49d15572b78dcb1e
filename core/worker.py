"""Warm project workers: long-lived children that import the project once and answer many requests.

``run(task, payload, …)`` (called by ``core.runner.run_task`` for every task that is not a migration
run) sends the task to a worker (``core/child/pgadmin_worker.py``, run by the project's interpreter)
over its stdin and reads the answer on its stdout, JSON lines of ``core.child.pgadmin_protocol``. A
worker is bound to a key — interpreter, project folder, target URL, alembic.ini and section, models
base, environment, protocol version — and serves one request at a time. Properties kept from the
one-shot runner, and why:

- user code never runs in the server, and what it prints never reaches the protocol (the child
  moves fd 1 to a private descriptor and puts stderr on fd 1 before importing anything);
- stderr is drained by a thread (a chatty import cannot fill the pipe and hang the worker), its tail
  names what went wrong, each line goes to the current request's ``on_event``;
- a request over its timeout kills the worker's process group (a hung import cannot pile up); the
  next request starts a fresh worker;
- memory: the RSS of the worker's process group is read from /proc while a request runs and when it
  ends; over ``PGADMIN_WORKER_MAX_MB`` the worker is killed and the request fails with that name;
- a change to a ``.py``, ``.ini`` or ``.mako`` file under the project (and the ini's and the scripts'
  folders) replaces the worker at its next request: the old one has finished its request, the new one
  imports the edited code. A large tree is walked at most about once a second, a small one at every
  request (``core.worker_watch``);
- at most ``PGADMIN_WORKER_PROCESSES`` workers (and never more than ``PGADMIN_RUNNER_CONCURRENCY``),
  started lazily: a second one only when a request has waited for a warm first one. Requests queue in
  arrival order up to their timeout, then answer 503 (``RunnerBusy``). An idle worker beyond the most
  recently used one exits after ``PGADMIN_WORKER_IDLE_S``; all exit with the server (atexit here, and
  the child exits when its stdin closes, i.e. also when the server is killed).

Migration runs never come here: each gets a fresh one-shot child (``core.runner``).
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import logging
import os
import queue
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings

from core.child import pgadmin_protocol as protocol
from core.childenv import RunnerBusy, RunnerError, child_cwd, child_env, project_python
from core.logging import scrub
from core.worker_watch import Watch, group_rss, watch_roots

log = logging.getLogger("pgadmin.worker")

WORKER_SCRIPT = Path(__file__).resolve().parent / "child" / "pgadmin_worker.py"
POLL_S = 0.2  # how often a running request reads the worker's memory
GROW_AFTER_S = 0.3  # a request that waited this long for a busy worker may start another one
RETIRE_GRACE_S = 5.0  # a retired worker's time to exit once its stdin is closed
STDERR_GRACE_S = 2.0  # how long an answer waits for the end of its stderr (normally there already)
REAP_EVERY_S = 5.0
VOLATILE_ENV = frozenset({"PYTEST_CURRENT_TEST"})  # changes on every test phase; the project never reads it
EventHandler = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class WorkerKey:
    """What a worker's imports depend on: a request with another key never reuses it."""

    protocol: int
    python: str
    project_dir: str
    target_url: str
    alembic_ini: str
    section: str
    sqlalchemy_base: str
    environment: str  # digest of the child's environment (a project reads its settings from it)


def environment_digest(env: dict[str, str]) -> str:
    items = sorted((k, v) for k, v in env.items() if k not in VOLATILE_ENV)
    return hashlib.sha256(repr(items).encode("utf-8", "surrogateescape")).hexdigest()[:16]


# --- one worker -----------------------------------------------------------------------------

@dataclass(eq=False)
class Worker:
    """One child process and what the server knows of it."""

    key: WorkerKey
    fingerprints: dict[str, tuple[int, int, int]]
    proc: subprocess.Popen[str] | None = None
    hello: dict[str, Any] = field(default_factory=dict)
    started_at: float = 0.0  # wall clock, for the health page
    served: int = 0
    rss: int = 0
    busy: bool = True
    dead: bool = False
    recycle: str = ""
    last_used: float = field(default_factory=time.monotonic)
    stderr_tail: deque[str] = field(default_factory=lambda: deque(maxlen=40))
    events: queue.Queue[dict[str, Any] | None] = field(default_factory=queue.Queue)
    _active: bool = False
    _last_id: int = 0
    _next_check: float = 0.0
    _stderr_reader: threading.Thread | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def alive(self) -> bool:
        return not self.dead and (self.proc is None or self.proc.poll() is None)

    # -- start -------------------------------------------------------------------------------
    def start(self, python: str, cwd: str | None, env: dict[str, str], deadline: float, timeout: float,
              task: str) -> None:
        try:
            self.proc = subprocess.Popen(
                [python, str(WORKER_SCRIPT)], cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, text=True, encoding="utf-8", errors="replace", env=env,
                start_new_session=True,  # its own process group: a kill takes what it started too
            )
        except OSError as exc:
            self.dead = True
            raise RunnerError(f"Cannot start PGADMIN_PROJECT_PYTHON ({python}): {exc.strerror}.",
                              hint="Set PGADMIN_PROJECT_PYTHON to a working Python interpreter.") from None
        self.started_at = time.time()
        self._next_check = time.monotonic() + POLL_S
        threading.Thread(target=self._read_stdout, daemon=True, name=f"pgadmin-worker-{self.pid}-out").start()
        self._stderr_reader = threading.Thread(target=self._read_stderr, daemon=True,
                                               name=f"pgadmin-worker-{self.pid}-err")
        self._stderr_reader.start()
        event = self._next(deadline, timeout, task)
        if event is None:
            self.kill()
            raise RunnerError(f"The project worker exited at start (code {self.proc.poll()}). {self.tail()}".strip())
        try:
            hello = protocol.check_hello(event)  # type: ignore[arg-type]
        except protocol.ProtocolError as exc:
            self.kill()
            raise RunnerError(f"The project worker did not introduce itself: {exc}.",
                              hint="Run the worker by hand to see what it prints first: "
                                   f"{python} {WORKER_SCRIPT}") from None
        if hello["protocol"] != protocol.PROTOCOL_VERSION:
            self.kill()
            raise RunnerError(
                f"The project worker speaks protocol {hello['protocol']}, the server {protocol.PROTOCOL_VERSION}.",
                hint="The worker script and the server come from different versions of the tool (files replaced "
                     "while it runs?): restart the server; reinstall the tool if it persists.")
        self.hello = dict(hello)
        log.info("project worker %s started (Python %s, SQLAlchemy %s, Alembic %s)", self.pid, hello["python"],
                 hello["sqlalchemy"], hello["alembic"])

    def _read_stdout(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            event = protocol.decode_event(line)
            if event is not None:
                self.events.put(dict(event))
        self.dead = True
        self.events.put(None)

    def _read_stderr(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        for raw in self.proc.stderr:  # drained continuously: a full pipe would block the worker
            line = raw.rstrip("\n")
            mark = str(self.hello.get("stderr_mark") or "")
            at = line.find(mark) if mark else -1
            if at >= 0:  # the end of a request's stderr (after a last line without its newline, maybe)
                line, rid = line[:at], line[at + len(mark):]
                if line:
                    self._stderr_line(line)
                if rid.isdigit():
                    self.events.put({"event": protocol.STDERR_END, "id": int(rid)})
                continue
            self._stderr_line(line)

    def _stderr_line(self, raw: str) -> None:
        line = scrub(raw.rstrip())
        self.stderr_tail.append(line)
        if self._active:
            self.events.put({"event": protocol.STDERR, "line": line})

    def tail(self, lines: int = 5) -> str:
        """The last lines of stderr (a dead worker's last words: read to the end first, briefly)."""
        if self.dead and self._stderr_reader is not None:
            self._stderr_reader.join(timeout=1.0)
        return "\n".join(list(self.stderr_tail)[-lines:])

    # -- one request -------------------------------------------------------------------------
    def request(self, task: str, payload: dict[str, Any], cwd: str | None, on_event: EventHandler | None,
                deadline: float, timeout: float) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdin is not None
        self._last_id += 1
        rid = self._last_id
        self._active = True
        self._next_check = time.monotonic() + POLL_S
        try:
            try:
                self.proc.stdin.write(protocol.Request(rid, task, payload, cwd).encode())
                self.proc.stdin.flush()
            except (BrokenPipeError, OSError, ValueError):
                self.kill()
                raise RunnerError(f"The project worker exited before task {task}. {self.tail()}".strip()) from None
            final: dict[str, Any] | None = None
            ended = not self.hello.get("stderr_mark")  # a worker without the mark: nothing to wait for
            end_by = deadline
            while final is None or not ended:
                if final is None:
                    event = self._next(deadline, timeout, task)
                else:  # the answer is in: wait (briefly) for the rest of its stderr, read on another pipe
                    left = min(deadline, end_by) - time.monotonic()
                    try:
                        event = self.events.get(timeout=left) if left > 0 else None
                    except queue.Empty:
                        event = None
                    if event is None:
                        break
                if event is None:
                    code = self.proc.wait()
                    raise RunnerError(f"The project worker exited with code {code} without a result "
                                      f"(task {task}). {self.tail()}".strip())
                kind = event.get("event")
                if kind == protocol.STDERR:
                    if on_event:
                        on_event(event)
                    continue
                if event.get("id") != rid:
                    continue  # not this request's (a late line of a request that gave up waiting for it)
                event.pop("id", None)
                if kind == protocol.STDERR_END:
                    ended = True
                elif kind in (protocol.RESULT, protocol.ERROR):
                    final = event
                    end_by = time.monotonic() + STDERR_GRACE_S
                    self.served += 1
                    self.recycle = str(event.get("recycle") or "")
                    self.check_memory(task)
                elif on_event:
                    on_event(event)
            assert final is not None
            return _answer(final)
        finally:
            self._active = False

    def _next(self, deadline: float, timeout: float, task: str) -> dict[str, Any] | None:
        """The next event or None (the worker closed its stdout); checks time and memory while waiting."""
        while True:
            now = time.monotonic()
            if now >= deadline:
                self.kill()
                raise RunnerError(f"The project code did not finish within {timeout:.0f} s (task {task}); its worker "
                                  "was stopped.",
                                  hint="An import may hang (e.g. connecting to a service at import time); "
                                       "raise PGADMIN_RUNNER_TIMEOUT if the project is just slow.")
            if now >= self._next_check:  # on a clock, not on silence: a chatty import is measured too
                self._next_check = now + POLL_S
                self.check_memory(task)
            try:
                return self.events.get(timeout=max(0.0, min(self._next_check, deadline) - now))
            except queue.Empty:
                continue

    def check_memory(self, task: str) -> None:
        if self.proc is None:
            return
        self.rss = group_rss(self.proc.pid)
        limit = int(settings.WORKER_MAX_MB)
        if self.rss > limit * 1024 * 1024:
            used = self.rss // (1024 * 1024)
            self.kill()
            raise RunnerError(f"The project worker used {used} MB, over PGADMIN_WORKER_MAX_MB={limit} (task {task}); "
                              "it was stopped.",
                              hint="Raise PGADMIN_WORKER_MAX_MB if importing the project's models really needs that "
                                   "much memory; otherwise look for what allocates at import time.")

    # -- the end -------------------------------------------------------------------------------
    def kill(self) -> None:
        self.dead = True
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)

    def retire(self, reason: str) -> None:
        """Close its stdin (it exits after its request); kill what is left after a grace period."""
        self.dead = True
        if self.proc is None:
            return
        log.info("project worker %s retired: %s", self.pid, reason)
        proc = self.proc

        def finish() -> None:
            with contextlib.suppress(OSError, ValueError):
                if proc.stdin is not None:
                    proc.stdin.close()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=RETIRE_GRACE_S)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)  # what is left of its group (a subprocess the import started)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)

        threading.Thread(target=finish, daemon=True, name=f"pgadmin-worker-{proc.pid}-retire").start()

    def as_json(self) -> dict[str, Any]:
        return {"pid": self.pid, "started": self.started_at, "requests": self.served, "busy": self.busy,
                "rss_mb": round(self.rss / (1024 * 1024), 1), "python": self.hello.get("python"),
                "protocol": self.hello.get("protocol")}


def _answer(event: dict[str, Any]) -> dict[str, Any]:
    """The result of a final event, or its RunnerError (the same words as the one-shot runner)."""
    if event.get("event") == protocol.ERROR:
        raise RunnerError(scrub(str(event.get("error", "The project code failed."))),
                          hint=str(event.get("hint") or RunnerError.default_hint),
                          detail={"traceback": scrub(str(event.get("traceback", "")))})
    result = event.get("result")
    if not isinstance(result, dict):
        raise RunnerError("The project worker answered without a result.")
    return result


# --- the pool -------------------------------------------------------------------------------

@dataclass(eq=False)
class _Waiter:
    key: WorkerKey
    may_grow: bool = False
    worker: Worker | None = None
    ready: threading.Event = field(default_factory=threading.Event)


class Pool:
    """The workers of this server process and the requests waiting for one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._workers: list[Worker] = []
        self._queue: list[_Waiter] = []
        self._watch = Watch()
        self._reaper: threading.Thread | None = None

    @staticmethod
    def capacity() -> int:
        return max(1, min(int(settings.WORKER_PROCESSES), int(getattr(settings, "RUNNER_CONCURRENCY", 4))))

    def run(self, key: WorkerKey, roots: tuple[str, ...], python: str, cwd: str | None, env: dict[str, str],
            task: str, payload: dict[str, Any], on_event: EventHandler | None, timeout: float) -> dict[str, Any]:
        worker = self._acquire(key, roots, timeout, task)
        try:
            deadline = time.monotonic() + timeout
            if worker.proc is None:
                worker.start(python, cwd, env, deadline, timeout, task)
            return worker.request(task, payload, cwd, on_event, deadline, timeout)
        finally:
            self._release(worker)

    def _acquire(self, key: WorkerKey, roots: tuple[str, ...], timeout: float, task: str) -> Worker:
        waiter = _Waiter(key)
        deadline = time.monotonic() + timeout
        with self._lock:
            self._start_reaper()
            self._queue.append(waiter)
            self._dispatch()
        grow_at = time.monotonic() + GROW_AFTER_S
        while not waiter.ready.is_set():
            now = time.monotonic()
            if now >= deadline:
                break
            waiter.ready.wait(min(deadline, grow_at if not waiter.may_grow else deadline) - now)
            if not waiter.ready.is_set() and not waiter.may_grow and time.monotonic() >= grow_at:
                with self._lock:
                    waiter.may_grow = True
                    self._dispatch()
        with self._lock:
            if waiter.worker is None:
                self._queue.remove(waiter)
                raise RunnerBusy(
                    f"All {self.capacity()} project workers stayed busy for {timeout:.0f} s (task {task}).",
                    hint="Retry in a moment; raise PGADMIN_WORKER_PROCESSES if the machine has cores and memory to "
                         "spare.")
        worker = waiter.worker
        current = self._watch.fingerprints(roots)
        if worker.proc is None:
            worker.fingerprints = dict(current)
            return worker
        changed = [r for r, fp in current.items() if r in worker.fingerprints and worker.fingerprints[r] != fp]
        if not changed:
            worker.fingerprints.update(current)
            return worker
        fresh = Worker(key, dict(current))
        with self._lock:  # same slot, new process: the old one has no request (it was idle)
            if worker in self._workers:
                self._workers[self._workers.index(worker)] = fresh
            else:  # the pool was emptied meanwhile (shutdown)
                self._workers.append(fresh)
        worker.retire(f"files changed under {changed[0]}")
        return fresh

    def _dispatch(self) -> None:
        """Hand idle workers (or free slots) to the waiting requests, oldest first. Holds ``_lock``."""
        self._workers = [w for w in self._workers if w.busy or w.alive]
        for waiter in list(self._queue):
            idle = next((w for w in self._workers if w.key == waiter.key and not w.busy and w.alive), None)
            if idle is None:
                own = [w for w in self._workers if w.key == waiter.key]
                if own and not waiter.may_grow:
                    continue
                if any(w.served == 0 for w in own):
                    continue  # one is still in its first (cold) request: a second cold start would only slow it down
                if len(self._workers) >= self.capacity():
                    other = next((w for w in sorted(self._workers, key=lambda w: w.last_used)
                                  if not w.busy and w.key != waiter.key), None)
                    if other is None:
                        continue
                    self._workers.remove(other)
                    other.retire("its slot went to another project setup")
                idle = Worker(waiter.key, {})
                self._workers.append(idle)
            idle.busy = True
            waiter.worker = idle
            self._queue.remove(waiter)
            waiter.ready.set()

    def _release(self, worker: Worker) -> None:
        with self._lock:
            worker.busy = False
            worker.last_used = time.monotonic()
            if worker.recycle and worker.alive:
                worker.retire(worker.recycle)
            if not worker.alive and worker in self._workers:
                self._workers.remove(worker)
            self._dispatch()

    # -- housekeeping --------------------------------------------------------------------------
    def _start_reaper(self) -> None:
        if self._reaper is None:
            self._reaper = threading.Thread(target=self._reap_forever, daemon=True, name="pgadmin-worker-reaper")
            self._reaper.start()

    def _reap_forever(self) -> None:
        while True:
            time.sleep(REAP_EVERY_S)
            self.reap()

    def reap(self) -> None:
        """Retire idle workers past PGADMIN_WORKER_IDLE_S, except the most recently used one."""
        idle_s = float(settings.WORKER_IDLE_S)
        with self._lock:
            keeper = max(self._workers, key=lambda w: w.last_used, default=None)
            now = time.monotonic()
            for w in list(self._workers):
                if not w.busy and (not w.alive or (w is not keeper and now - w.last_used > idle_s)):
                    self._workers.remove(w)
                    w.retire("idle")
            self._dispatch()

    def shutdown(self) -> None:
        """Every worker exits (server exit): stdin closed, then killed after a short grace."""
        with self._lock:
            workers, self._workers = list(self._workers), []
        for w in workers:
            if w.proc is not None and w.proc.stdin is not None:
                with contextlib.suppress(OSError, ValueError):
                    w.proc.stdin.close()
        end = time.monotonic() + 2.0
        for w in workers:
            if w.proc is None:
                continue
            with contextlib.suppress(subprocess.TimeoutExpired):
                w.proc.wait(timeout=max(0.0, end - time.monotonic()))
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(w.proc.pid, signal.SIGKILL)

    def state(self) -> dict[str, Any]:
        with self._lock:
            workers = [w for w in self._workers if w.proc is not None]
            waiting = len(self._queue)
        for w in workers:
            if not w.busy and w.alive:
                w.rss = group_rss(w.proc.pid)  # type: ignore[union-attr]
        return {"max": self.capacity(), "running": len(workers), "waiting": waiting,
                "processes": [w.as_json() for w in workers], "protocol": protocol.PROTOCOL_VERSION}

    def workers(self) -> list[Worker]:
        with self._lock:
            return list(self._workers)


_pool = Pool()
atexit.register(_pool.shutdown)


def shutdown() -> None:
    """Stop every warm worker now (``serve``'s exit, which skips ``atexit``)."""
    _pool.shutdown()


def pool() -> Pool:
    return _pool


def run(task: str, payload: dict[str, Any], *, target_url: str | None, on_event: EventHandler | None,
        timeout: float) -> dict[str, Any]:
    """Run a (non-run) task in a warm worker of the project; the result as the one-shot runner gives it."""
    if task in protocol.RUN_TASKS:
        raise ValueError(f"{task} runs in a fresh child, never in a warm worker")
    payload = {"project_dir": str(settings.PROJECT_DIR), **payload}
    cwd = child_cwd(payload)
    python = project_python()
    env = child_env(target_url)
    key = WorkerKey(protocol=protocol.PROTOCOL_VERSION, python=python, project_dir=str(payload["project_dir"]),
                    target_url=target_url or "", alembic_ini=str(payload.get("alembic_ini") or ""),
                    section=str(payload.get("alembic_section") or "alembic"),
                    sqlalchemy_base=str(settings.SQLALCHEMY_BASE or ""), environment=environment_digest(env))
    return _pool.run(key, watch_roots(payload, cwd), python, cwd, env, task, payload, on_event, timeout)
