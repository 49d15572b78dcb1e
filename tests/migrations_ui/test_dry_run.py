"""A dry run executes the migrations online and always rolls them back."""

from __future__ import annotations

import psycopg
import pytest

from core.models import AuditEntry
from tests.conftest import libpq
from tests.migrations_ui.conftest import api_run
from tests.migrations_ui.test_runs import version_table

pytestmark = pytest.mark.django_db(transaction=True)


def test_dry_run_shows_the_statements_and_leaves_nothing_behind(use_project, alice, api_as):
    url = use_project("concurrent")
    api = api_as(alice)
    assert api_run(api, "upgrade", "c1_table", backup=False)["status"] == "succeeded"
    body = api.post("/api/alembic/dryrun", {"kind": "upgrade", "target": "heads"}, format="json").json()
    assert body["ok"] is True, body
    assert any("ADD COLUMN created_at" in s for s in body["statements"])
    # CREATE INDEX CONCURRENTLY cannot run in a transaction: listed, not run
    assert [s for s in body["skipped"] if "CONCURRENTLY" in s]
    assert not [s for s in body["statements"] if "CONCURRENTLY" in s]
    assert body["version_table_unchanged"] is True and version_table(url) == ["c1_table"]
    with psycopg.connect(libpq(url)) as conn:
        cols = [r[0] for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'accounts'")]
        assert "created_at" not in cols
        assert conn.execute("SELECT to_regclass('ix_accounts_email')").fetchone()[0] is None
    assert AuditEntry.objects.filter(action="alembic.dryrun.upgrade").count() == 1


def test_dry_run_of_a_failing_migration_reports_the_error(use_project, alice, client_as):
    url = use_project("failing")
    page = client_as(alice).post("/alembic/run", {"kind": "upgrade", "target": "heads", "action": "dryrun"})
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="dry-run-result" data-ok="0"' in html and "no_such_column" in html
    assert version_table(url) == []


def test_viewers_cannot_dry_run(use_project, carol, api_as):
    use_project("linear")
    assert api_as(carol).post("/api/alembic/dryrun", {"kind": "upgrade"}, format="json").status_code == 403
