"""User actions of the SQL console, shared by the page and the API (one function per action).

Roles: every logged-in role may run read-only SQL (``view_target``); write mode needs
``write_sql`` (admins; refused for everyone under READ_ONLY=1). Switching write mode on/off and
every write-mode run are audited (the run's entry is written before its first statement, so a
refused entry runs nothing: ``core.audit.audited_write``); refusals are audited as ``denied`` —
including every read-mode statement the boundary refused (``sql.refused``) and the console
refused to non-admins because read mode would run as a dangerous role (``core.reader_role``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from core import audit, reader_role, target
from core.exceptions import AppError, BadRequest, NotFound
from core.models import AuditEntry
from core.roles import can, require, role_of
from sqlconsole import guard, services
from sqlconsole.models import QueryHistory, SavedQuery

WRITE_MODE_KEY = "sqlconsole_write_mode"
MAX_SQL = 1_000_000
HISTORY_KEEP = 2000  # per user; older statements are pruned as new ones arrive


def write_mode(request: Any) -> bool:
    """Whether this browser session has write mode on (and the user may still have it)."""
    session = getattr(request, "session", None)
    return bool(session and session.get(WRITE_MODE_KEY)) and can(request.user, "write_sql")


def set_write_mode(request: Any, enabled: bool) -> bool:
    """Switch the session's write mode (admins only); audited either way."""
    try:
        require(request.user, "write_sql")
    except AppError as exc:
        audit.record(request, "sql.write_mode", "on" if enabled else "off", outcome="denied", message=exc.message)
        raise
    request.session[WRITE_MODE_KEY] = bool(enabled)
    audit.record(request, "sql.write_mode", "on" if enabled else "off", after={"write_mode": bool(enabled)})
    return bool(enabled)


def run(request: Any, sql: str, *, write: bool = False, explain: bool = False, analyze: bool = False,
        query_id: str | None = None, at: int | None = None) -> dict[str, Any]:
    """Run a script for the request's user on the request's target; history is recorded (with the
    target's name), write-mode runs are audited."""
    user = request.user
    if not isinstance(sql, str) or not sql.strip():
        raise BadRequest("There is no SQL statement to run.", hint="Type a query, e.g. SELECT now();")
    if len(sql) > MAX_SQL:
        raise BadRequest(f"The script is longer than {MAX_SQL:,} characters.")
    if "\x00" in sql:
        raise BadRequest("The SQL contains a NUL character, which PostgreSQL does not accept.",
                         hint="Remove the invisible character (it often comes from a copy of binary data).")
    if write:
        try:
            require(user, "write_sql")
        except AppError as exc:
            audit.record(request, "sql.execute", sql[:500], outcome="denied", message=exc.message)
            raise
    else:
        require(user, "view_target")
    # Write mode is autocommit (no one transaction to hold the entry): the entry is written as
    # pending just before the first statement runs (refused: nothing runs, 503), then completed.
    with audit.audited_write(request, "sql.execute", sql[:500], transactional=False) as audited:
        def before_run() -> None:
            audited.record(None, outcome=AuditEntry.Outcome.PENDING, message=sql,
                           after={"statements": "running", "explain": explain, "analyze": analyze})

        try:
            on = target.for_request(request)
            if not write:
                reader_role.require_safe_console(user, on)
            started_at = timezone.now()
            result = services.run_script(sql, user_id=user.pk, write=write, explain=explain, analyze=analyze,
                                         query_id=query_id, at=at, before_run=before_run if write else None,
                                         on=on)
        except AppError as exc:
            if exc.status in (403, 429) or isinstance(exc, guard.ReadModeRefused):
                audit.record(request, "sql.refused", sql[:500], outcome="denied",
                             after={"code": exc.code, "mode": "write" if write else "read", **exc.detail},
                             message=f"{exc.message}\n{sql}")
            raise
    if write:
        audited.complete(after={"statements": [{"command": r.command, "rows": r.row_count, "outcome": r.outcome}
                                               for r in result.results], "explain": explain, "analyze": analyze},
                         outcome="ok" if result.outcome == "ok" else "failed", message=sql)
    entries = []
    for r in result.results:
        if r.outcome == "skipped":
            continue
        entries.append(QueryHistory(
            user=user, sql=r.sql, started_at=started_at + timedelta(milliseconds=r.index), duration_ms=r.duration_ms,
            rows=r.row_count, outcome=r.outcome if r.outcome in QueryHistory.Outcome.values else "error",
            error=(r.error or {}).get("message", ""), mode=result.mode, explain=explain, target_name=on.name,
        ))
    QueryHistory.objects.bulk_create(entries)
    _prune_history(user)
    return result.as_dict()


