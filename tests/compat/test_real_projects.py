"""Real projects, as the Alembic CLI and SQLAlchemy see them, are what the tool shows and does.

For each pinned project (tests/compat/conftest.py): the graph is Alembic's ScriptDirectory; an
upgrade to head through the API leaves the schema the CLI leaves on a twin; a downgrade does what
the CLI's does, failing the same way when it fails; every revision's preview answers; the model
map is SQLAlchemy's inspect(). ``make compat`` runs all of them; ``make test`` runs the smallest.
"""

from __future__ import annotations

import difflib
import time

import psycopg
import pytest
from psycopg import sql

from tests.compat.conftest import Compat, params, record
from tests.conftest import libpq
from tests.migrations_ui.conftest import schema_of, wait_for_run

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow, pytest.mark.timeout(3600)]
RUN_TIMEOUT = 1200  # airflow's 152 revisions take minutes on a busy two-core machine
by_project = pytest.mark.parametrize("compat", params(), indirect=True)

# Known failures of the tool on a project, marked xfail with the reason (empty: every project passes).
# Classes 1 (relative script_location) and 5 (column_property of a Label) were fixed in issue 9.
KNOWN: dict[tuple[str, str], str] = {}


def known(request: pytest.FixtureRequest, compat: Compat, what: str) -> None:
    reason = KNOWN.get((compat.project.key, what))
    if reason:
        request.applymarker(pytest.mark.xfail(strict=False, reason=reason))


def api_run(api, kind: str, target: str) -> dict:  # type: ignore[no-untyped-def]
    """Start a run through the API (no backup: the databases are fresh) and wait for its end."""
    response = api.post(f"/api/alembic/{kind}", {"target": target, "backup": False}, format="json")
    assert response.status_code == 202, response.content
    wait_for_run(response.json()["run_id"], timeout=RUN_TIMEOUT)
    run: dict = api.get(f"/api/alembic/runs/{response.json()['run_id']}").json()
    return run


def versions(url: str, table: str) -> list[str]:
    """The revisions in the project's version table ([] when the table does not exist)."""
    with psycopg.connect(libpq(url)) as conn:
        exists = conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()
        if not exists or exists[0] is None:
            return []
        query = sql.SQL("SELECT version_num FROM {} ORDER BY 1").format(sql.Identifier(table))
        return [row[0] for row in conn.execute(query)]


def tables(url: str) -> int:
    with psycopg.connect(libpq(url)) as conn:
        row = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
                           ).fetchone()
        return int(row[0]) if row else 0


def diff_lines(a: str, b: str) -> int:
    return sum(1 for line in difflib.unified_diff(a.splitlines(), b.splitlines(), lineterm="", n=0)
               if line[:1] in "+-" and not line.startswith(("+++", "---")))


@by_project
def test_the_graph_is_alembics_own(compat: Compat, request, alice, api_as):
    known(request, compat, "graph")
    expected = compat.reference("graph")
    response = api_as(alice).get("/api/alembic/migrations")
    assert response.status_code == 200, response.content
    body = response.json()
    got = {r["revision"]: {"down": sorted(r["down_revisions"]), "is_head": r["is_head"], "is_merge": r["is_merge"],
                           "branch_labels": sorted(r["branch_labels"])}
           for r in body["revisions"]}
    assert sorted(body["heads"]) == expected["heads"]
    assert got == expected["revisions"]
    assert body["current"] == [] and body["pending_count"] == len(expected["revisions"])
    merges = sum(1 for r in expected["revisions"].values() if r["is_merge"])
    record(compat.project.key, revisions=len(expected["revisions"]), merges=merges, heads=len(expected["heads"]))


