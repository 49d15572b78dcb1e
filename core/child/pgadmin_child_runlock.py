"""The run lock held by the child that does the work, and a watchdog that ends the work with the server.

A migration run's advisory lock used to live on a connection of the server while this child
migrated: ``kill -9`` of the server released the lock and left the child migrating, and a new
run was accepted while the orphan was still in its transaction. Here the child itself holds the
lock, and the work dies with the server:

- ``guarded(payload, work, *args)`` (called by the alembic run tasks) opens the child's own lock
  session (``application_name = pgadmin-run:<instance>:<id>:lock``, the name the server gives), queues on the same advisory key as
  the server (the server sees the child waiting and lets go: PostgreSQL grants the lock to the
  waiter as it is released, so no other session can slip in between), then runs ``work``.
- Every connection env.py opens is named ``pgadmin-run:<instance>:<id>`` (so that the server and a new
  run can see the run's backends in ``pg_stat_activity``) and gets
  ``client_connection_check_interval`` (PostgreSQL 14+): a backend whose client died stops its
  statement within a second instead of finishing it.
- Before each revision, and at the end, the run checks it still holds the lock (one query).
- A watchdog thread watches the protocol pipe to the server (when the server dies, the pipe's
  read end closes and ``poll`` reports an error on our write end), the parent pid, and the lock
  session (someone may ``pg_terminate_backend`` it). On any of these it terminates the run's
  work backends, waits until they are gone (their transaction rolled back), only then lets the
  lock go, and kills its own process group.
- At the end the lock is handed back the same way: the child announces it, waits until the
  server's session (``…:server``) queues on the key, then unlocks, so the server
  re-reads the version table under the lock.

Only the standard library and a PostgreSQL driver of the project's interpreter are used
(psycopg 3, psycopg2 or asyncpg, whichever is importable): the lock session must not go through
SQLAlchemy's pools, whose connect listeners belong to env.py's connections.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from pgadmin_child_common import emit  # noqa: I001  (takes over stdout first)

_NAME = re.compile(r"^pgadmin-run:[0-9a-f]{6}:\d+$|^pgadmin-run:\d+$")
WATCH_INTERVAL_S = 1.0
BACKENDS_GONE_WAIT_S = 30.0  # how long the teardown waits for the work's backends to end
HANDBACK_WAIT_S = 5.0  # how long the child waits for the server to queue on the lock at the end


def _note(text: str) -> None:
    """A line on stderr for whoever reads it; after the server's death nobody does (broken pipe)."""
    with contextlib.suppress(Exception):
        sys.stderr.write(text + "\n")
        sys.stderr.flush()


class NoDriver(RuntimeError):
    """The project's interpreter has no driver the lock session can use (e.g. only pg8000)."""


class RunLockLost(RuntimeError):
    """The run lock is not held any more (its session was terminated): the run must stop."""


# --- a small synchronous session over whichever driver the project has ---------------------

def _connect_kwargs(url: str) -> dict[str, Any]:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    kwargs: dict[str, Any] = {"host": parsed.host, "port": parsed.port, "user": parsed.username,
                              "password": parsed.password, "dbname": parsed.database}
    for key, value in parsed.query.items():  # libpq options the URL carries (sslmode, host=/socket/dir...)
        kwargs[key] = value if isinstance(value, str) else value[-1]
    return {k: v for k, v in kwargs.items() if v not in (None, "")}