def _prune_history(user: Any) -> None:
    cutoff = list(QueryHistory.objects.filter(user=user).values_list("started_at", "id")[HISTORY_KEEP:HISTORY_KEEP + 1])
    if cutoff:
        at, pk = cutoff[0]
        QueryHistory.objects.filter(user=user).filter(Q(started_at__lt=at) | Q(started_at=at, id__lte=pk)).delete()


def cancel(request: Any, query_id: str) -> dict[str, Any]:
    if not isinstance(query_id, str) or not query_id:
        raise BadRequest("query_id is required.")
    require(request.user, "view_target")
    return services.cancel(query_id, request.user.pk, request.user.get_username(), role_of(request.user) == "admin")


def fetch_more(request: Any, cursor: str, count: int = services.ROW_CAP, query_id: str | None = None) -> dict[str, Any]:
    require(request.user, "view_target")
    try:
        reader_role.require_safe_console(request.user, target.for_request_or_none(request))
    except AppError as exc:
        audit.record(request, "sql.refused", "fetch more", outcome="denied", after={"code": exc.code},
                     message=exc.message)
        raise
    if not isinstance(cursor, str) or ":" not in cursor:
        raise BadRequest("cursor must be the value a capped result returned.")
    return services.fetch_more(cursor, request.user.pk, query_id=query_id, count=count)


def history(user: Any, q: str = "", outcome: str = "", limit: int = 100, *,
            on: target.Target | None = None) -> QuerySet[QueryHistory]:
    """The user's own history on target ``on`` (default the configured one; entries from before
    history carried a target count as its), newest first, optionally filtered by text and outcome.
    Every target's entries when no target is configured."""
    entries = QueryHistory.objects.filter(user=user)
    on = on or target.current_or_none()
    if on is not None:
        entries = entries.filter(Q(target_name=on.name) | Q(target_name=""))
    if q:
        entries = entries.filter(sql__icontains=q)
    if outcome in QueryHistory.Outcome.values:
        entries = entries.filter(outcome=outcome)
    return entries[: max(1, min(int(limit), 500))]


def history_entry(user: Any, entry_id: int) -> QueryHistory:
    if not 0 < int(entry_id) < 2**63:  # SQLite integers are 64-bit: larger ids cannot exist
        raise NotFound("No such history entry.")
    try:
        return QueryHistory.objects.get(pk=entry_id, user=user)
    except (QueryHistory.DoesNotExist, ValueError, TypeError):
        raise NotFound("No such history entry.") from None


def saved_for(user: Any) -> QuerySet[SavedQuery]:
    """The user's saved queries and everyone's shared ones."""
    return SavedQuery.objects.filter(Q(owner=user) | Q(shared=True)).select_related("owner")


def save_query(request: Any, name: str, sql: str, shared: bool = False) -> SavedQuery:
    """Save (or update, by name) one of the user's queries."""
    require(request.user, "view_target")
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise BadRequest("A saved query needs a name of 1 to 200 characters.")
    if not (sql or "").strip():
        raise BadRequest("There is no SQL to save.")
    saved, _ = SavedQuery.objects.update_or_create(owner=request.user, name=name,
                                                   defaults={"sql": sql, "shared": bool(shared)})
    return saved


def delete_saved(request: Any, saved_id: int) -> None:
    """Delete one of the user's own saved queries (shared ones of others cannot be deleted)."""
    if not 0 < int(saved_id) < 2**63:
        raise NotFound("No saved query of yours has this id.")
    deleted, _ = SavedQuery.objects.filter(pk=saved_id, owner=request.user).delete()
    if not deleted:
        raise NotFound("No saved query of yours has this id.")


def saved_as_dict(saved: SavedQuery, user: Any) -> dict[str, Any]:
    """A saved query as the API and the page show it (``sqlconsole.serializers``)."""
    from sqlconsole.serializers import SavedQuerySerializer

    return dict(SavedQuerySerializer(saved, context={"user": user}).data)


def history_as_dict(entry: QueryHistory) -> dict[str, Any]:
    """One history entry (``sqlconsole.serializers.HistoryEntrySerializer``)."""
    from sqlconsole.serializers import HistoryEntrySerializer

    return dict(HistoryEntrySerializer(entry).data)
