"""Cancelling a running run: the child is killed, the run ends failed, the lock is freed, all audited."""

from __future__ import annotations

import time

import psycopg
import pytest

from core.models import AuditEntry
from migrations_ui import jobs
from migrations_ui.models import Run
from tests.conftest import libpq
from tests.migrations_ui.conftest import wait_for_run
from tests.migrations_ui.test_runs import lock_is_free, version_table

pytestmark = pytest.mark.django_db(transaction=True)


def start_slow_run(api) -> int:  # type: ignore[no-untyped-def]
    """Start the slow fixture's upgrade and wait until env.py is connected and migrating."""
    response = api.post("/api/alembic/upgrade", {"target": "heads", "backup": False}, format="json")
    assert response.status_code == 202, response.content
    run_id = response.json()["run_id"]
    deadline = time.monotonic() + 30
    while not jobs.backend_pids(run_id) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert jobs.backend_pids(run_id), "env.py never connected"
    time.sleep(0.3)  # into s1_slow's pg_sleep(30)
    return run_id


def sleeping_backends(url: str) -> int:
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                            "AND query LIKE '%pg_sleep(30)%' AND pid <> pg_backend_pid()").fetchone()[0]


def test_an_admin_cancels_a_running_upgrade_through_the_api(use_project, alice, bob, carol, api_as):
    url = use_project("slow")
    run_id = start_slow_run(api_as(alice))
    assert not lock_is_free(url)
    for user in (bob, carol):  # editors and viewers cannot
        assert api_as(user).post(f"/api/alembic/runs/{run_id}/cancel").status_code == 403
    assert Run.objects.get(pk=run_id).status == "running"

    response = api_as(alice).post(f"/api/alembic/runs/{run_id}/cancel")
    assert response.status_code == 202 and response.json()["run_id"] == run_id
    wait_for_run(run_id, timeout=20)  # long before the migration's 30 s sleep ends
    run = api_as(alice).get(f"/api/alembic/runs/{run_id}").json()
    assert run["status"] == "failed" and run["error"] == "cancelled by alice"
    # the database is at a known revision: re-read after the kill, and the half-done migration rolled back
    assert run["to_revisions"] == [] == version_table(url)
    assert run["check"]["version_table"] == []
    with psycopg.connect(libpq(url)) as conn:
        assert conn.execute("SELECT to_regclass('slow_marker')").fetchone()[0] is None
    deadline = time.monotonic() + 5
    while sleeping_backends(url) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sleeping_backends(url) == 0  # its session was ended, not left sleeping with its locks
    assert lock_is_free(url)
    texts = [line["text"] for line in run["lines"]]
    assert "Cancel requested by alice." in texts and any(t.startswith("Version table now") for t in texts)
    audit = {e.action: e for e in AuditEntry.objects.filter(action__in=["alembic.cancel", "alembic.upgrade"])}
    assert (audit["alembic.cancel"].outcome, audit["alembic.cancel"].username) == ("ok", "alice")
    assert (audit["alembic.upgrade"].outcome, audit["alembic.upgrade"].message) == ("failed", "cancelled by alice")
    # a finished run cannot be cancelled again
    assert api_as(alice).post(f"/api/alembic/runs/{run_id}/cancel").status_code == 409


def test_the_run_page_offers_cancel_with_a_confirmation(use_project, alice, carol, api_as, client_as):
    url = use_project("slow")
    run_id = start_slow_run(api_as(alice))
    viewer = client_as(carol).get(f"/alembic/runs/{run_id}").content.decode()
    assert 'id="run-cancel"' not in viewer
    assert client_as(carol).post(f"/alembic/runs/{run_id}/cancel").status_code == 403
    client = client_as(alice)
    assert f'href="/alembic/runs/{run_id}/cancel"' in client.get(f"/alembic/runs/{run_id}").content.decode()
    confirm = client.get(f"/alembic/runs/{run_id}/cancel").content.decode()
    assert 'name="csrfmiddlewaretoken"' in confirm and 'id="confirm-cancel"' in confirm
    assert Run.objects.get(pk=run_id).status == "running"  # a GET changes nothing
    response = client.post(f"/alembic/runs/{run_id}/cancel")
    assert response.status_code == 302 and response["Location"] == f"/alembic/runs/{run_id}"
    wait_for_run(run_id, timeout=20)
    page = client.get(f"/alembic/runs/{run_id}").content.decode()
    assert 'data-status="failed"' in page and "cancelled by alice" in page and 'id="run-cancel"' not in page
    assert version_table(url) == [] and lock_is_free(url)
