"""The run lock on the server's side: the gate of a new run, the hand-over to the child and back.

One PostgreSQL advisory lock (``LOCK_KEY``, session level, per database) means "a migration run
works on this database". Its life during a run:

1. ``acquire`` (the gate): the server takes it on a dedicated autocommit session; taken → 409
   naming the run that holds it. Holding it, the gate also refuses while any earlier run's
   backend is still alive on the target (``application_name`` ``pgadmin-run:<instance>:<id>…``;
   the instance is a short hash of the tool's internal database, whose run ids it is): a run whose
   server was killed can leave a backend finishing (or rolling back) its statement after its lock
   session is gone, and a new run must not start beside it.
2. The backup runs under the server's hold (``pgadmin-run:<instance>:<id>:server``).
3. The child (``core/child/pgadmin_child_runlock.py``) queues on the same key from its own
   session; ``hand_over`` sees it waiting and lets go: PostgreSQL grants a released lock to the
   waiting session at once, so nobody slips in between. From then on the process doing the work
   holds the lock, and a watchdog in it ends the work when the server dies.
4. At the end the child announces it is done; ``take_back`` queues the server on the key and the
   child releases into it. After a crash or a cancel, ``reclaim`` first ends the run's remaining
   backends and waits until they are gone, then takes the lock. The server re-reads the version
   table under the lock, releases it, and only then writes the run's final status.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import time
from typing import Any

from django.conf import settings
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from core import target
from core.exceptions import Conflict

log = logging.getLogger(__name__)

# One key for "a migration run on this database"; env.py's own advisory locks use other keys.
LOCK_KEY = int.from_bytes(hashlib.sha256(b"pgadmin-tool/alembic-run").digest()[:8], "big") >> 1
_KEY = {"hi": (LOCK_KEY >> 32) & 0xFFFFFFFF, "lo": LOCK_KEY & 0xFFFFFFFF}
_KEY_MATCH = ("l.locktype = 'advisory' AND l.objsubid = 1 AND l.classid::bigint = :hi AND l.objid::bigint = :lo "
              "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())")
RUN_PREFIX = "pgadmin-run:"
_RUN_NAME = re.compile(r"^pgadmin-run:([0-9a-f]{6}):(\d+)(?::(\w+))?$")
CHILD_LOCK_WAIT_S = 60  # how long the child queues for the lock the server hands over
HAND_OVER_WAIT_S = 15.0  # how long the server waits to see the child queued before it keeps the lock
TAKE_BACK_WAIT_S = 30  # lock_timeout of the server's take-back session
BACKENDS_GONE_WAIT_S = 30.0
DRY_RUN_ID = 0  # a dry run has no Run record; its sessions are pgadmin-run:<instance>:0… (one at a time)


def instance_id() -> str:
    """Six hex digits naming this tool's internal database: run ids are unique within it only.

    Two sidecars with their own internal databases on one target both have a run 1; the name keeps
    one's teardown from ending the other's sessions. Instances sharing an internal DB share the id.
    """
    db = settings.DATABASES["default"]
    ident = repr((db.get("ENGINE"), str(db.get("NAME")), db.get("HOST"), db.get("PORT")))
    return hashlib.sha256(ident.encode()).hexdigest()[:6]


def run_app_name(run_id: int, role: str = "") -> str:
    """``pgadmin-run:<instance>:<id>`` for the work's sessions, ``…:<role>`` for the lock's."""
    return f"{RUN_PREFIX}{instance_id()}:{int(run_id)}" + (f":{role}" if role else "")


def describe_session(application_name: str | None, pid: int) -> str:
    """A session in words: "run 12 (upgrade to heads by alice)" for ours, its application_name otherwise."""
    match = _RUN_NAME.match(application_name or "")
    if not match:
        return application_name or f"backend {pid}"
    from migrations_ui.models import Run

    run_id = int(match.group(2))
    if match.group(1) != instance_id():
        return f"{'a dry run' if run_id == DRY_RUN_ID else f'run {run_id}'} of another instance of the tool"
    if run_id == DRY_RUN_ID:
        return "a dry run"
    run = Run.objects.filter(pk=run_id).first()
    what = f"run {run_id}"
    if run is not None:
        what += f" ({run.kind} to {run.target} by {run.username})"
    return what


def lock_holder(conn: Connection) -> dict[str, Any] | None:
    """Who holds the run lock on this database: {holder, since, pid, application_name} or None."""
    row = conn.execute(text(
        "SELECT a.application_name, a.backend_start, a.pid FROM pg_locks l "
        f"JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.granted AND {_KEY_MATCH} LIMIT 1"), _KEY).first()
    if row is None:
        return None
    return {"holder": describe_session(row[0], row[2]), "since": row[1].isoformat() if row[1] else None,
            "pid": row[2], "application_name": row[0]}


def run_backends(conn: Connection, run_id: int | None = None) -> list[dict[str, Any]]:
    """Live sessions of runs (of one run when ``run_id`` is given) on this database, except ours."""
    if run_id is None:
        where, params = "a.application_name LIKE :prefix", {"prefix": RUN_PREFIX + "%"}
    else:
        name = run_app_name(run_id)
        where, params = "(a.application_name = :name OR a.application_name LIKE :prefix)", \
            {"name": name, "prefix": name + ":%"}
    rows = conn.execute(text(
        "SELECT a.pid, a.application_name, a.state, a.xact_start, a.backend_start, left(a.query, 200) "
        f"FROM pg_stat_activity a WHERE {where} AND a.datname = current_database() "
        "AND a.pid <> pg_backend_pid() ORDER BY a.backend_start"), params).all()
    return [{"pid": r[0], "application_name": r[1], "state": r[2],
             "xact_start": r[3].isoformat() if r[3] else None, "query": r[5]} for r in rows]


def _autocommit(on: target.Target) -> Connection:
    """A dedicated autocommit session on target ``on`` (the lock is per database: per target)."""
    try:
        return target.get_engine(target=on).connect().execution_options(isolation_level="AUTOCOMMIT")
    except DBAPIError as exc:
        raise target.translate_error(exc, on) from exc


def _discard(conn: Connection) -> None:
    """Close a lock session for real (never back to the pool holding a session lock)."""
    with contextlib.suppress(Exception):
        conn.invalidate()
        conn.close()


def _set_name(conn: Connection, name: str) -> None:
    conn.execute(text("SELECT set_config('application_name', :name, false)"), {"name": name[:63]})


class ServerLock:
    """The server's hold on the run lock of target ``on`` for one run (or a dry run); ``conn`` is None while
    the child holds it. Taking it back and reclaiming work on ``on``, whichever target is configured by then."""

    def __init__(self, conn: Connection | None, on: target.Target) -> None:
        self.conn = conn
        self.on = on
        self.run_id: int | None = None
        self.handed_to: int | None = None  # the child's lock backend, once handed over

    @property
    def held(self) -> bool:
        return self.conn is not None

    def name(self, run_id: int) -> None:
        """Name the session after the run (``pgadmin-run:<id>:server``): a new run sees it as this run's."""
        self.run_id = run_id
        if self.conn is not None:
            _set_name(self.conn, run_app_name(run_id, "server"))

    def verify(self) -> None:
        """Raise Conflict unless the server's session still holds the lock (someone may have ended it)."""
        if self.conn is None:
            return
        try:
            held = self.conn.execute(text(
                f"SELECT count(*) FROM pg_locks l WHERE l.granted AND l.pid = pg_backend_pid() AND {_KEY_MATCH}"),
                _KEY).scalar()
        except DBAPIError as exc:
            _discard(self.conn)
            self.conn = None
            raise Conflict("The run lock's database session was terminated; the run stopped before its work.",
                           hint="Someone ended the session (pg_terminate_backend?). Start the run again.") from exc
        if not held:
            raise Conflict("The run lock is no longer held; the run stopped before its work.")

    def release(self) -> None:
        if self.conn is None:
            return
        conn, self.conn = self.conn, None
        try:
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LOCK_KEY})
        except Exception:  # noqa: BLE001 - closing below releases it anyway
            log.warning("advisory unlock failed; closing the connection releases the lock")
        finally:
            _discard(conn)

    def hand_over(self, child_backend: int) -> bool:
        """Release the lock once the child's session ``child_backend`` is queued on it (True when handed)."""
        if self.conn is None:
            return False
        deadline = time.monotonic() + HAND_OVER_WAIT_S
        while time.monotonic() < deadline:
            waiting = self.conn.execute(text(
                f"SELECT count(*) FROM pg_locks l WHERE NOT l.granted AND l.pid = :pid AND {_KEY_MATCH}"),
                {"pid": int(child_backend), **_KEY}).scalar()
            if waiting:
                self.release()
                self.handed_to = int(child_backend)
                return True
            time.sleep(0.02)
        log.warning("run %s: the child's session %s never queued on the run lock; the server keeps it",
                    self.run_id, child_backend)
        return False

    def take_back(self) -> bool:
        """Queue on the lock (the child releases into us); True when the server holds it again."""
        if self.conn is not None:
            return True
        conn = _autocommit(self.on)
        try:
            _set_name(conn, run_app_name(self.run_id or 0, "server"))
            conn.execute(text(f"SET lock_timeout = '{int(TAKE_BACK_WAIT_S)}s'"))
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": LOCK_KEY})
            conn.execute(text("SET lock_timeout = 0"))
        except DBAPIError as exc:
            _discard(conn)
            log.warning("run %s: could not take the run lock back: %s", self.run_id, exc)
            return False
        self.conn = conn
        return True

    def reclaim(self) -> list[str]:
        """After the child: end the run's leftover sessions, wait until gone, hold the lock again.

        Returns notes for the run's log (what had to be ended, what could not be done).
        """
        notes: list[str] = []
        if self.run_id is None:
            return notes
        try:
            with target.get_engine(target=self.on).connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                started, terminated = time.monotonic(), False
                while True:
                    left = [b for b in run_backends(conn, self.run_id)
                            if b["application_name"] != run_app_name(self.run_id, "server")]
                    if not left or time.monotonic() - started > BACKENDS_GONE_WAIT_S:
                        break
                    if not terminated and time.monotonic() - started > 2:
                        # Still there 2 s after the child ended: a dead child's session; end it.
                        pids = [b["pid"] for b in left]
                        conn.execute(text("SELECT pg_terminate_backend(pid) FROM unnest(CAST(:pids AS int[])) pid"),
                                     {"pids": pids})
                        notes.append(f"Ended the run's leftover database session(s) {pids}.")
                        terminated = True
                    time.sleep(0.05)
                if left:
                    notes.append(f"Database session(s) of this run still alive: {[b['pid'] for b in left]}.")
        except Exception as exc:  # noqa: BLE001
            notes.append(f"Could not check the run's database sessions: {exc}")
        if not self.take_back():
            notes.append("Could not take the run lock back: the version table is re-read without it.")
        return notes