@by_project
def test_upgrade_and_downgrade_do_what_the_cli_does(compat: Compat, request, alice, api_as):
    known(request, compat, "runs")
    api = api_as(alice)
    table = compat.project.version_table
    compat.prepare()

    started = time.monotonic()
    run = api_run(api, "upgrade", compat.project.upgrade_to)
    tool_seconds = time.monotonic() - started
    cli = compat.cli("upgrade", compat.project.upgrade_to)
    assert cli["ok"] == compat.project.cli_upgrades, cli.get("traceback")
    if cli["ok"]:
        assert run["status"] == "succeeded", run
    else:  # the CLI cannot do it: the tool fails too, and leaves the database as the CLI does
        assert run["status"] == "failed", run
    tool_schema, cli_schema = schema_of(compat.url), schema_of(compat.twin)
    record(compat.project.key, tables=tables(compat.twin), schema_diff_lines=diff_lines(cli_schema, tool_schema),
           upgrade_seconds_tool=round(tool_seconds, 1), upgrade_seconds_cli=round(cli["seconds"], 1),
           upgrade_cli_ok=cli["ok"], upgrade_tool_status=run["status"])
    assert tool_schema == cli_schema
    assert versions(compat.url, table) == versions(compat.twin, table)
    # What the tool then says about the database: at head, nothing pending (read from env.py's version table).
    status = api.get("/api/alembic/migrations").json()
    pending = 0 if compat.project.upgrade_to == "heads" else None
    status_ok = not cli["ok"] or (sorted(status["current"]) == versions(compat.url, table)
                                  and pending in (None, status["pending_count"]))
    record(compat.project.key, status_after_upgrade=f"current={status['current']} pending={status['pending_count']}")

    # Down to base: the same end state, or the same failure with nothing changed.
    before = schema_of(compat.url)
    run = api_run(api, "downgrade", "base")
    cli = compat.cli("downgrade", "base")
    record(compat.project.key, downgrade_cli=("ok" if cli["ok"] else cli["error"][:160]),
           downgrade_tool=run["status"], downgrade_tool_error=(run.get("error") or "")[:300])
    after_tool, after_cli = schema_of(compat.url), schema_of(compat.twin)
    record(compat.project.key, downgrade_versions_tool=versions(compat.url, table),
           downgrade_versions_cli=versions(compat.twin, table), downgrade_diff=[
               line for line in difflib.unified_diff(after_cli.splitlines(), after_tool.splitlines(), "cli", "tool",
                                                     lineterm="", n=0)][:40])
    assert run["status"] == ("succeeded" if cli["ok"] else "failed"), (run, cli.get("error"))
    assert after_tool == after_cli
    assert versions(compat.url, table) == versions(compat.twin, table)
    # A failed downgrade leaves what the CLI's leaves: nothing changed when env.py runs one transaction,
    # the steps before the failing one when it commits per migration (airflow's transaction_per_migration).
    record(compat.project.key, failed_downgrade_changed_schema=(not cli["ok"]) and after_cli != before)
    if not status_ok and (compat.project.key, "status") in KNOWN:
        pytest.xfail(KNOWN[(compat.project.key, "status")])
    assert status_ok, f"after the upgrade the tool said current={status['current']}, pending={status['pending_count']}"


@by_project
def test_every_revision_preview_answers_with_sql_or_a_reason(compat: Compat, request, alice, api_as):
    known(request, compat, "previews")
    api = api_as(alice)
    body = api.get("/api/alembic/migrations").json()
    answered, with_sql, failures, reasons = 0, 0, [], {}
    for rev in body["revisions"]:
        response = api.get(f"/api/alembic/revisions/{rev['revision']}")
        if response.status_code != 200:
            failures.append(f"{rev['revision']}: HTTP {response.status_code} {response.content[:200]!r}")
            continue
        detail = response.json()
        for direction in ("upgrade_sql", "downgrade_sql"):
            preview = detail[direction]
            if preview["ok"]:
                with_sql += direction == "upgrade_sql" and bool(preview["sql"].strip())
            elif not (preview.get("error") or "").strip():
                failures.append(f"{rev['revision']} {direction}: failed without a reason")
            else:
                reasons.setdefault(preview["error"][:160], rev["revision"])
        answered += 1
    record(compat.project.key, previews_answered=answered, previews_with_upgrade_sql=with_sql,
           previews_total=len(body["revisions"]), preview_failures=failures[:5], preview_reasons=list(reasons)[:5])
    assert failures == []
    assert answered == len(body["revisions"]) > 0


@by_project
def test_the_model_map_is_what_sqlalchemy_inspects(compat: Compat, request, carol, api_as):
    known(request, compat, "models")
    if not compat.project.base:
        pytest.skip(f"{compat.project.key}: compared on graph, runs and previews (its models are not one Base)")
    expected = compat.reference("models", base=compat.project.base)
    response = api_as(carol).get("/api/models")
    assert response.status_code == 200, response.content
    body = response.json()
    got = {m["name"]: {"table": m["table"], "columns": sorted(c["attr"] for c in m["columns"]),
                       "expressions": sorted(p["name"] for p in m.get("properties", [])
                                             if p["kind"] in ("expression", "query_expression")),
                       "primary_key": sorted(c["name"] for c in m["columns"] if c["primary_key"]),
                       "relationships": sorted([r["name"], r["target"]] for r in m["relationships"])}
           for m in body["models"]}
    record(compat.project.key, models_expected=len(expected), models_shown=len(got),
           model_errors=len(body.get("errors") or []))
    assert body["errors"] == [] and body["runner_error"] is None
    assert got == expected
