"""The read-mode guard reads statements with PostgreSQL's own parser (no database needed here)."""

from __future__ import annotations

import pytest

from sqlconsole import guard


def check(script: str) -> list[guard.Checked]:
    return [guard.check_read(s) for s in guard.split(script)]


def test_the_parser_splits_where_postgresql_does_even_inside_a_function_body():
    script = ("SELECT ';' AS semi; -- a comment; with a semicolon\n"
              "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END;\n"
              "SELECT $x$;$x$")
    pieces = guard.split(script)
    assert [p.text for p in pieces] == ["SELECT ';' AS semi",
                                        "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END",
                                        "SELECT $x$;$x$"]
    assert all(script[p.start:p.end] == p.text for p in pieces)


def test_a_script_that_does_not_parse_is_still_split_and_the_error_has_its_position():
    script = "SELECT 'é';\nSELEC broken;\nSELECT 2"
    pieces = guard.split(script)
    assert len(pieces) == 3
    checked = [guard.check_read(p) for p in pieces]
    assert checked[0].kind == "query" and checked[1].kind == "syntax_error"
    message, position = checked[1].syntax_error  # type: ignore[misc]
    assert script[position:].startswith("SELEC") and "syntax error" in message


def test_positions_count_characters_not_utf8_bytes():
    script = "SELECT 'ééé', pg_read_file('x')"
    with pytest.raises(guard.ReadModeRefused) as refused:
        guard.check_functions(None, check(script))
    assert script[refused.value.detail["position"]:].startswith("pg_read_file(")


@pytest.mark.parametrize("sql", [
    'SELECT "PG_READ_FILE"(\'x\')', "SELECT pg_catalog.pg_read_file('x')", "SELECT lo_import('/etc/passwd')",
    "SELECT * FROM dblink('', 'DELETE FROM t') AS x(a int)", "SELECT pg_try_advisory_lock(1)",
    "SELECT x FROM (SELECT nextval('s') AS x) y", "SELECT (SELECT setval('s', 1))", "SELECT loread(0, 1)",
])
def test_admin_functions_are_refused_by_name_wherever_they_are(sql):
    with pytest.raises(guard.ReadModeRefused) as refused:
        guard.check_functions(None, check(sql))
    assert refused.value.code == "not_allowed" and refused.value.status == 403


@pytest.mark.parametrize("sql, code", [
    ("SELECT * FROM t FOR UPDATE", "read_only"),
    ("WITH a AS (SELECT * FROM t), b AS (SELECT * FROM a FOR KEY SHARE) SELECT 1", "read_only"),
    ("WITH d AS (UPDATE t SET v = 1 RETURNING *) SELECT * FROM d", "read_only"),
    ("SELECT 1 INTO TEMP x", "read_only"),
    ("EXPLAIN ANALYZE DELETE FROM t", "read_only"),
    ("SET LOCAL search_path = evil", "not_allowed"),
    ("SET SESSION AUTHORIZATION postgres", "not_allowed"),
    ("RESET ALL", "not_allowed"),
    ("COPY t TO STDOUT", "not_allowed"),
    ("VACUUM t", "not_allowed"),
    ("\\d t", "read_mode_refused"),
])
def test_statements_that_are_not_plain_reads_are_refused_before_any_database_work(sql, code):
    with pytest.raises(guard.ReadModeRefused) as refused:
        check(sql)
    assert refused.value.code == code
    assert "Nothing ran" in refused.value.message or sql.startswith("\\")


def test_reads_and_harmless_settings_pass():
    kinds = [c.kind for c in check("TABLE t; VALUES (1); SHOW work_mem; SET enable_seqscan = off; RESET TimeZone; "
                                   "EXPLAIN (ANALYZE, BUFFERS) WITH x AS (SELECT 1) SELECT * FROM x; BEGIN; COMMIT")]
    assert kinds == ["query", "query", "show", "set", "set", "explain", "tx_ignored", "tx_ignored"]


def test_the_volatile_allow_list_holds_no_admin_function():
    assert not [name for name in guard.VOLATILE_ALLOWED if guard.is_admin_function(name)]