def child_payload(run_id: int) -> dict[str, Any]:
    """The ``run_lock`` part of a child task's payload: the child takes the lock over with it."""
    return {"key": LOCK_KEY, "run_id": int(run_id), "name": run_app_name(run_id), "wait_s": CHILD_LOCK_WAIT_S}


def child_lock_event(lock: ServerLock, event: dict[str, Any]) -> str | None:
    """Apply a child's ``runlock`` event (waiting → hand over; releasing → take back); a log line or None."""
    state = event.get("state")
    if state == "waiting" and event.get("backend"):
        if lock.hand_over(int(event["backend"])):
            return "The server let go of the run lock: the child's session holds it now."
        return "The child never queued on the run lock; the server keeps holding it."
    if state == "releasing" and lock.take_back():
        return "The server holds the run lock again."
    return None


def acquire(label: str, on: target.Target) -> ServerLock:
    """The gate on target ``on``: hold its run lock, and no earlier run's backend alive; Conflict (409) otherwise."""
    conn = _autocommit(on)
    try:
        _set_name(conn, label)
        got = conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": LOCK_KEY}).scalar()
        if not got:
            holder = lock_holder(conn) or {"holder": "another session", "since": None}
            raise Conflict(
                f"Another migration run holds the lock on this database: {holder['holder']}"
                + (f", since {holder['since']}" if holder.get("since") else "") + ".",
                hint="Wait for it to finish (its page shows the live log), then try again.",
                detail=holder)
        alive = run_backends(conn)
        if alive:
            first = alive[0]
            who = describe_session(first["application_name"], first["pid"])
            raise Conflict(
                f"A database session of an earlier run is still alive on this database: {who}, backend "
                f"{first['pid']} ({first['state'] or 'unknown state'}"
                + (f", in a transaction since {first['xact_start']}" if first["xact_start"] else "") + ").",
                hint="Its work has not stopped yet (a killed server's run rolls back when its session ends); "
                     "wait a few seconds and try again. If it stays, an administrator of the database can end it "
                     f"with SELECT pg_terminate_backend({int(first['pid'])}).",
                detail={"backends": alive})
    except BaseException:
        _discard(conn)
        raise
    return ServerLock(conn, on)
