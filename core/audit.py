"""The audit service: every write path calls ``record`` (who, what, before/after, outcome).

The request being served is kept in a context variable (``core.request_context``, set by
``core.middleware``), so that a check deep in a service — ``core.roles.require`` refusing an action —
can audit the refusal with the user's address without every caller passing the request down.

Writes on the target go through ``audited_write`` (row insert/update/delete, bulk edit, CSV
import, the SQL console's write mode): the audit entry is written to the internal database
*inside* the target's transaction, before it commits. If the internal database refuses the entry
the target transaction is rolled back and the user gets ``AuditUnavailable`` (503), so no change
is ever left unaudited; if the target's COMMIT fails after the entry was written, the entry is
marked ``failed`` with "not applied", so the audit never claims a change that did not happen.
The console's write mode runs in autocommit (no one transaction): its entry is written as
``pending`` before anything runs, then completed with the statements' outcomes.

Migration runs (``migrations_ui``) keep their own audit at the end of a run: a run is a child
process with its own transactions (and a backup), not one target transaction the tool holds.
Refusals and failures of a write are recorded with plain ``record`` (nothing was changed).

Every entry about the target database carries the target's name (``target_name``): the one the
caller names, else the request's (``core.target.for_request``); tool-level events (logins, users,
tokens) carry none.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import DatabaseError
from django.http import HttpRequest
from sqlalchemy import Connection

from core import target as core_target
from core.capabilities import can
from core.exceptions import AuditUnavailable, TargetUnavailable
from core.logging import scrub
from core.models import AuditEntry
from core.request_context import current_request as current_request  # re-exported: the request being served
from pgadmin_site.proxies import valid_ip

log = logging.getLogger(__name__)

def client_ip(request: HttpRequest | Any | None) -> str | None:
    """The client's address as a valid IP, or None.

    REMOTE_ADDR is the TCP peer, or the forwarded client when the peer is one of
    PGADMIN_TRUSTED_PROXIES (pgadmin_site/proxies.py); anything that is not an IP is dropped.
    """
    if request is None:
        return None
    meta = getattr(request, "META", {})
    return valid_ip(meta.get("REMOTE_ADDR"))


# Actions about the tool itself, not about a target database: their entries name no target.
TOOL_ACTIONS = ("login", "logout", "password.", "user.", "token.")


def target_name_for(request: Any, action: str) -> str:
    """The name of the target an action of ``request`` is about ("" for tool-level actions or
    when no target is configured)."""
    if action.startswith(TOOL_ACTIONS):
        return ""
    try:
        return core_target.for_request(request).name
    except TargetUnavailable:
        return ""


def record(request: HttpRequest | Any | None, action: str, target: str = "", *, before: Any = None,
           after: Any = None, outcome: str = AuditEntry.Outcome.OK, message: str = "",
           user: Any = None, username: str = "", target_name: str | None = None) -> AuditEntry:
    """Write one audit entry. ``request`` gives the user and IP; ``user`` overrides it.
    ``target_name``: the target database it is about (None: the request's, see ``target_name_for``)."""
    if user is None and request is not None:
        user = getattr(request, "user", None)
    if user is not None and not getattr(user, "is_authenticated", False):
        user = None
    return AuditEntry.objects.create(
        user=user,
        username=username or (user.get_username() if user else ""),
        action=action,
        target=target[:500],
        target_name=(target_name_for(request, action) if target_name is None else target_name)[:100],
        before=before,
        after=after,
        outcome=outcome,
        message=scrub(message)[:5000],
        ip=client_ip(request),
    )


class AuditedWrite:
    """The audit entry of one write on the target, handed out by ``audited_write``."""

    def __init__(self, request: Any, action: str, target: str, transactional: bool) -> None:
        self.request, self.action, self.target, self.transactional = request, action, target, transactional
        self.entry: AuditEntry | None = None

    def record(self, conn: Connection | None, target: str | None = None, *, before: Any = None, after: Any = None,
               outcome: str = AuditEntry.Outcome.OK, message: str = "") -> AuditEntry:
        """Write the entry now. ``conn`` is the target connection whose transaction is still open
        (it commits once this returns); ``None`` only for a write that is not one transaction (the
        console), whose entry is written before anything runs. Raises ``AuditUnavailable`` when the
        internal database refuses the entry: raised inside the target's transaction, it rolls it back."""
        if self.transactional and (conn is None or not conn.in_transaction()):
            raise RuntimeError(f"{self.action}: the audit entry must be written inside the target's open transaction")
        try:
            self.entry = record(self.request, self.action, self.target if target is None else target,
                                before=before, after=after, outcome=outcome, message=message)
        except DatabaseError as exc:
            log.error("The internal database refused the audit entry of %s (%s): the write is not made.",
                      self.action, scrub(str(exc)))
            raise AuditUnavailable() from exc
        return self.entry

    def complete(self, *, after: Any = None, outcome: str = AuditEntry.Outcome.OK, message: str | None = None) -> None:
        """Fill in the entry once a non-transactional write is over (the console: each statement's
        outcome). A refusal now is logged, not raised: the change is made and the entry says it started."""
        if self.entry is None:
            return
        fields: dict[str, Any] = {"after": after, "outcome": outcome}
        if message is not None:
            fields["message"] = scrub(message)[:5000]
        try:
            AuditEntry.objects.filter(pk=self.entry.pk).update(**fields)
        except DatabaseError as exc:
            log.error("Audit entry %s of %s stays pending: the internal database refused its outcome (%s).",
                      self.entry.pk, self.action, scrub(str(exc)))

    def not_applied(self, exc: BaseException) -> None:
        """The write failed after its entry was written: say so on the entry (best effort)."""
        if self.entry is None:
            return
        reason = getattr(exc, "message", "") or (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        if self.transactional:
            note = f"not applied: the target transaction was rolled back or its COMMIT failed ({reason})"
        else:
            note = (f"the run stopped before it reported back ({reason}); statements that ran before "
                    "that may have committed (write mode is autocommit)")
        try:
            AuditEntry.objects.filter(pk=self.entry.pk).update(
                outcome=AuditEntry.Outcome.FAILED, message=scrub(f"{note}\n{self.entry.message}".strip())[:5000])
        except DatabaseError as db_exc:
            log.error("Audit entry %s of %s could not be marked as not applied: %s", self.entry.pk, self.action,
                      scrub(str(db_exc)))


@contextmanager
def audited_write(request: Any, action: str, target: str = "", *, transactional: bool = True) -> Iterator[AuditedWrite]:
    """Audit one write on the target from inside its transaction.

    Use it around the target's transaction, and call ``.record(conn, ...)`` inside it, just
    before the block ends (and commits)::

        with audit.audited_write(request, "data.create", slug) as audited:
            with target.connect(read_only=False) as conn:
                row = conn.execute(stmt).one()
                audited.record(conn, after=row)

    A refused entry raises ``AuditUnavailable`` inside the transaction (rolled back, 503). Any
    exception leaving the block after the entry was written — the transaction rolled back, the
    COMMIT failed — marks the entry ``failed``/"not applied". Nothing but the target's transaction
    may follow the ``record`` call inside the block. ``transactional=False`` is for the console's
    autocommit write mode: ``.record(None, outcome="pending")`` before the run, ``.complete`` after.
    """
    audited = AuditedWrite(request, action, target, transactional)
    try:
        yield audited
    except BaseException as exc:
        audited.not_applied(exc)
        raise


def visible_entries(user: Any) -> Any:
    """The audit entries ``user`` may read: all for admins, their own for everyone else.

    Viewers must not read other people's actions (an admin's write-mode SQL, the users they
    created); their own history is theirs to see.
    """
    entries = AuditEntry.objects.all()
    return entries if can(user, "manage_users") else entries.filter(user=user)
