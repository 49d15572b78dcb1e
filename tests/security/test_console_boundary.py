"""Read mode is a boundary: every repro of issue 10 (items 1-4) is refused before it runs.

Each attack is played against both target roles (``role_target``: a limited application role that
owns the database, and a superuser) by carol the viewer — who, with a superuser target and no
reader role, gets no console at all — and by alice the admin in read mode, who runs as the target
role itself, so the parser and the catalogue checks are what stop her. After every refusal:
nothing changed (no lock held, the victim session alive, no file written, the sequence untouched)
and the refusal is in the audit log.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from core.models import AuditEntry
from tests.conftest import libpq


@pytest.fixture(scope="module")
def arena(security_roles: dict[str, str]) -> str:
    """A table ``t`` and a sequence ``s`` owned by the application role (readable by both roles)."""
    with psycopg.connect(libpq(security_roles["app"]), autocommit=True) as conn:
        conn.execute("CREATE TABLE t (id serial PRIMARY KEY, v text)")
        conn.execute("INSERT INTO t (v) SELECT 'row ' || g FROM generate_series(1, 50) g")
        conn.execute("CREATE SEQUENCE s")
        conn.execute("SELECT nextval('s')")
    return security_roles["superuser"]


@pytest.fixture
def attack(arena: str, role_target: str) -> Iterator[str]:
    from core import reader_role

    reader_role.forget()
    yield role_target
    reader_role.forget()
    from sqlconsole import services

    for user_id in {h.user_id for h in list(services._held.values())}:
        services.release_user(user_id)


@pytest.fixture
def victim(arena: str) -> Iterator[int]:
    """Another application's session: its pid must survive every attack."""
    with psycopg.connect(libpq(arena) + "?application_name=victim_app", autocommit=True) as conn:
        yield int(conn.info.backend_pid)


def scalar(url: str, query: str, params: tuple[object, ...] = ()) -> object:
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        row = conn.execute(query, params).fetchone()  # type: ignore[arg-type]
        return row[0] if row else None


def run(api, sql: str, **extra):  # type: ignore[no-untyped-def]
    return api.post("/api/database/query", {"sql": sql, **extra}, format="json")


def assert_refused(response, *codes: str) -> dict:  # type: ignore[no-untyped-def]
    """A clear 4xx with a message and a hint, and nothing ran."""
    assert response.status_code == 403, response.content
    error = response.json()["error"]
    assert error["code"] in codes, error
    assert error["message"] and error["hint"]
    return error


def tool_locks(url: str) -> int:
    """Locks held by the tool's own sessions on anything but virtual transaction ids."""
    return int(scalar(url, "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) "  # type: ignore[arg-type]
                           "WHERE a.application_name LIKE 'pgadmin-tool%%' AND l.locktype <> 'virtualxid' "
                           "AND a.datname = current_database()"))


LOCKING = [
    "LOCK TABLE t IN ACCESS EXCLUSIVE MODE",
    "LOCK t",
    "SELECT * FROM t FOR UPDATE",
    "SELECT * FROM t FOR SHARE",
    "SELECT * FROM t FOR NO KEY UPDATE",
    "select * from t for key share nowait",
    "SELECT * FROM (SELECT * FROM t FOR UPDATE) x",
    "WITH x AS (SELECT * FROM t FOR UPDATE SKIP LOCKED) SELECT * FROM x",
    "SELECT (SELECT id FROM t WHERE id = 1 FOR UPDATE)",
    "SELECT * FROM t WHERE id IN (SELECT id FROM t FOR SHARE)",
    "EXPLAIN ANALYZE SELECT * FROM t FOR UPDATE",
    "SELECT pg_advisory_lock(42)",
    "SELECT pg_try_advisory_xact_lock(42)",
    "SELECT pg_catalog.pg_advisory_lock_shared(42)",
]


