"""Rule-based safety analysis of migration SQL and of revision files.

``analyse_sql(sql)`` reads the statements Alembic's offline mode prints and flags what hurts on
a live database: locks that stop reads and writes (ACCESS EXCLUSIVE), table rewrites, index
builds that block writes, and drops that lose data. ``analyse_revision_source(source)`` reads a
revision file with ``ast`` (never importing it) and flags downgrades that cannot work: bodies
that raise, that are empty while the upgrade is not, or that drop unnamed constraints.

The rules are deliberately simple regular expressions over one statement at a time: they are
a checklist a reviewer would apply, not a parser; each finding names the rule that fired.
"""

from __future__ import annotations

import ast
import re
from typing import Any

_IDENT = r'(?:"[^"]+"|[A-Za-z_][\w$]*)'
_NAME = rf"{_IDENT}(?:\.{_IDENT})?"
_VOLATILE_DEFAULT = re.compile(
    r"\bDEFAULT\s+[^,]*\b(random|clock_timestamp|gen_random_uuid|uuid_generate_v\d|timeofday|nextval)\s*\(", re.I)

SEVERITY_ORDER = {"danger": 0, "warning": 1, "info": 2}


def split_statements(sql: str) -> list[str]:
    """Statements of an offline SQL script (comment lines dropped, BEGIN/COMMIT skipped)."""
    body = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
    out = []
    for part in re.split(r";\s*(?:\n|$)", body):
        stmt = " ".join(part.split())
        if stmt and stmt.upper() not in ("BEGIN", "COMMIT"):
            out.append(stmt)
    return out


def _finding(rule: str, severity: str, message: str, statement: str, table: str | None = None,
             column: str | None = None, lock: str | None = None) -> dict[str, Any]:
    return {"rule": rule, "severity": severity, "message": message, "table": table, "column": column,
            "lock": lock, "statement": statement[:400]}


def _alter_table_actions(stmt: str) -> tuple[str | None, list[str]]:
    """(table, actions) of an ALTER TABLE, actions split on top-level commas."""
    m = re.match(rf"ALTER TABLE\s+(?:IF EXISTS\s+)?(?:ONLY\s+)?({_NAME})\s+(.*)$", stmt, re.I | re.S)
    if not m:
        return None, []
    actions, depth, cur = [], 0, ""
    for ch in m.group(2):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            actions.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        actions.append(cur.strip())
    return m.group(1), actions


