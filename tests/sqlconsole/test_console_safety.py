"""The console is safe by default: read-only, timed out, cancellable, capped, audited."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest

from core.models import AuditEntry
from sqlconsole import registry, services
from sqlconsole.models import QueryHistory
from tests.conftest import libpq
from tests.sqlconsole.conftest import scalar


def query(api, sql: str, **extra):  # type: ignore[no-untyped-def]
    return api.post("/api/database/query", {"sql": sql, **extra}, format="json")


def test_insert_in_read_only_mode_is_refused_before_it_runs_with_a_clear_message(shop, bob, api_as):
    response = query(api_as(bob), "SELECT 1;\nINSERT INTO accounts (name, balance) VALUES ('mallory', 1)")
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "read_only"
    assert "read-only" in error["message"] and "Nothing ran" in error["message"]
    assert "write mode" in error["hint"]
    assert error["detail"]["position"] == len("SELECT 1;\n")  # where the editor marks it
    assert scalar(shop, "SELECT count(*) FROM accounts WHERE name = 'mallory'") == 0
    assert AuditEntry.objects.filter(action="sql.refused", username="bob", outcome="denied").exists()


def test_transaction_control_cannot_escape_the_read_only_transaction(shop, bob, api_as):
    insert = "INSERT INTO accounts (name, balance) VALUES ('eve', 1)"
    for control in ("COMMIT", "END", "ROLLBACK", "BEGIN"):
        results = query(api_as(bob), f"{control}; SELECT 1").json()["results"]
        # a script's own transaction control is skipped with a notice; the run stays one read-only transaction
        assert results[0]["command"] == f"{control} (ignored)" and "skipped" in results[0]["notices"][0]
        assert results[1]["rows"] == [[1]], control
        # …and an INSERT after it is refused before anything runs
        assert query(api_as(bob), f"{control}; {insert}").json()["error"]["code"] == "read_only", control
    for refused in ("SET TRANSACTION READ WRITE", "SAVEPOINT s1", "RELEASE SAVEPOINT s1",
                    "ROLLBACK TO SAVEPOINT s1", "PREPARE TRANSACTION 'x'", "COMMIT PREPARED 'x'",
                    "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE", "RESET ALL", "SET ROLE postgres"):
        response = query(api_as(bob), f"{refused}; SELECT 1")
        assert response.status_code == 403, refused
        assert response.json()["error"]["code"] in ("not_allowed", "read_only"), refused
    assert scalar(shop, "SELECT count(*) FROM accounts WHERE name = 'eve'") == 0


def test_two_commands_in_one_message_are_refused_by_the_server_even_if_the_splitter_missed_them(shop):
    with psycopg.connect(libpq(shop), autocommit=True) as conn, services._ExtendedCursor(conn) as cur:
        with pytest.raises(psycopg.errors.SyntaxError, match="multiple commands"):
            cur.execute("SELECT 1; INSERT INTO accounts (name, balance) VALUES ('eve', 1)")
    assert scalar(shop, "SELECT count(*) FROM accounts WHERE name = 'eve'") == 0


def test_viewer_cannot_enable_write_mode(shop, carol, client_as, api_as):
    client = client_as(carol)
    response = client.post("/sql/write-mode", {"enabled": "1"}, follow=True)
    assert "admin role" in response.content.decode()
    assert not client.session.get("sqlconsole_write_mode")
    assert AuditEntry.objects.filter(action="sql.write_mode", username="carol", outcome="denied").exists()
    # …nor write through the API.
    response = query(api_as(carol), "DELETE FROM accounts", write=True)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    assert scalar(shop, "SELECT count(*) FROM accounts") == 5


def test_editor_cannot_write_through_the_console_either(shop, bob, api_as):
    response = query(api_as(bob), "DELETE FROM accounts", write=True)
    assert response.status_code == 403
    assert scalar(shop, "SELECT count(*) FROM accounts") == 5


def test_admin_write_mode_shows_a_red_banner_commits_and_is_audited(shop, alice, client_as):
    client = client_as(alice)
    assert "Write mode is ON" not in client.get("/sql").content.decode()
    client.post("/sql/write-mode", {"enabled": "1"})
    page = client.get("/sql").content.decode()
    assert "Write mode is ON" in page and "banner-danger" in page
    assert AuditEntry.objects.filter(action="sql.write_mode", target="on", username="alice", outcome="ok").exists()

    response = client.post("/sql", {"sql": "INSERT INTO accounts (name, balance) VALUES ('written', 7)",
                                    "action": "run"})
    assert response.status_code == 200
    assert "INSERT 0 1" in response.content.decode()
    assert scalar(shop, "SELECT balance FROM accounts WHERE name = 'written'") == 7
    entry = AuditEntry.objects.get(action="sql.execute", username="alice")
    assert "written" in entry.message and entry.outcome == "ok"

    client.post("/sql/write-mode", {"enabled": "0"})
    assert AuditEntry.objects.filter(action="sql.write_mode", target="off", username="alice").exists()
    assert "Write mode is ON" not in client.get("/sql").content.decode()
    with psycopg.connect(libpq(shop), autocommit=True) as conn:
        conn.execute("DELETE FROM accounts WHERE name = 'written'")


def test_multi_statement_script_reports_each_statement_and_stops_at_the_error(shop, bob, api_as):
    script = ("SELECT name FROM accounts ORDER BY id;\n"
              "SET TimeZone = 'UTC';\n"
              "SELECT count(*) AS n FROM ledger;\n"
              "SELEC broken;\n"
              "SELECT 42")
    data = query(api_as(bob), script).json()
    results = data["results"]
    assert [r["outcome"] for r in results] == ["ok", "ok", "ok", "error", "skipped"]
    assert results[0]["rows"] == [[f"account {i}"] for i in range(1, 6)]
    assert results[0]["row_count"] == 5 and results[0]["columns"] == [{"name": "name", "type": "text", "numeric": False}]
    assert [c["numeric"] for c in results[2]["columns"]] == [True]  # count(*): right-aligned in the grid
    assert results[1]["command"] == "SET"
    assert results[2]["rows"] == [[scalar(shop, "SELECT count(*) FROM ledger")]]
    assert all(r["duration_ms"] >= 0 for r in results[:4])
    error = results[3]["error"]
    assert script[error["position"]:].startswith("SELEC broken")  # the position is in the script
    assert error["sqlstate"] == "42601"
    # history: the four statements that ran, none for the skipped one
    history = list(QueryHistory.objects.filter(user=bob).order_by("started_at"))
    assert [h.outcome for h in history] == ["ok", "ok", "ok", "error"]
    assert history[1].sql.startswith("SET") and history[0].rows == 5


def test_notices_of_a_write_mode_block_are_reported_with_its_statement(shop, alice, api_as):
    script = "SELECT 1;\nDO $$ BEGIN RAISE NOTICE 'checked % accounts', 5; END $$"
    results = query(api_as(alice), script, write=True).json()["results"]
    assert results[1]["notices"] == ["NOTICE: checked 5 accounts"]
    # in read mode a DO block is refused: it could do anything
    refused = query(api_as(alice), script)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "not_allowed"
    assert script[refused.json()["error"]["detail"]["position"]:].startswith("DO $$")


def test_run_the_statement_under_the_cursor_only(shop, bob, api_as):
    script = "SELECT 1 AS first;\nSELECT 2 AS second;"
    results = query(api_as(bob), script, at=script.index("2")).json()["results"]
    assert len(results) == 1 and results[0]["rows"] == [[2]] and results[0]["start"] == script.index("SELECT 2")


def test_statement_timeout_stops_a_slow_query(shop, bob, api_as, settings):
    settings.STATEMENT_TIMEOUT_MS = 300
    result = query(api_as(bob), "SELECT pg_sleep(5)").json()["results"][0]
    assert result["outcome"] == "timeout"
    assert result["error"]["code"] == "statement_timeout" and "300 ms" in result["error"]["message"]


@pytest.mark.django_db(transaction=True)
def test_a_running_pg_sleep_is_cancelled_from_a_second_request(shop, bob, carol, api_as):
    outcome: dict = {}

    def run() -> None:
        from django.db import connection

        try:
            outcome["response"] = query(api_as(bob), "SELECT pg_sleep(60)", query_id="sleepy-1")
        finally:
            connection.close()

    worker = threading.Thread(target=run)
    worker.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # wait until the sleep really runs on the server
        entry = registry._running.get("sleepy-1")
        if entry and scalar(shop, f"SELECT count(*) FROM pg_stat_activity WHERE pid = {entry.pid} "
                                  "AND wait_event = 'PgSleep' AND state = 'active'"):
            break
        time.sleep(0.05)
    # carol may not cancel bob's query
    denied = api_as(carol).post("/api/database/query/cancel", {"query_id": "sleepy-1"}, format="json")
    assert denied.status_code == 403
    cancelled = api_as(bob).post("/api/database/query/cancel", {"query_id": "sleepy-1"}, format="json")
    assert cancelled.status_code == 200 and cancelled.json()["cancelled"] is True
    worker.join(timeout=20)
    assert not worker.is_alive()
    result = outcome["response"].json()["results"][0]
    assert result["outcome"] == "cancelled"
    assert result["error"]["message"] == "The query was cancelled by bob."
    assert QueryHistory.objects.get(user=bob).outcome == "cancelled"
    # finished queries are no longer cancellable
    again = api_as(bob).post("/api/database/query/cancel", {"query_id": "sleepy-1"}, format="json")
    assert again.status_code == 404


def test_a_closed_tab_beacon_reaches_the_cancel_endpoint_with_its_form_body(shop, bob):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(bob)
    client.get("/sql")
    token = client.cookies["csrftoken"].value
    # navigator.sendBeacon sends multipart form data with the CSRF token as a field
    response = client.post("/api/database/query/cancel", {"query_id": "gone-tab", "csrfmiddlewaretoken": token})
    assert response.status_code == 404  # accepted (CSRF and parsing passed); nothing runs under that id
    assert client.post("/api/database/query/cancel", {"query_id": "gone-tab"}).status_code == 403  # no token


def test_row_cap_with_fetch_more_continues_the_same_cursor(shop, bob, carol, api_as):
    total = 25_000
    api = api_as(bob)
    first = query(api, f"SELECT g FROM generate_series(1, {total}) g").json()["results"][0]
    cap = services.ROW_CAP
    assert first["row_count"] == cap and first["has_more"] and first["cursor"]
    assert first["rows"][-1] == [cap]
    seen = [r[0] for r in first["rows"]]
    assert api_as(carol).post("/api/database/query/more", {"cursor": first["cursor"]}, format="json").status_code == 403
    cursor = first["cursor"]
    while cursor:
        page = api.post("/api/database/query/more", {"cursor": cursor}, format="json").json()
        seen += [r[0] for r in page["rows"]]
        cursor = page["cursor"]
        assert page["has_more"] == bool(cursor)
    assert seen == list(range(1, total + 1))
    assert services.held_count() == 0  # the connection went back to the pool once the cursor was drained
    gone = api.post("/api/database/query/more", {"cursor": first["cursor"]}, format="json")
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "cursor_expired"


def test_explain_analyze_of_a_delete_runs_in_a_rolled_back_transaction(shop, alice, bob, api_as):
    before = scalar(shop, "SELECT count(*) FROM ledger")
    data = query(api_as(alice), "DELETE FROM ledger WHERE bucket < 50", explain=True, analyze=True, write=True).json()
    result = data["results"][0]
    assert result["outcome"] == "ok"
    plan = result["plan"]
    assert plan["analyze"] and plan["rolled_back"] and plan["wrote"]
    assert "rolled back" in " ".join(result["notices"])
    delete_node = plan["tree"]["nodes"][0]
    assert delete_node["label"] == "Delete (ModifyTable)"
    assert scalar(shop, "SELECT count(*) FROM ledger") == before
    # In read mode the same request is refused before it runs, with nothing deleted.
    refused = query(api_as(bob), "DELETE FROM ledger", explain=True, analyze=True)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "read_only"
    assert scalar(shop, "SELECT count(*) FROM ledger") == before


def test_open_results_expire_and_a_new_run_replaces_them(shop, bob, api_as):
    api = api_as(bob)
    big = "SELECT g FROM generate_series(1, 20000) g"
    first = query(api, big).json()["results"][0]["cursor"]
    second = query(api, big).json()["results"][0]["cursor"]
    assert services.held_count() == 1  # one open run per user: the new one replaced the first
    assert api.post("/api/database/query/more", {"cursor": first}, format="json").status_code == 404
    assert services.expire_held(now=time.monotonic() + services.HOLD_SECONDS + 1) == 1
    assert api.post("/api/database/query/more", {"cursor": second}, format="json").status_code == 404
    # the held transaction is gone from the server, not just forgotten
    assert scalar(shop, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgadmin-tool' "
                        "AND datname = current_database() AND state LIKE 'idle in transaction%'") == 0


def test_values_python_cannot_hold_are_shown_as_postgresql_prints_them(shop, bob, api_as):
    sql = ("SELECT 'infinity'::date AS d, '-infinity'::timestamptz AS ts, 12345678901234567890::numeric AS n, "
           "(2^60)::bigint AS big, '\\xdead'::bytea AS b, '{\"a\": [1, null]}'::jsonb AS j, NULL AS nothing")
    for run in ({}, {"write": False, "at": 0}):
        result = query(api_as(bob), sql, **run).json()["results"][0]
        assert result["outcome"] == "ok", result["error"]
        assert result["rows"] == [["infinity", "-infinity", "12345678901234567890", str(2**60), "\\xdead",
                                   {"a": [1, None]}, None]]


def test_a_nul_character_is_a_bad_request_not_a_crash(shop, bob, client_as):
    response = client_as(bob).post("/sql", {"sql": "SELECT 1\x00", "action": "run"})
    assert response.status_code == 400


def test_session_changes_made_in_the_console_never_reach_the_rest_of_the_tool(shop, alice, api_as, settings):
    from sqlalchemy import text

    from core import target

    script = "SET statement_timeout = 0; SET search_path = nowhere; SELECT pg_advisory_lock(42)"
    results = query(api_as(alice), script, write=True).json()["results"]
    assert [r["outcome"] for r in results] == ["ok", "ok", "ok"]
    for _ in range(3):  # whichever pooled connection the tool gets next
        with target.connect() as conn:
            assert conn.execute(text("SHOW search_path")).scalar() == '"$user", public'
            timeout_ms = conn.execute(text("SELECT setting::int FROM pg_settings WHERE name = 'statement_timeout'")).scalar()
            assert timeout_ms == settings.STATEMENT_TIMEOUT_MS
    held = ("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 42 "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")
    deadline = time.monotonic() + 5  # the closed session's backend exits asynchronously
    while scalar(shop, held) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert scalar(shop, held) == 0
