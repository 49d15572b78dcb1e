"""Read mode as a boundary: what a statement is, read with PostgreSQL's own parser.

Every script is split and parsed with ``pglast`` (libpg_query: the server's grammar, not a
regex). In read mode only read statements pass — SELECT / WITH / VALUES / TABLE / SHOW, EXPLAIN of
those, a few harmless SETs, and the script's own BEGIN/COMMIT (skipped: the run is one read-only
transaction). Refused anywhere in the tree: row locks (FOR UPDATE/SHARE/…), SELECT INTO,
data-modifying CTEs and every other command (LOCK, COPY, DO, CALL, LISTEN/NOTIFY, PREPARE/EXECUTE,
SET that matters, DDL, DML…). The function calls of the accepted statements are then checked
against the catalogue (``check_functions``, on the run's own connection so that the search path is
the one that will resolve them): admin functions are refused by name wherever they appear,
volatile functions unless they are on a short allow-list of harmless ones.

What this does not cover — functions called by views, defaults, operators and the bodies of
user-defined STABLE functions — is the database's business: that is what the least-privilege
reader role is for (docs/security.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pglast import parser as pg_parser

from core.exceptions import AppError
from sqlconsole import splitter
from sqlconsole.splitter import Statement

# Session settings a read-mode script may change: display and planner knobs only (the session
# is closed after the run). search_path is not among them: function calls are resolved with the
# path the checks saw; role, timeouts, memory, transaction characteristics are never changed.
SAFE_SETTINGS = frozenset({
    "timezone", "time zone", "datestyle", "intervalstyle", "extra_float_digits", "bytea_output",
    "jit", "random_page_cost", "seq_page_cost", "cpu_tuple_cost", "cpu_index_tuple_cost",
    "cpu_operator_cost", "plan_cache_mode", "default_statistics_target",
})
SAFE_SETTING_PREFIXES = ("enable_",)

# Volatile functions a read query may call: their only effect is their result (pg_sleep is bounded
# by the statement timeout; sizes read file metadata of relations the caller may see).
VOLATILE_ALLOWED = frozenset({
    "now", "random", "random_normal", "clock_timestamp", "timeofday", "statement_timestamp",
    "transaction_timestamp", "gen_random_uuid", "uuidv4", "uuidv7", "uuid_generate_v4", "uuid_generate_v1",
    "pg_sleep", "pg_sleep_for", "pg_sleep_until", "currval", "lastval",
    "pg_database_size", "pg_relation_size", "pg_total_relation_size", "pg_table_size", "pg_indexes_size",
    "pg_tablespace_size", "pg_is_in_recovery", "pg_current_wal_lsn", "pg_last_wal_receive_lsn",
    "pg_last_wal_replay_lsn", "pg_blocking_pids", "pg_safe_snapshot_blocking_pids",
    "pg_last_xact_replay_timestamp", "txid_current_if_assigned", "pg_current_xact_id_if_assigned",
    # catalogue and status readers a DBA reaches for
    "pg_lock_status", "pg_partition_tree", "pg_partition_ancestors", "pg_sequence_last_value", "pg_jit_available",
    "pg_current_wal_flush_lsn", "pg_current_wal_insert_lsn", "pg_is_wal_replay_paused",
    "pg_get_wal_replay_pause_state", "pg_collation_actual_version", "pg_database_collation_actual_version",
    "pg_xact_status", "txid_status", "pg_xact_commit_timestamp", "pg_last_committed_xact",
    "pg_notification_queue_usage", "current_query", "pg_stat_have_stats",
})
VOLATILE_ALLOWED_PREFIXES = ("pg_stat_get_xact_",)

# Refused by name in read mode wherever they appear, whatever their volatility or schema (a user
# could define a STABLE ``public.pg_read_file``): they signal, lock, read or write files, run SQL
# strings, change settings, sequences, replication state or the WAL.
ADMIN_FUNCTIONS = frozenset({
    "pg_terminate_backend", "pg_cancel_backend", "pg_reload_conf", "pg_rotate_logfile", "pg_promote",
    "set_config", "nextval", "setval", "pg_logical_emit_message", "pg_notify", "pg_stat_file",
    "pg_drop_replication_slot", "pg_replication_slot_advance", "pg_switch_wal", "pg_start_backup",
    "pg_stop_backup", "pg_import_system_collations", "pg_log_backend_memory_contexts",
    "pg_wal_replay_pause", "pg_wal_replay_resume", "pg_sync_replication_slots",
    "query_to_xml", "query_to_xml_and_xmlschema", "query_to_xmlschema", "cursor_to_xml",
    "cursor_to_xmlschema", "table_to_xml", "table_to_xml_and_xmlschema", "table_to_xmlschema",
    "schema_to_xml", "schema_to_xml_and_xmlschema", "schema_to_xmlschema", "database_to_xml",
    "database_to_xml_and_xmlschema", "database_to_xmlschema", "ts_stat", "txid_current", "pg_current_xact_id",
    "pg_export_snapshot", "pg_create_restore_point", "loread", "lowrite",
})
ADMIN_PREFIXES = ("pg_advisory_", "pg_try_advisory_", "pg_read_", "pg_ls_", "lo_", "dblink", "pg_file_",
                  "pg_create_", "pg_copy_", "pg_logical_slot_", "pg_replication_origin_", "pg_backup_",
                  "pg_stat_reset", "binary_upgrade_", "pg_wal_replay_")

_TX_IGNORED = {"TRANS_STMT_BEGIN", "TRANS_STMT_START", "TRANS_STMT_COMMIT", "TRANS_STMT_ROLLBACK"}
_WRITES = {"InsertStmt": "INSERT", "UpdateStmt": "UPDATE", "DeleteStmt": "DELETE", "MergeStmt": "MERGE"}
_NAMES = {
    "LockStmt": "LOCK", "CopyStmt": "COPY", "DoStmt": "DO", "CallStmt": "CALL", "ListenStmt": "LISTEN",
    "NotifyStmt": "NOTIFY", "UnlistenStmt": "UNLISTEN", "PrepareStmt": "PREPARE", "ExecuteStmt": "EXECUTE",
    "DeallocateStmt": "DEALLOCATE", "DeclareCursorStmt": "DECLARE", "FetchStmt": "FETCH/MOVE",
    "ClosePortalStmt": "CLOSE", "VacuumStmt": "VACUUM/ANALYZE", "DiscardStmt": "DISCARD",
    "CheckPointStmt": "CHECKPOINT", "LoadStmt": "LOAD", "TruncateStmt": "TRUNCATE", "ReindexStmt": "REINDEX",
    "ClusterStmt": "CLUSTER", "RefreshMatViewStmt": "REFRESH MATERIALIZED VIEW", "GrantStmt": "GRANT/REVOKE",
    "GrantRoleStmt": "GRANT/REVOKE", "AlterSystemStmt": "ALTER SYSTEM", "CreateRoleStmt": "CREATE ROLE",
    "VariableSetStmt": "SET", "ConstraintsSetStmt": "SET CONSTRAINTS", "TransactionStmt": "transaction control",
}
_LOCK_NAMES = {"LCS_FORKEYSHARE": "FOR KEY SHARE", "LCS_FORSHARE": "FOR SHARE",
               "LCS_FORNOKEYUPDATE": "FOR NO KEY UPDATE", "LCS_FORUPDATE": "FOR UPDATE"}

READ_HINT = ("Read mode runs SELECT, WITH, VALUES, TABLE, SHOW and EXPLAIN only, without row locks. "
             "An admin can switch the console to write mode.")


class ReadModeRefused(AppError):
    """A read-mode script was refused before anything ran (status 403, position in ``detail``)."""

    code, status = "read_mode_refused", 403
    default_hint = READ_HINT


@dataclass(frozen=True)
class FuncRef:
    schema: str | None
    name: str
    position: int  # in the script


@dataclass
class Checked:
    """A statement the guard looked at: what kind it is and the functions it calls."""

    statement: Statement
    kind: str  # query | explain | show | set | tx_ignored | other (write mode) | syntax_error
    tree: dict[str, Any] | None = None
    functions: list[FuncRef] = field(default_factory=list)
    syntax_error: tuple[str, int] | None = None  # (message, position in the script)

    @property
    def wants_cursor(self) -> bool:
        return self.kind == "query"


def split(script: str) -> list[Statement]:
    """The statements of a script: PostgreSQL's parser when the script parses as a whole, the
    lexical splitter (which keeps going past a syntax error) otherwise."""
    try:
        slices = pg_parser.split(script, with_parser=True, only_slices=True)
    except pg_parser.ParseError:
        return splitter.split(script)
    statements = []
    for piece in slices:
        raw = script[piece]
        text = raw.strip()
        if text and splitter.strip_comments(text).strip():
            statements.append(Statement(text=text, start=piece.start + (len(raw) - len(raw.lstrip()))))
    return statements


def _char_offset(text: str, byte_offset: int) -> int:
    """libpg_query reports byte offsets; the editor counts characters."""
    if byte_offset <= 0 or text.isascii():
        return max(0, byte_offset)
    return len(text.encode("utf-8")[:byte_offset].decode("utf-8", errors="ignore"))


def _refuse(stmt: Statement, message: str, offset: int = 0, code: str = "read_mode_refused",
            hint: str = READ_HINT) -> ReadModeRefused:
    position = stmt.start + offset
    return ReadModeRefused(message, hint=hint, code=code,
                           detail={"position": position, "statement": stmt.text[:200]})


def _walk(node: Any, stmt: Statement, out: list[FuncRef], top: bool = False) -> None:
    """Visit every node: refuse locks, SELECT INTO and nested write statements; collect calls."""
    if isinstance(node, list):
        for item in node:
            _walk(item, stmt, out)
        return
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        if key in _WRITES:
            where = _char_offset(stmt.text, _location(value))
            raise _refuse(stmt, f"{_WRITES[key]} changes data: not allowed in read mode (also not inside "
                                "a WITH query). Nothing ran.", where, code="read_only")
        if key[:1].isupper() and key.endswith("Stmt") and key not in ("SelectStmt", "RawStmt") and not top:
            raise _refuse(stmt, f"{_NAMES.get(key, key[:-4].upper())} is not allowed inside a read query.")
        if key == "SelectStmt" and isinstance(value, dict):
            if value.get("lockingClause"):
                strength = value["lockingClause"][0].get("LockingClause", {}).get("strength", "")
                raise _refuse(stmt, f"SELECT … {_LOCK_NAMES.get(strength, 'FOR UPDATE/SHARE')} takes row locks "
                                    "that other sessions wait for: not allowed in read mode. Nothing ran.",
                              code="read_only",
                              hint="Remove the locking clause; reading needs no lock. " + READ_HINT)
            if value.get("intoClause"):
                raise _refuse(stmt, "SELECT … INTO creates a table: not allowed in read mode. Nothing ran.",
                              _char_offset(stmt.text, _location(value["intoClause"].get("rel", {}))),
                              code="read_only")
        if key == "FuncCall" and isinstance(value, dict):
            parts = [p.get("String", {}).get("sval", "") for p in value.get("funcname", [])]
            name = parts[-1] if parts else ""
            schema = parts[-2] if len(parts) > 1 else None
            out.append(FuncRef(schema=schema, name=name,
                               position=stmt.start + _char_offset(stmt.text, _location(value))))
        _walk(value, stmt, out)


def _location(node: Any) -> int:
    if isinstance(node, dict):
        loc = node.get("location")
        if isinstance(loc, int) and loc >= 0:
            return loc
        for value in node.values():
            if isinstance(value, dict | list):
                found = _location(value)
                if found >= 0:
                    return found
    elif isinstance(node, list):
        for item in node:
            found = _location(item)
            if found >= 0:
                return found
    return -1


def parse(stmt: Statement) -> Checked:
    """Parse one statement (a syntax error is returned, not raised: it is that statement's error)."""
    try:
        tree = json.loads(pg_parser.parse_sql_json(stmt.text))
    except pg_parser.ParseError as exc:
        message = str(exc.args[0]) if exc.args else "syntax error"
        offset = int(exc.args[1]) if len(exc.args) > 1 and isinstance(exc.args[1], int) else 0
        return Checked(stmt, "syntax_error", syntax_error=(message, stmt.start + max(0, offset)))
    stmts = tree.get("stmts") or []
    if len(stmts) != 1:  # the splitter gave a piece holding several statements: never run it as one
        return Checked(stmt, "syntax_error", syntax_error=(
            "This piece holds several statements; separate them with semicolons.", stmt.start))
    return Checked(stmt, "other", tree=stmts[0].get("stmt") or {})


def check_read(stmt: Statement) -> Checked:
    """Classify a statement for read mode, raising ``ReadModeRefused`` when it may not run."""
    if stmt.text.lstrip().startswith("\\"):
        raise _refuse(stmt, "psql meta-commands (\\d, \\copy, …) are not SQL; the console only runs SQL.",
                      hint="Query the catalogue instead, e.g. SELECT * FROM information_schema.columns.")
    checked = parse(stmt)
    if checked.tree is None:
        return checked
    (kind_name, body), = checked.tree.items()
    if kind_name == "SelectStmt":
        checked.kind = "query"
        _walk(checked.tree, stmt, checked.functions, top=True)
    elif kind_name == "ExplainStmt":
        query = body.get("query") or {}
        if "SelectStmt" not in query:
            inner = next(iter(query), "")
            raise _refuse(stmt, f"EXPLAIN of {_WRITES.get(inner) or _NAMES.get(inner, 'this statement')} is not "
                                "allowed in read mode (EXPLAIN ANALYZE runs it). Nothing ran.", code="read_only")
        checked.kind = "explain"
        _walk(query, stmt, checked.functions, top=True)
    elif kind_name == "VariableShowStmt":
        checked.kind = "show"
    elif kind_name == "VariableSetStmt":
        name = str(body.get("name") or "").lower()
        kind = body.get("kind", "")
        if kind in ("VAR_SET_VALUE", "VAR_SET_DEFAULT", "VAR_SET_CURRENT", "VAR_RESET") and (
                name in SAFE_SETTINGS or name.startswith(SAFE_SETTING_PREFIXES)):
            checked.kind = "set"
            _walk(body, stmt, checked.functions)
        else:
            shown = f"SET {name}" if name else "This SET/RESET"
            raise _refuse(stmt, f"{shown} is not allowed in read mode: only display and planner settings "
                                "(TimeZone, DateStyle, enable_*, …) may change. Nothing ran.", code="not_allowed",
                          hint="Read mode keeps the session's role, timeouts, search_path and transaction as the "
                               "tool set them. An admin's write mode has no such limit.")
    elif kind_name == "TransactionStmt" and body.get("kind") in _TX_IGNORED and not body.get("savepoint_name") \
            and not body.get("gid") and not body.get("chain"):
        checked.kind = "tx_ignored"
    elif kind_name in _WRITES:
        raise _refuse(stmt, f"The console is read-only: {_WRITES[kind_name]} changes data. Nothing ran.",
                      code="read_only")
    else:
        what = _NAMES.get(kind_name) or kind_name.removesuffix("Stmt")
        raise _refuse(stmt, f"{what} is not allowed in read mode: it changes the database, the session "
                            "or takes locks. Nothing ran.", code="not_allowed")
    return checked


def check_write(stmt: Statement) -> Checked:
    """Write mode (admins): no boundary, only what the console cannot do at all."""
    checked = parse(stmt)
    if checked.tree is None:  # the server reports the syntax error (its grammar may be newer)
        checked.kind, checked.syntax_error = "other", None
    else:
        (kind_name, body), = checked.tree.items()
        if kind_name == "SelectStmt" and not body.get("intoClause") and not body.get("lockingClause"):
            found: list[FuncRef] = []
            try:
                _walk(checked.tree, stmt, found, top=True)
            except ReadModeRefused:
                pass  # a data-modifying CTE: run it as a plain statement
            else:
                checked.kind = "query"
        elif kind_name == "ExplainStmt":
            checked.kind = "explain"
        if kind_name == "CopyStmt" and not body.get("filename") and not body.get("is_program"):
            raise ReadModeRefused("COPY … FROM STDIN / TO STDOUT needs a client stream; use the data browser's "
                                  "export instead.", code="not_allowed", hint="",
                                  detail={"position": stmt.start, "statement": stmt.text[:200]})
        _collect(checked)
    return checked


def _collect(checked: Checked) -> None:
    """Collect the calls of a statement without judging it (write mode's EXPLAIN ANALYZE note)."""
    def walk(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            for key, value in node.items():
                if key == "FuncCall" and isinstance(value, dict):
                    parts = [p.get("String", {}).get("sval", "") for p in value.get("funcname", [])]
                    checked.functions.append(FuncRef(parts[-2] if len(parts) > 1 else None, parts[-1] if parts else "",
                                                     checked.statement.start))
                walk(value)
    walk(checked.tree)


def is_admin_function(name: str) -> bool:
    lowered = name.lower()
    return lowered in ADMIN_FUNCTIONS or lowered.startswith(ADMIN_PREFIXES)


def check_functions(raw: Any, checked: list[Checked]) -> None:
    """Refuse admin functions by name, and volatile functions (per the catalogue) unless allowed.

    ``raw`` is the psycopg connection the statements will run on (same search path)."""
    calls = [(c.statement, f) for c in checked for f in c.functions]
    for stmt, ref in calls:
        if is_admin_function(ref.name):
            raise _refuse(stmt, f"{ref.name}() is an administration function (it signals, locks, reads files, "
                                "runs SQL text or changes state): never allowed in read mode. Nothing ran.",
                          ref.position - stmt.start, code="not_allowed",
                          hint="Ask an admin; admin functions run only in write mode, as the target role.")
    names = sorted({ref.name for _, ref in calls})
    if not names:
        return
    rows = raw.execute(
        "SELECT p.proname, n.nspname, p.provolatile, n.nspname = ANY(current_schemas(true)), "
        "       EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid "
        "               AND d.deptype = 'e') "
        "FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE p.proname = ANY(%s)",
        (names,)).fetchall()
    for stmt, ref in calls:
        candidates = [r for r in rows if r[0] == ref.name and (r[1] == ref.schema if ref.schema else r[3])]
        for _, schema, volatility, _, from_extension in candidates:
            if volatility != "v":
                continue
            allowed = ref.name in VOLATILE_ALLOWED or ref.name.startswith(VOLATILE_ALLOWED_PREFIXES)
            if allowed and (schema == "pg_catalog" or from_extension):
                continue
            owner = "an extension" if from_extension else ("PostgreSQL" if schema == "pg_catalog" else "this database")
            raise _refuse(stmt, f"{schema}.{ref.name}() is a VOLATILE function of {owner}: it may change state, "
                                "so read mode does not call it. Nothing ran.", ref.position - stmt.start,
                          code="not_allowed",
                          hint="Mark a function that only reads as STABLE (ALTER FUNCTION … STABLE), or ask an "
                               "admin to run it in write mode.")


def has_side_effects_outside_transaction(checked: Checked) -> bool:
    """Whether a rolled-back statement still leaves traces (sequences drawn, volatile calls)."""
    if checked.tree is None:
        return False
    body = json.dumps(checked.tree)
    return ('"InsertStmt"' in body or '"MergeStmt"' in body or
            any(f.name in ("nextval", "setval") or is_admin_function(f.name) for f in checked.functions))