class _Session:
    """One autocommit connection: ``query(sql) -> list of rows``; SQL here never carries user text."""

    def __init__(self, url: str, application_name: str) -> None:
        kwargs = _connect_kwargs(url)
        self._loop: Any = None
        self._lock = threading.Lock()
        try:
            import psycopg

            self._conn: Any = psycopg.connect(autocommit=True, application_name=application_name, **kwargs)
            self._kind = "psycopg"
            return
        except ImportError:
            pass
        try:
            import psycopg2

            self._conn = psycopg2.connect(application_name=application_name, **kwargs)
            self._conn.autocommit = True
            self._kind = "psycopg2"
            return
        except ImportError:
            pass
        import asyncio

        try:
            import asyncpg
        except ImportError:
            raise NoDriver("none of psycopg, psycopg2, asyncpg is installed in the project's interpreter") from None
        self._loop = asyncio.new_event_loop()
        threading.Thread(target=self._loop.run_forever, daemon=True, name="pgadmin-runlock-loop").start()
        args = {"host": kwargs.get("host"), "port": kwargs.get("port"), "user": kwargs.get("user"),
                "password": kwargs.get("password"), "database": kwargs.get("dbname"),
                "server_settings": {"application_name": application_name}}
        if kwargs.get("sslmode"):
            args["ssl"] = kwargs["sslmode"]
        self._conn = self._await(asyncpg.connect(**{k: v for k, v in args.items() if v is not None}))
        self._kind = "asyncpg"

    def _await(self, coro: Any) -> Any:
        import asyncio

        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        with self._lock:
            if self._kind == "asyncpg":
                return [tuple(r) for r in self._await(self._conn.fetch(sql))]
            cur = self._conn.cursor()
            try:
                cur.execute(sql)
                return [tuple(r) for r in cur.fetchall()] if cur.description else []
            finally:
                cur.close()

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing a dead session
            if self._kind == "asyncpg":
                self._await(self._conn.close(timeout=5))
            else:
                self._conn.close()


# --- the lock -----------------------------------------------------------------------------