def _analyse_alter(stmt: str) -> list[dict[str, Any]]:
    table, actions = _alter_table_actions(stmt)
    found: list[dict[str, Any]] = []
    for action in actions:
        up = action.upper()
        if m := re.match(rf"ADD\s+(?:COLUMN\s+)?(?:IF NOT EXISTS\s+)?({_IDENT})\s", action + " ", re.I):
            if up.startswith(("ADD CONSTRAINT", "ADD PRIMARY", "ADD UNIQUE", "ADD FOREIGN", "ADD CHECK")):
                pass
            else:
                col = m.group(1)
                if "NOT NULL" in up and "DEFAULT" not in up and "GENERATED" not in up:
                    found.append(_finding(
                        "add_column_not_null_no_default", "danger",
                        f"Adds NOT NULL column {col} without a default: fails if {table} has rows, "
                        "and holds an ACCESS EXCLUSIVE lock.", stmt, table, col, "ACCESS EXCLUSIVE"))
                elif _VOLATILE_DEFAULT.search(action) or "GENERATED ALWAYS AS" in up and "STORED" in up:
                    found.append(_finding(
                        "add_column_rewrite", "danger",
                        f"Adds column {col} with a volatile default: rewrites all of {table} under an "
                        "ACCESS EXCLUSIVE lock.", stmt, table, col, "ACCESS EXCLUSIVE"))
                continue
        if m := re.match(rf"ALTER\s+(?:COLUMN\s+)?({_IDENT})\s+(?:SET DATA\s+)?TYPE\b", action, re.I):
            found.append(_finding(
                "alter_column_type", "danger",
                f"Changes the type of {table}.{m.group(1)}: usually rewrites the table and its indexes "
                "under an ACCESS EXCLUSIVE lock (reads and writes wait).", stmt, table, m.group(1), "ACCESS EXCLUSIVE"))
        elif m := re.match(rf"ALTER\s+(?:COLUMN\s+)?({_IDENT})\s+SET NOT NULL", action, re.I):
            found.append(_finding(
                "set_not_null", "warning",
                f"SET NOT NULL on {table}.{m.group(1)} scans the whole table under an ACCESS EXCLUSIVE lock "
                "(add a validated CHECK constraint first to skip the scan).", stmt, table, m.group(1), "ACCESS EXCLUSIVE"))
        elif m := re.match(rf"DROP\s+(?:COLUMN\s+)?(?:IF EXISTS\s+)?({_IDENT})", action, re.I):
            if not up.startswith(("DROP CONSTRAINT", "DROP DEFAULT", "DROP NOT NULL", "DROP IDENTITY", "DROP EXPRESSION")):
                found.append(_finding(
                    "drop_column", "danger",
                    f"Drops column {table}.{m.group(1)}: its data is lost (a rollback re-creates it empty).",
                    stmt, table, m.group(1), "ACCESS EXCLUSIVE"))
        if re.match(r"ADD\s+(CONSTRAINT\s+\S+\s+)?FOREIGN KEY", action, re.I) and "NOT VALID" not in up:
            found.append(_finding(
                "add_fk_validating", "warning",
                f"Adds a foreign key on {table} and validates it at once: scans the table while holding "
                "SHARE ROW EXCLUSIVE locks on both tables (use NOT VALID, then VALIDATE CONSTRAINT).",
                stmt, table, None, "SHARE ROW EXCLUSIVE"))
        elif re.match(r"ADD\s+(CONSTRAINT\s+\S+\s+)?CHECK", action, re.I) and "NOT VALID" not in up:
            found.append(_finding(
                "add_check_validating", "warning",
                f"Adds a CHECK constraint on {table}: scans the table under an ACCESS EXCLUSIVE lock "
                "(use NOT VALID, then VALIDATE CONSTRAINT).", stmt, table, None, "ACCESS EXCLUSIVE"))
        elif re.match(r"ADD\s+(CONSTRAINT\s+\S+\s+)?(UNIQUE|PRIMARY KEY)\s*\(", action, re.I):
            found.append(_finding(
                "add_unique_builds_index", "warning",
                f"Adds a UNIQUE/PRIMARY KEY constraint on {table}: builds its index under an ACCESS EXCLUSIVE "
                "lock (build it CONCURRENTLY first, then ADD CONSTRAINT ... USING INDEX).",
                stmt, table, None, "ACCESS EXCLUSIVE"))
    return found


def _bare(name: str | None) -> str:
    """``"Schema".Table`` → ``table`` (unquoted, lower case) to compare names across statements."""
    return (name or "").rsplit(".", 1)[-1].strip('"').lower()


def analyse_statement(stmt: str, *, new_tables: frozenset[str] = frozenset(),
                      version_tables: frozenset[str] = frozenset({"alembic_version"})) -> list[dict[str, Any]]:
    """Findings of one statement. ``new_tables``: tables created earlier in the same script (empty, unseen by
    the application: building an index on them blocks nobody); ``version_tables``: Alembic's bookkeeping."""
    up = stmt.upper()
    if up.startswith("ALTER TABLE"):
        return _analyse_alter(stmt)
    create_index = (rf"CREATE\s+(UNIQUE\s+)?INDEX\s+(CONCURRENTLY\s+)?(?:IF NOT EXISTS\s+)?(?:{_NAME}\s+)?"
                    rf"ON\s+(?:ONLY\s+)?({_NAME})")
    if m := re.match(create_index, stmt, re.I):
        if not m.group(2) and _bare(m.group(3)) not in new_tables:
            return [_finding("create_index_blocking", "warning",
                             f"Builds an index on {m.group(3)} without CONCURRENTLY: writes to the table wait "
                             "(SHARE lock) until the build ends.", stmt, m.group(3), None, "SHARE")]
        return []
    if m := re.match(rf"DROP TABLE\s+(?:IF EXISTS\s+)?({_NAME})", stmt, re.I):
        if _bare(m.group(1)) in version_tables:  # the version table itself: bookkeeping, no user data
            return []
        return [_finding("drop_table", "danger", f"Drops table {m.group(1)}: all its rows are lost.",
                         stmt, m.group(1), None, "ACCESS EXCLUSIVE")]
    if m := re.match(rf"TRUNCATE\s+(?:TABLE\s+)?(?:ONLY\s+)?({_NAME})", stmt, re.I):
        return [_finding("truncate", "danger", f"Empties table {m.group(1)}: all its rows are lost.",
                         stmt, m.group(1), None, "ACCESS EXCLUSIVE")]
    if m := re.match(rf"DROP INDEX\s+(CONCURRENTLY\s+)?(?:IF EXISTS\s+)?({_NAME})", stmt, re.I):
        if not m.group(1):
            return [_finding("drop_index_blocking", "info",
                             f"Drops index {m.group(2)} without CONCURRENTLY: a short ACCESS EXCLUSIVE lock on its table.",
                             stmt, None, None, "ACCESS EXCLUSIVE")]
        return []
    if m := re.match(rf"(UPDATE\s+(?:ONLY\s+)?({_NAME})|DELETE FROM\s+(?:ONLY\s+)?({_NAME}))", stmt, re.I):
        table = m.group(2) or m.group(3)
        if " WHERE " not in f" {up} " and _bare(table) not in version_tables:
            verb = "Updates" if up.startswith("UPDATE") else "Deletes"
            return [_finding("whole_table_dml", "warning", f"{verb} every row of {table} in one transaction "
                             "(row locks on all of it; a big table means a long migration).", stmt, table)]
        return []
    if re.match(r"(VACUUM\s+FULL|CLUSTER)\b", stmt, re.I):
        return [_finding("rewrite", "danger", "Rewrites a table under an ACCESS EXCLUSIVE lock.", stmt,
                         None, None, "ACCESS EXCLUSIVE")]
    return []


