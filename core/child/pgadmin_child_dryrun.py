"""The dry run of a migration range (task ``alembic.dryrun``): online, in one transaction always rolled back.

Split from ``pgadmin_child_alembic`` (which registers the task) to keep each module short; it reuses
that module's Config, connect guard and step timer.
"""

from __future__ import annotations

import os
import re
from typing import Any

import pgadmin_compat as compat
from pgadmin_child_alembic import MAX_SQL_CHARS, _config, _failure, _install_connect_guard, _install_step_timer
from pgadmin_child_common import emit


class _DryRunDone(Exception):
    """Raised after the last migration so that env.py's transaction rolls back."""


_NO_TRANSACTION = re.compile(r"\b(CONCURRENTLY|VACUUM|ALTER\s+SYSTEM|CREATE\s+DATABASE|DROP\s+DATABASE)\b", re.I)


def task_dryrun(payload: dict[str, Any]) -> dict[str, Any]:
    """Run the migrations online in one transaction that is always rolled back; capture the SQL.

    Statements that cannot run inside a transaction (``CREATE INDEX CONCURRENTLY``...) are listed,
    not run; ``autocommit_block()`` (which would commit) is turned into a no-op; ``lock_timeout``
    keeps a dry run from queueing behind the application's locks.
    """
    from contextlib import contextmanager

    from alembic import command
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    if payload.get("target_url"):
        os.environ["DATABASE_URL"] = compat.project_url(str(payload["target_url"]))
    statements: list[str] = []
    skipped: list[str] = []
    steps: list[dict[str, Any]] = []
    _install_connect_guard(payload.get("expect"), lock_timeout=str(payload.get("lock_timeout_ms") or 3000))
    _install_step_timer(steps)

    def before(_conn: Any, _cursor: Any, statement: str, params: Any, _context: Any, _many: bool) -> Any:
        text = statement.strip()
        if _NO_TRANSACTION.search(text):
            skipped.append(text)
            emit("sql", line=f"(not run: cannot run in a transaction) {text}")
            return "SELECT 1", None
        statements.append(text[:MAX_SQL_CHARS])
        return statement, params

    event.listen(Engine, "before_cursor_execute", before, retval=True)

    def configure(kwargs: dict[str, Any]) -> None:
        kwargs["transaction_per_migration"] = False  # one transaction, so that one rollback undoes all
        kwargs["transactional_ddl"] = True

    compat.wrap_environment_configure(configure)

    def roll_back() -> None:
        raise _DryRunDone()

    compat.after_context_run_migrations(roll_back)

    @contextmanager
    def no_autocommit(self: Any) -> Any:
        emit("info", line="autocommit_block() not entered: a dry run stays in its transaction")
        yield

    compat.replace_autocommit_block(no_autocommit)
    direction = payload.get("direction", "upgrade")
    target = str(payload.get("target") or ("heads" if direction == "upgrade" else "-1"))
    try:
        getattr(command, direction)(_config(payload), target)
    except _DryRunDone:
        return {"ok": True, "rolled_back": True, "statements": statements, "skipped": skipped, "steps": steps}
    except BaseException as exc:  # noqa: BLE001
        result = _failure(f"dry run of alembic {direction} {target}", exc)
        return {**result, "rolled_back": True, "statements": statements, "skipped": skipped, "steps": steps}
    return {"ok": False, "error": "env.py finished without running the migrations (nothing was rolled back?)",
            "hint": "Check that env.py calls context.run_migrations().", "statements": statements,
            "skipped": skipped, "steps": steps, "rolled_back": False}
