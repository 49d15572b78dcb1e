"""The HTML side: confirmation before a run (GET), the run on POST, the run page and the history."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy.engine import make_url

from migrations_ui.models import Run
from migrations_ui.runlock import LOCK_KEY
from tests.migrations_ui.conftest import wait_for_run

pytestmark = pytest.mark.django_db(transaction=True)


def test_confirmation_states_exactly_what_will_run(use_project, alice, client_as):
    use_project("linear")
    page = client_as(alice).get("/alembic/run?kind=upgrade&target=heads").content.decode()
    assert 'data-count="3"' in page
    for rev in ("l1_items", "l2_price", "l3_name_index"):
        assert f'data-revision="{rev}"' in page
    assert "alembic upgrade heads" in page
    assert "CREATE TABLE items" in page  # the offline SQL of the range
    assert "create_index_blocking" in page  # its safety summary
    assert 'name="backup" checked' in page
    assert Run.objects.count() == 0  # a GET never starts anything


def test_rollback_confirmation_warns_about_data_loss(use_project, alice, client_as):
    use_project("linear")
    client = client_as(alice)
    response = client.post("/alembic/run", {"kind": "upgrade", "target": "heads", "backup": "on"})
    wait_for_run(Run.objects.get().pk)
    page = client.get("/alembic/run?kind=downgrade&target=base").content.decode()
    assert 'data-count="3"' in page and "can lose data" in page
    assert "drop_table" in page  # DROP TABLE items in the downgrade SQL
    assert response.status_code == 302


def test_post_starts_the_run_and_the_run_page_shows_it(use_project, alice, client_as):
    use_project("linear")
    client = client_as(alice)
    response = client.post("/alembic/run", {"kind": "upgrade", "target": "l2_price"})
    run = Run.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/alembic/runs/{run.pk}"
    wait_for_run(run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded" and run.to_revisions == ["l2_price"] and run.backup_path == ""
    page = client.get(f"/alembic/runs/{run.pk}").content.decode()
    assert 'data-status="succeeded"' in page and "Run succeeded" in page
    assert "No backup" in page  # the box was not ticked
    graph = client.get("/alembic").content.decode()
    assert 'data-revision="l2_price" data-state="applied"' in graph
    assert 'data-revision="l3_name_index" data-state="pending"' in graph
    assert client.get("/alembic/runs").content.decode().count(f'data-run="{run.pk}"') == 1


def test_a_busy_lock_answers_409_on_the_page_too(use_project, alice, client_as):
    url = use_project("linear")
    libpq = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(libpq, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
        response = client_as(alice).post("/alembic/run", {"kind": "upgrade", "target": "heads"})
    assert response.status_code == 409
    assert b"holds the lock" in response.content


def test_unknown_target_is_a_clear_400_or_404(use_project, alice, api_as):
    use_project("linear")
    api = api_as(alice)
    assert api.post("/api/alembic/upgrade", {"target": "zzz"}, format="json").status_code == 404
    assert api.post("/api/alembic/downgrade", {"target": "+1"}, format="json").status_code == 404
    assert Run.objects.count() == 0


def test_an_admin_picks_the_ini_section_in_the_ui(use_project, alice, carol, client_as, api_as, monkeypatch):
    from migrations_ui import services
    from migrations_ui.models import Preference

    monkeypatch.delenv("PGADMIN_ALEMBIC_SECTION", raising=False)
    use_project("sections")
    client = client_as(alice)
    page = client.get("/alembic").content.decode()
    assert 'id="section-form"' in page and '<option value="reporting"' in page
    assert 'data-revision="main1"' in page
    assert client.post("/alembic/section", {"section": "reporting"}).status_code == 302
    assert 'data-revision="rep1"' in client.get("/alembic").content.decode()
    assert client.post("/alembic/section", {"section": "nope"}).status_code == 400
    assert api_as(carol).get("/api/alembic/migrations").json()["revisions"][0]["revision"] == "rep1"
    # the pick lives in the internal DB, not in the process: a restarted server reads it back
    assert Preference.objects.get(key=services.SECTION_PREFERENCE).value == "reporting"
    assert not hasattr(services, "_chosen_section")
    # PGADMIN_ALEMBIC_SECTION, when the deployment sets it, wins over the stored pick and locks the picker
    monkeypatch.setenv("PGADMIN_ALEMBIC_SECTION", "alembic")
    assert api_as(carol).get("/api/alembic/migrations").json()["revisions"][0]["revision"] == "main1"
    refused = client.post("/alembic/section", {"section": "reporting"})
    assert refused.status_code == 400 and b"PGADMIN_ALEMBIC_SECTION" in refused.content
    monkeypatch.delenv("PGADMIN_ALEMBIC_SECTION")
    assert services.current_section() == "reporting"
    client.force_login(carol)
    assert client.post("/alembic/section", {"section": "alembic"}).status_code == 403
    assert Preference.objects.get(key=services.SECTION_PREFERENCE).value == "reporting"


def test_stamping_sets_the_version_table_and_runs_nothing(use_project, alice, client_as):
    from tests.migrations_ui.test_runs import version_table

    url = use_project("linear")
    client = client_as(alice)
    page = client.get("/alembic/run?kind=stamp&target=l2_price").content.decode()
    assert "data-stamp" in page and "INSERT INTO alembic_version" in page  # the offline SQL of the stamp
    client.post("/alembic/run", {"kind": "stamp", "target": "l2_price"})
    run = Run.objects.get()
    wait_for_run(run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded" and run.steps == []
    assert version_table(url) == ["l2_price"]
    libpq = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(libpq) as conn:
        assert conn.execute("SELECT to_regclass('items')").fetchone()[0] is None  # nothing was run


def test_an_unreachable_database_still_shows_the_graph_and_refuses_runs_with_503(use_project, settings, alice,
                                                                                   client_as, api_as):
    from core import target

    use_project("linear")
    settings.TARGET_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:1/nowhere"
    target.set_target_url(None)
    page = client_as(alice).get("/alembic").content.decode()
    assert "data-state-error" in page and 'data-revision="l1_items"' in page
    response = api_as(alice).post("/api/alembic/upgrade", {"target": "heads"}, format="json")
    assert response.status_code == 503 and response.json()["error"]["code"] == "database_unavailable"
    assert Run.objects.count() == 0