@pytest.mark.parametrize("sql", LOCKING)
def test_viewer_and_admin_in_read_mode_cannot_take_locks(attack, arena, carol, alice, api_as, sql):
    for user in (carol, alice):
        assert_refused(run(api_as(user), f"SELECT 1;\n{sql};\nSELECT 2"), "read_only", "not_allowed",
                       "console_unsafe_role")
        assert tool_locks(arena) == 0
    assert AuditEntry.objects.filter(action="sql.refused", username="alice", outcome="denied").exists()
    assert AuditEntry.objects.filter(action="sql.refused", username="carol", outcome="denied").exists()


KILLERS = [
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'victim_app'",
    "SELECT pg_catalog.pg_terminate_backend({pid})",
    'SELECT "pg_terminate_backend"({pid})',
    "SELECT pg_cancel_backend({pid})",
    "WITH v AS (SELECT pg_terminate_backend({pid}) AS k) SELECT * FROM v",
    "SELECT * FROM t WHERE id = (SELECT CASE WHEN pg_terminate_backend({pid}) THEN 1 END)",
    "SELECT x FROM (VALUES (1)) v(x), LATERAL (SELECT pg_terminate_backend({pid})) k",
    "EXPLAIN ANALYZE SELECT pg_terminate_backend({pid})",
    "SELECT query_to_xml('SELECT pg_terminate_backend({pid})', true, true, '')",
    "SELECT set_config('statement_timeout', '0', false)",
]