_CREATE_TABLE = re.compile(rf"CREATE\s+(?:UNLOGGED\s+)?TABLE\s+(?:IF NOT EXISTS\s+)?({_NAME})", re.I)


def analyse_sql(sql: str, version_tables: list[str] | None = None) -> list[dict[str, Any]]:
    """Findings for every statement of an SQL script, most severe first (stable otherwise).

    ``version_tables``: names of the project's version tables (``alembic_version`` by default): dropping or
    rewriting them is Alembic's bookkeeping, not a loss of data.
    """
    found: list[dict[str, Any]] = []
    versions = frozenset(_bare(t) for t in (version_tables or ["alembic_version"]))
    # A table is "new" only within the revision that creates it (offline output marks each revision with
    # "-- Running upgrade a -> b"): later revisions of a run may find the application already using it.
    for part in re.split(r"^-- Running .*$", sql, flags=re.M):
        created: set[str] = set()
        for stmt in split_statements(part):
            found.extend(analyse_statement(stmt, new_tables=frozenset(created), version_tables=versions))
            if m := _CREATE_TABLE.match(stmt):
                created.add(_bare(m.group(1)))
    return sorted(found, key=lambda f: SEVERITY_ORDER[f["severity"]])


def summary(findings: list[dict[str, Any]]) -> dict[str, int]:
    out = {"danger": 0, "warning": 0, "info": 0}
    for f in findings:
        out[f["severity"]] += 1
    return out


# --- revision files -----------------------------------------------------------------------

def _is_trivial(body: list[ast.stmt]) -> bool:
    """Only ``pass``, ``...`` or a docstring."""
    for node in body:
        if isinstance(node, ast.Pass):
            continue
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue
        return False
    return True


def _unnamed_constraint_drops(func: ast.FunctionDef) -> list[int]:
    lines = []
    for node in ast.walk(func):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "drop_constraint"):
            first = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "constraint_name"), None)
            if first is None or (isinstance(first, ast.Constant) and first.value is None):
                lines.append(node.lineno)
    return lines


def analyse_revision_source(source: str) -> list[dict[str, Any]]:
    """Warnings about the revision's downgrade() that make a rollback fail."""
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        return [{"rule": "syntax_error", "severity": "danger",
                 "message": f"The file does not parse: {exc.msg} (line {exc.lineno})."}]
    funcs = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    up, down = funcs.get("upgrade"), funcs.get("downgrade")
    found: list[dict[str, Any]] = []
    if down is None:
        return [{"rule": "no_downgrade", "severity": "danger",
                 "message": "The file has no downgrade(): it cannot be rolled back."}]
    raises = [n.lineno for n in ast.walk(down) if isinstance(n, ast.Raise)]
    if raises:
        found.append({"rule": "downgrade_raises", "severity": "danger",
                      "message": f"downgrade() raises (line {raises[0]}): rolling back past this revision will fail."})
    if _is_trivial(down.body) and up is not None and not _is_trivial(up.body):
        found.append({"rule": "downgrade_empty", "severity": "warning",
                      "message": "downgrade() does nothing while upgrade() changes the schema: a rollback only "
                                 "moves the version table."})
    for line in _unnamed_constraint_drops(down):
        found.append({"rule": "drop_unnamed_constraint", "severity": "danger",
                      "message": f"downgrade() drops a constraint without a name (line {line}): Alembic cannot "
                                 "emit DROP CONSTRAINT for it; name the constraint (naming convention)."})
    return found
