"""A run works on the target it was started for, whichever target is configured meanwhile.

There is one configured target today, but nothing may assume it: the next issue configures several.
These stories play that future with two real databases, the shop (the run's target) and the
warehouse (what the configuration points at once the run is under way), and a ``by_name`` that
knows both — the one lookup a run's machinery uses to find its target. A piece of the machinery
that still read the *configured* target would lock, migrate, re-read or reap on the warehouse, and
the stories below would see it in the data: the version tables, the lock, the run's own record.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import make_url

from core import target
from core.signals import job_starting
from migrations_ui import liveness, reaper, runlock, services
from migrations_ui.models import Run
from tests.conftest import create_database, drop_database
from tests.migrations_ui.conftest import wait_for_run
from tests.migrations_ui.test_runs import libpq, lock_is_free, version_table

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def warehouse_url(pg_server_url: str) -> Iterator[str]:
    """A second, empty database: the target the configuration is pointed at mid-story."""
    url = create_database(pg_server_url, "per_run_warehouse")
    yield url
    target.dispose()
    drop_database(pg_server_url, url)


@pytest.fixture
def shop(use_project, settings, monkeypatch) -> target.Target:  # type: ignore[no-untyped-def]
    """The linear project on a fresh database configured as the target "shop"; ``by_name`` knows the
    shop by name whatever is configured later (as the next issue's several targets will)."""
    use_project("linear")
    settings.TARGET_NAME = "shop"
    found = target.current()
    real_by_name = target.by_name
    monkeypatch.setattr(target, "by_name", lambda name: found if name == "shop" else real_by_name(name))
    return found


def configure(settings: Any, url: str, name: str) -> None:
    """Point the configured target elsewhere (what an operator's restart or the next issue's switch does)."""
    settings.TARGET_DATABASE_URL, settings.TARGET_NAME = url, name


def test_a_run_locks_migrates_backs_up_and_rereads_its_own_target_while_the_configuration_moves(
        shop, warehouse_url, settings, alice, api_as):
    shop_url = shop.url.render_as_string(hide_password=False)

    def move_the_configuration(sender: Any, run: Run, **kwargs: Any) -> None:
        configure(settings, warehouse_url, "warehouse")  # the run is recorded; its work has not started

    job_starting.connect(move_the_configuration, dispatch_uid="test.move_configuration")
    try:
        response = api_as(alice).post("/api/alembic/upgrade", {"target": "heads", "backup": True}, format="json")
        assert response.status_code == 202, response.content
        wait_for_run(response.json()["run_id"])
    finally:
        job_starting.disconnect(dispatch_uid="test.move_configuration")

    assert target.current().name == "warehouse"  # the configuration did move under the run
    run = Run.objects.get(pk=response.json()["run_id"])
    assert run.status == "succeeded", (run.error, list(run.lines.values_list("text", flat=True)))
    assert run.target_name == "shop"
    migrated = version_table(shop_url)
    assert migrated and version_table(warehouse_url) == []  # the child migrated the shop, not the warehouse
    assert sorted(run.to_revisions or []) == migrated  # the re-read after the work read the shop
    assert run.post_check["version_table"] == run.to_revisions and run.post_check["at_target"] is True
    assert f"/{make_url(shop_url).database}-" in run.backup_path  # pg_dump dumped the shop
    assert lock_is_free(shop_url) and lock_is_free(warehouse_url)  # taken back and released on the shop


def test_the_reaper_looks_for_a_runs_sessions_on_that_runs_target(shop, warehouse_url, settings, alice):
    shop_url = shop.url.render_as_string(hide_password=False)
    with psycopg.connect(libpq(shop_url), autocommit=True) as conn:  # where the shop stands
        conn.execute("CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY)")
        conn.execute("INSERT INTO alembic_version VALUES ('feedface')")
    run = Run.objects.create(user=alice, username="alice", kind="upgrade", target="heads", status="running",
                             database=shop.describe(), target_name="shop")  # its server died: no heartbeat
    configure(settings, warehouse_url, "warehouse")
    orphan = psycopg.connect(libpq(shop_url), application_name=runlock.run_app_name(run.pk, "lock"))
    try:
        # the warehouse has no session of the run; the shop has: its work may not have stopped
        assert reaper.reap_stale(wait_s=0) == 0
        assert Run.objects.get(pk=run.pk).status == "running"
    finally:
        orphan.close()
    assert reaper.reap_stale(wait_s=10) == 1
    run.refresh_from_db()
    assert run.status == "failed" and run.to_revisions == ["feedface"]  # the version table re-read on the shop


def test_the_gate_of_one_target_judges_only_the_runs_on_that_target(alice):
    shop = target.Target.from_url("postgresql://u@db.example:5432/shop", name="shop")
    warehouse = target.Target.from_url("postgresql://u@db.example:5432/warehouse", name="warehouse")
    elsewhere = Run.objects.create(user=alice, username="alice", kind="upgrade", target="heads", status="running",
                                   target_name="warehouse")  # no heartbeat: unattended, but not on the shop
    assert liveness.fail_unattended([], shop) == 0  # holding the shop's lock says nothing about the warehouse
    assert Run.objects.get(pk=elsewhere.pk).status == "running"
    assert liveness.fail_unattended([], warehouse) == 1
    assert Run.objects.get(pk=elsewhere.pk).status == "failed"


def test_history_and_its_answers_are_kept_per_target(shop, warehouse_url, alice, api_as):
    from tests.migrations_ui.conftest import api_run

    assert api_run(api_as(alice), "upgrade", "heads", backup=False)["status"] == "succeeded"  # the shop
    warehouse = target.Target.from_url(warehouse_url, name="warehouse")
    at_shop = services.history(on=shop)
    assert at_shop["current"] and at_shop["pending_count"] == 0
    assert services.history_cached(warehouse) is None  # the shop's graph is never served as the warehouse's
    at_warehouse = services.history(on=warehouse)
    assert at_warehouse["current"] == [] and at_warehouse["pending_count"] == len(at_shop["revisions"])
    assert services.history_cached(shop)["current"] == at_shop["current"]  # each target keeps its own
    assert services.current_revisions(warehouse) == [] and services.current_revisions() == at_shop["current"]



@pytest.fixture
def demo_twins(settings, pg_server_url: str, demo_url: str, demo_templates: dict[str, str]) -> Iterator[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """The demo project on two copies of its database: the configured one and a twin."""
    from core.demo import DEMO_DIR
    from tests.conftest import _demo_template

    twin = create_database(pg_server_url, "per_run_demo_twin", template=_demo_template(demo_templates, pg_server_url))
    settings.PROJECT_DIR, settings.ALEMBIC_CONFIG = DEMO_DIR, ""
    configure(settings, demo_url, "demo")
    target.set_target_url(None)
    yield demo_url, twin
    target.dispose()
    drop_database(pg_server_url, twin)


def test_drift_is_compared_and_kept_per_target(demo_twins):
    configured, twin_url = demo_twins
    twin = target.Target.from_url(twin_url, name="twin")
    with psycopg.connect(libpq(twin_url), autocommit=True) as conn:  # only the twin has it
        conn.execute("CREATE TABLE stray_crates (id int PRIMARY KEY)")
    drift_here = services.compute_drift()  # the configured target's
    assert services.drift_cached(twin) is None  # never the configured target's answer
    drift_twin = services.compute_drift(on=twin)
    assert drift_here["ok"] and drift_twin["ok"], drift_twin

    def tables(drift: dict[str, Any]) -> set[str]:
        return {d["table"] for d in drift["differences"]}

    assert "stray_crates" in tables(drift_twin) and "stray_crates" not in tables(drift_here)
    assert services.drift_cached() == drift_here and services.drift_cached(twin) == drift_twin