class RunLock:
    """The child's hold on the run lock, its watchdog and its checks."""

    def __init__(self, payload: dict[str, Any]) -> None:
        spec = payload["run_lock"]
        self.key = int(spec["key"])
        self.run_id = int(spec["run_id"])
        self.wait_s = max(1, int(spec.get("wait_s") or 60))
        self.url = str(payload.get("target_url") or os.environ.get("DATABASE_URL") or "")
        self.work_name = str(spec.get("name") or f"pgadmin-run:{self.run_id}")
        if not _NAME.match(self.work_name):  # inlined into SQL literals below: only this shape
            raise ValueError(f"bad run name {self.work_name!r}")
        self.lock_name = f"{self.work_name}:lock"
        self.server_name = f"{self.work_name}:server"
        self.parent = os.getppid()
        self.session: _Session | None = None
        self.backend_pid = 0
        self.lost: str | None = None
        self.stopping = threading.Event()
        self.done = threading.Event()

    def _key_match(self) -> str:
        return (f"l.locktype = 'advisory' AND l.objsubid = 1 AND l.classid::bigint = {(self.key >> 32) & 0xFFFFFFFF} "
                f"AND l.objid::bigint = {self.key & 0xFFFFFFFF} AND l.database = "
                "(SELECT oid FROM pg_database WHERE datname = current_database())")

    def take(self) -> None:
        """Open the lock session and wait for the lock (the server lets go when it sees us queued)."""
        try:
            self.session = _Session(self.url, self.lock_name)
        except NoDriver as exc:
            # The server keeps holding the lock through the run (it never sees us queue), and the
            # watchdog still kills the work with the server (its sessions stop within a second).
            emit("runlock", state="unavailable", pid=os.getpid(),
                 line=f"The run lock stays with the server: {exc}")
            return
        self.backend_pid = int(self.session.query("SELECT pg_backend_pid()")[0][0])
        emit("runlock", state="waiting", pid=os.getpid(), backend=self.backend_pid,
             line=f"Child process {os.getpid()} takes the run lock on its own session (backend {self.backend_pid})")
        self.session.query(f"SET lock_timeout = '{self.wait_s}s'")
        try:
            self.session.query(f"SELECT pg_advisory_lock({self.key})")
        except Exception as exc:  # noqa: BLE001 - lock_timeout: someone else holds it
            raise RuntimeError(f"the run lock was not free within {self.wait_s} s ({exc}); "
                               "another run holds it") from None
        self.session.query("SET lock_timeout = 0")
        emit("runlock", state="held", pid=os.getpid(), backend=self.backend_pid,
             line=f"The child holds the run lock (backend {self.backend_pid}) until its work has stopped")

    def holds(self) -> bool:
        if self.session is None:
            return False
        rows = self.session.query(f"SELECT count(*) FROM pg_locks l WHERE l.pid = pg_backend_pid() AND l.granted "
                                  f"AND {self._key_match()}")
        return bool(rows and rows[0][0])

    def check(self) -> None:
        """Raise RunLockLost unless this child still holds the run lock (no lock session: the server's job)."""
        if self.lost:
            raise RunLockLost(self.lost)
        if self.session is None:
            return
        try:
            held = self.holds()
        except Exception as exc:  # noqa: BLE001 - the session is gone
            held = False
            self.lost = (f"The run lock's database session (backend {self.backend_pid}) was terminated "
                         f"({str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}); "
                         "the run was stopped.")
        if not held:
            self.lost = self.lost or (f"The run lock is no longer held by its session (backend {self.backend_pid}); "
                                      "the run was stopped.")
            raise RunLockLost(self.lost)

    # --- the work's connections --------------------------------------------------------------

    def install_connect_names(self) -> None:
        """Name every connection env.py opens after the run and stop its statements when we die."""
        from sqlalchemy import event
        from sqlalchemy.pool import Pool

        name = self.work_name

        def on_connect(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute(f"SELECT set_config('application_name', '{name}', false)")
                cursor.execute("SELECT set_config('client_connection_check_interval', '1000', false) "
                               "WHERE current_setting('server_version_num')::int >= 140000")
            finally:
                cursor.close()
            dbapi_connection.commit()  # keep the session settings

        event.listen(Pool, "connect", on_connect)

    def install_step_check(self) -> None:
        """Check the lock before each revision runs (chained with any other RevisionStep patch)."""
        import pgadmin_compat as compat

        lock = self

        def wrap(fn: Any, _revision: Any, _is_upgrade: bool) -> Any:
            def checked(*a: Any, **kw: Any) -> Any:
                lock.check()
                return fn(*a, **kw)

            return checked

        compat.wrap_revision_steps(wrap)

    # --- the watchdog ------------------------------------------------------------------------

    def _pipe_closed(self) -> bool:
        """True when the server's end of our protocol pipe (stdout) or of stderr is closed."""
        poller = select.poll()
        for fd in (1, 2):
            try:
                poller.register(fd, 0)  # POLLERR/POLLHUP are always reported
            except (OSError, ValueError):
                continue
        try:
            events = poller.poll(0)
        except OSError:
            return False
        return any(mask & (select.POLLERR | select.POLLHUP | select.POLLNVAL) for _fd, mask in events)

    def _parent_gone(self) -> bool:
        return os.getppid() != self.parent or self._pipe_closed()

    def watch(self) -> None:
        threading.Thread(target=self._watch, daemon=True, name="pgadmin-run-watchdog").start()

    def _watch(self) -> None:
        try:
            self._watch_loop()
        except BaseException as exc:  # noqa: BLE001 - an unwatched run is worse than a failed one
            if not self.done.is_set():
                self.stop(f"the run's watchdog failed ({type(exc).__name__}: {exc})", tell_server=True)

    def _watch_loop(self) -> None:
        ticks = 0
        while not self.done.wait(WATCH_INTERVAL_S / 4):  # the pipe every 250 ms, the lock every second
            if self._parent_gone():
                self.stop("the server process died", tell_server=False)
                return
            ticks += 1
            if ticks % 4:
                continue
            try:
                self.check()
            except RunLockLost as exc:
                if not self.done.is_set():  # not the hand-back's own unlock
                    self.stop(str(exc), tell_server=True)
                return

    def work_backends(self, session: _Session) -> list[int]:
        rows = session.query(f"SELECT pid FROM pg_stat_activity WHERE application_name = '{self.work_name}' "
                             "AND datname = current_database() AND pid <> pg_backend_pid()")
        return [int(r[0]) for r in rows]

    def stop(self, reason: str, *, tell_server: bool) -> None:
        """End the work: terminate its backends, wait until they are gone, release the lock, die."""
        if self.stopping.is_set():
            return
        self.stopping.set()
        try:
            self._end_work(reason, tell_server=tell_server)
        finally:
            with contextlib.suppress(Exception):
                if os.getpgrp() == os.getpid():
                    os.killpg(os.getpid(), signal.SIGKILL)  # what env.py spawned dies with us
            os._exit(3)

    def _end_work(self, reason: str, *, tell_server: bool) -> None:
        _note(f"pgadmin run {self.run_id}: {reason}; stopping the work")
        session = self.session
        try:
            if self.lost:  # the lock session is dead: a fresh one to end the work
                session = _Session(self.url, self.lock_name)
            assert session is not None
            deadline = time.monotonic() + BACKENDS_GONE_WAIT_S
            pids = self.work_backends(session)
            for pid in pids:
                session.query(f"SELECT pg_terminate_backend({int(pid)})")
            while pids and time.monotonic() < deadline:
                time.sleep(0.05)
                pids = self.work_backends(session)
        except Exception as exc:  # noqa: BLE001 - dying anyway; the sessions end when they next read
            _note(f"pgadmin run {self.run_id}: could not end the work's sessions: {exc}")
        if tell_server:
            with contextlib.suppress(Exception):
                emit("error", error=reason,
                     hint=("Someone ended the run lock's database session (pg_terminate_backend?). " if self.lost else "")
                     + "The migration in progress was rolled back; the version table shows where the database is.")
        if session is not None:
            session.close()  # only now: the lock is free once the work has stopped
        if self.session is not None and self.session is not session:
            self.session.close()

    # --- the end -----------------------------------------------------------------------------

    def hand_back(self) -> None:
        """Release the lock into the server's waiting session (or just release it after a while)."""
        self.done.set()
        if self.session is None or self.lost:
            return
        try:
            emit("runlock", state="releasing", pid=os.getpid(), backend=self.backend_pid,
                 line="Work done: handing the run lock back to the server")
            started = time.monotonic()
            queued = False
            while time.monotonic() < started + HANDBACK_WAIT_S:
                waiting = self.session.query(
                    "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                    f"WHERE NOT l.granted AND {self._key_match()} AND a.application_name = '{self.server_name}'")
                if waiting and waiting[0][0]:
                    queued = True
                    break
                time.sleep(0.02)
            self.session.query(f"SELECT pg_advisory_unlock({self.key})")
            waited_ms = round((time.monotonic() - started) * 1000)
            # Said after the unlock, so the server (blocked in its take-back until now) reads it next; the
            # tests read it too: a hand-back that had to wait out HANDBACK_WAIT_S means the server never saw
            # "releasing" in time, and the lock was free for anyone between our unlock and its take-back.
            emit("runlock", state="released", pid=os.getpid(), queued=queued, waited_ms=waited_ms,
                 line=(f"Handed the run lock back to the server's queued session after {waited_ms} ms" if queued else
                       f"The server did not queue on the run lock within {HANDBACK_WAIT_S:.0f} s: released it anyway"))
        except Exception as exc:  # noqa: BLE001 - closing the session releases it anyway
            _note(f"pgadmin run {self.run_id}: unlock failed ({exc}); closing the session releases it")
        finally:
            self.session.close()
            self.session = None


def guarded(payload: dict[str, Any], work: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """Run ``work(payload, *args)`` holding the run lock with a watchdog (no ``run_lock`` in payload: just run)."""
    if not payload.get("run_lock"):
        return work(payload, *args)
    lock = RunLock(payload)
    try:
        lock.take()
    except Exception as exc:  # noqa: BLE001
        if lock.session is not None:
            lock.session.close()
        return {"ok": False, "error": f"The run could not take the run lock: {exc}",
                "hint": "Wait for the other run to finish, then try again.", "steps": []}
    lock.install_connect_names()
    lock.install_step_check()
    lock.watch()
    if lock._parent_gone():  # the server died while we waited for the lock
        lock.stop("the server process died", tell_server=False)
    try:
        result = work(payload, *args)
        try:
            lock.check()  # the end: the lock was held all along
        except RunLockLost as exc:
            result = {**result, "ok": False, "error": str(exc),
                      "hint": "The run lock was lost during the run; the version table shows where the database is."}
        return result
    finally:
        if lock.stopping.is_set():
            # The watchdog is ending the work: it releases the lock only once the work's sessions are
            # gone, then kills this process. Exiting first would release the lock too early.
            lock.done.wait(BACKENDS_GONE_WAIT_S + 30)
        lock.hand_back()