@pytest.mark.parametrize("sql", KILLERS)
def test_no_one_in_read_mode_can_end_another_session(attack, arena, victim, carol, alice, api_as, sql):
    for user in (carol, alice):
        assert_refused(run(api_as(user), sql.format(pid=victim)), "not_allowed", "console_unsafe_role")
    assert scalar(arena, "SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (victim,)) == 1
    assert AuditEntry.objects.filter(action="sql.refused", username="alice").count() >= 1


def test_the_admin_function_refusal_points_at_the_call(attack, alice, api_as, victim):
    sql = f"SELECT 1;\nSELECT id FROM t WHERE pg_terminate_backend({victim})"
    error = assert_refused(run(api_as(alice), sql), "not_allowed")
    assert sql[error["detail"]["position"]:].startswith("pg_terminate_backend(")
    assert "pg_terminate_backend" in error["message"] and "Nothing ran" in error["message"]


def test_host_files_and_programs_are_out_of_reach(attack, arena, carol, alice, api_as, tmp_path: Path):
    marker = Path("/tmp") / f"pgadmin_console_attack_{uuid.uuid4().hex}"
    attacks = [
        f"COPY (SELECT 1) TO PROGRAM 'touch {marker}'",
        f"COPY t TO '{marker}'",
        "COPY t FROM PROGRAM 'id'",
        "SELECT pg_read_file('/etc/hostname')",
        "SELECT pg_read_binary_file('/etc/hostname')",
        "SELECT pg_catalog.pg_read_file('PG_VERSION')",
        'SELECT "pg_read_file"(\'/etc/hostname\')',
        "SELECT * FROM pg_ls_dir('.')",
        "SELECT pg_stat_file('PG_VERSION')",
        "SELECT lo_import('/etc/hostname')",
        f"SELECT lo_export(1, '{marker}')",
        "SELECT dblink_exec('dbname=postgres', 'CREATE TABLE pwned ()')",
        "SELECT pg_reload_conf()",
        "SELECT pg_rotate_logfile()",
        "DO $$ BEGIN PERFORM pg_sleep(0); END $$",
        "CALL some_procedure()",
        "SELECT length(x) FROM (SELECT pg_read_file('/etc/hostname') AS x) y",
        "SELECT * INTO stolen FROM t",
        "CREATE TABLE pwned ()",
    ]
    for sql in attacks:
        for user in (carol, alice):
            assert_refused(run(api_as(user), sql), "not_allowed", "read_only", "console_unsafe_role")
    assert not marker.exists()
    assert scalar(arena, "SELECT count(*) FROM pg_class WHERE relname IN ('pwned', 'stolen')") == 0


def test_side_effects_are_refused_and_sequences_do_not_move(attack, arena, carol, alice, api_as):
    before = scalar(arena, "SELECT last_value FROM s")
    attacks = [
        "SELECT nextval('s')", "SELECT setval('s', 1000)", "SELECT pg_catalog.nextval('s'::regclass)",
        "LISTEN x", "NOTIFY x, 'hi'", "UNLISTEN *", "SELECT pg_notify('x', 'hi')",
        "SELECT pg_logical_emit_message(false, 'x', 'y')", "PREPARE p AS SELECT 1", "EXECUTE p",
        "DEALLOCATE ALL", "SET search_path = evil", "SET ROLE NONE", "RESET statement_timeout",
        "SET statement_timeout = 0", "SET work_mem = '64GB'", "SELECT txid_current()",
        "WITH d AS (DELETE FROM t RETURNING *) SELECT count(*) FROM d",
        "WITH i AS (INSERT INTO t (v) VALUES ('x') RETURNING id) SELECT * FROM i",
        "EXPLAIN ANALYZE INSERT INTO t (v) VALUES ('x')",
    ]
    for sql in attacks:
        for user in (carol, alice):
            assert_refused(run(api_as(user), sql), "not_allowed", "read_only", "console_unsafe_role")
    assert scalar(arena, "SELECT last_value FROM s") == before
    assert scalar(arena, "SELECT count(*) FROM t") == 50


def test_a_user_defined_volatile_function_is_refused_a_stable_one_runs(attack, arena, security_roles, alice, api_as):
    with psycopg.connect(libpq(security_roles["app"]), autocommit=True) as conn:
        conn.execute("CREATE OR REPLACE FUNCTION bump() RETURNS bigint LANGUAGE sql AS $$ SELECT nextval('s') $$")
        conn.execute("CREATE OR REPLACE FUNCTION rows_of_t() RETURNS bigint LANGUAGE sql STABLE "
                      "AS $$ SELECT count(*) FROM t $$")
    before = scalar(arena, "SELECT last_value FROM s")
    error = assert_refused(run(api_as(alice), "SELECT bump()"), "not_allowed")
    assert "VOLATILE" in error["message"] and "STABLE" in error["hint"]
    assert scalar(arena, "SELECT last_value FROM s") == before
    ok = run(api_as(alice), "SELECT rows_of_t(), now() <= clock_timestamp(), random() < 2, gen_random_uuid() IS NOT NULL")
    assert ok.status_code == 200 and ok.json()["results"][0]["rows"] == [[50, True, True, True]]


def test_harmless_reads_still_work_for_the_viewer_with_the_limited_role(attack, carol, api_as):
    if attack != "app":
        pytest.skip("with a superuser target and no reader role the viewer has no console (next test)")
    script = ("SET TimeZone = 'UTC';\nSHOW TimeZone;\nWITH x AS (SELECT id FROM t) SELECT count(*) FROM x;\n"
              "VALUES (1), (2);\nTABLE t;\nEXPLAIN SELECT * FROM t;\nSELECT pg_sleep(0.01), currval IS NULL "
              "FROM (SELECT NULL AS currval) c;\nBEGIN;\nCOMMIT")
    response = run(api_as(carol), script)
    assert response.status_code == 200, response.content
    assert [r["outcome"] for r in response.json()["results"]] == ["ok"] * 9


def test_with_a_dangerous_role_and_no_reader_the_viewer_gets_no_console_but_the_admin_does(attack, carol, bob,
                                                                                          alice, api_as):
    if attack != "superuser":
        pytest.skip("the limited application role holds none of the dangerous roles")
    for user in (carol, bob):
        error = assert_refused(run(api_as(user), "SELECT 1"), "console_unsafe_role")
        assert "SUPERUSER" in error["message"] and "create_reader_role" in error["hint"]
    assert AuditEntry.objects.filter(action="sql.refused", username="carol",
                                     after__code="console_unsafe_role").exists()
    assert run(api_as(alice), "SELECT 1").status_code == 200


def test_the_console_page_tells_the_viewer_why_it_is_off_and_how_to_fix_it(attack, carol, client_as):
    page = client_as(carol).get("/sql").content.decode()
    if attack == "superuser":
        assert "data-console-refusal" in page and "create_reader_role" in page
    else:
        assert "data-console-refusal" not in page


def test_a_held_result_lives_at_most_the_hold_limit_whatever_fetch_more_does(attack, arena, alice, api_as,
                                                                            settings):
    # Times count from before the run (the hold starts when the result is kept, inside the request), with
    # margins wide enough for a loaded CI machine: fetch-more works early and later, renews nothing.
    settings.CONSOLE_HOLD_MAX_MS = 4000
    api = api_as(alice)
    started = time.monotonic()
    first = run(api, "SELECT g FROM generate_series(1, 100000) g").json()["results"][0]
    returned = time.monotonic()  # the result was kept between `started` and now: its life ends in between + 4 s
    assert first["cursor"]
    for at in (0.0, 2.5):  # seconds after the start: both well inside the 4 s hold
        time.sleep(max(0.0, started + at - time.monotonic()))
        more = api.post("/api/database/query/more", {"cursor": first["cursor"], "count": 10}, format="json")
        assert more.status_code == 200 and more.json()["has_more"]  # fetch-more works, but renews nothing
    time.sleep(max(0.0, returned + 4.3 - time.monotonic()))
    gone = api.post("/api/database/query/more", {"cursor": first["cursor"], "count": 10}, format="json")
    assert gone.status_code == 404 and "PGADMIN_CONSOLE_HOLD_MAX" in gone.json()["error"]["message"]
    assert scalar(arena, "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'pgadmin-tool%%' "
                         "AND datname = current_database() AND state LIKE 'idle in transaction%%'") == 0


def test_a_read_waits_for_a_lock_at_most_the_console_lock_timeout(attack, arena, alice, api_as, settings):
    settings.CONSOLE_LOCK_TIMEOUT_MS = 300
    with psycopg.connect(libpq(arena)) as holder:
        holder.execute("LOCK TABLE t IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        result = run(api_as(alice), "SELECT count(*) FROM t").json()["results"][0]
        elapsed = time.monotonic() - started
        holder.rollback()
    assert result["outcome"] == "error" and result["error"]["sqlstate"] == "55P03"
    assert elapsed < 5


def test_explain_analyze_in_write_mode_says_that_sequence_values_stay_used(attack, arena, alice, api_as):
    before_rows = scalar(arena, "SELECT count(*) FROM t")
    before_seq = scalar(arena, "SELECT last_value FROM t_id_seq")
    response = run(api_as(alice), "INSERT INTO t (v) VALUES ('x'), ('y')", write=True, explain=True, analyze=True)
    result = response.json()["results"][0]
    assert result["outcome"] == "ok" and result["plan"]["lasting_effects"]
    assert any("sequence values it drew" in n and "NOT" in n for n in result["notices"])
    assert not any("no rows were changed" in n for n in result["notices"])
    # …which is the truth: the rows are gone, the sequence moved on.
    assert scalar(arena, "SELECT count(*) FROM t") == before_rows
    assert scalar(arena, "SELECT last_value FROM t_id_seq") == before_seq + 2  # type: ignore[operator]
    # A rolled-back DELETE has no such effect and says "no rows were changed".
    plain = run(api_as(alice), "DELETE FROM t WHERE id < 0", write=True, explain=True, analyze=True).json()
    assert not plain["results"][0]["plan"]["lasting_effects"]


def test_the_plain_form_shows_the_refusal_with_its_hint_too(attack, arena, alice, client_as):
    response = client_as(alice).post("/sql", {"sql": "LOCK TABLE t IN ACCESS EXCLUSIVE MODE", "action": "run"})
    assert response.status_code == 403
    page = response.content.decode()
    assert "data-run-error" in page and "LOCK is not allowed in read mode" in page and "Nothing ran" in page
    assert tool_locks(arena) == 0
    assert AuditEntry.objects.filter(action="sql.refused", username="alice", target__startswith="LOCK").exists()
