"""The target as a value (``core.target.Target``): two targets side by side never share a pool, a
cached table or a row of history, and every row of work says which target it was done on.

Two real databases (random names, dropped afterwards) play the shop and the warehouse; both have a
table ``things``, with other columns and other rows, so that reading one where the other was meant
shows in the data.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from core import target
from core.exceptions import TargetNotConfigured
from core.models import AuditEntry
from databrowser import reflection
from databrowser.refs import TableRef
from migrations_ui.models import Run
from sqlconsole.models import QueryHistory
from tests.conftest import create_database, drop_database, libpq
from tests.migrations_ui.conftest import api_run, fresh_url, use_project  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db(transaction=True)

THINGS = TableRef("public", "things")


@pytest.fixture(scope="module")
def shop_and_warehouse(pg_server_url: str) -> Iterator[tuple[str, str]]:
    """Two databases: the shop's ``things`` (id, label: 'chair'), the warehouse's (id, label, weight: 'crate')."""
    shop = create_database(pg_server_url, "target_value_shop")
    warehouse = create_database(pg_server_url, "target_value_warehouse")
    with psycopg.connect(libpq(shop), autocommit=True) as conn:
        conn.execute("CREATE TABLE things (id int PRIMARY KEY, label text NOT NULL)")
        conn.execute("INSERT INTO things VALUES (1, 'chair')")
    with psycopg.connect(libpq(warehouse), autocommit=True) as conn:
        conn.execute("CREATE TABLE things (id int PRIMARY KEY, label text NOT NULL, weight int)")
        conn.execute("INSERT INTO things VALUES (1, 'crate', 40), (2, 'pallet', 25)")
    yield shop, warehouse
    target.dispose()
    drop_database(pg_server_url, shop)
    drop_database(pg_server_url, warehouse)


@pytest.fixture
def configured(settings, shop_and_warehouse: tuple[str, str]) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """The shop is the configured target, named "shop"."""
    settings.TARGET_DATABASE_URL = shop_and_warehouse[0]
    settings.TARGET_NAME = "shop"
    target.set_target_url(None)
    reflection.invalidate()
    yield
    target.dispose()
    reflection.invalidate()


def test_two_targets_read_their_own_data_through_their_own_pools(shop_and_warehouse):
    shop = target.Target.from_url(shop_and_warehouse[0], name="shop")
    warehouse = target.Target.from_url(shop_and_warehouse[1], name="warehouse")
    assert shop.key != warehouse.key and shop != warehouse
    assert warehouse == target.Target.from_url(shop_and_warehouse[1], name="warehouse")  # a value: equal by content

    with target.connect(target=warehouse) as conn:
        assert conn.execute(text("SELECT label FROM things ORDER BY id")).scalars().all() == ["crate", "pallet"]
    with shop.connect() as conn:
        assert conn.execute(text("SELECT label FROM things ORDER BY id")).scalars().all() == ["chair"]

    assert target.get_engine(target=shop) is not target.get_engine(target=warehouse)
    assert target.get_engine(target=shop) is shop.engine()  # kept: one pool per target, role and purpose
    assert target.get_engine("export", target=shop) is not shop.engine()
    with target.get_engine(target=warehouse).connect() as conn:
        assert conn.execute(text("SELECT current_database()")).scalar() == make_url(
            shop_and_warehouse[1]).database


def test_no_form_of_a_target_shows_its_password():
    secret = "s3cret-Pa55"
    shop = target.Target.from_url(f"postgres://alice:{secret}@db.example:6543/shop?sslmode=require")
    assert shop.name == "shop"  # without PGADMIN_TARGET_NAME: the database's name
    assert shop.identity == shop.key == "db.example:6543/shop as alice"
    assert shop.masked_url == "postgresql+psycopg://alice:***@db.example:6543/shop?sslmode=require"
    for shown in (shop.masked_url, shop.key, shop.describe(), repr(shop), str(shop), shop.cache_part,
                  target.mask_url(f"postgresql://alice:{secret}@db.example/shop")):
        assert secret not in shown
    assert shop.url.password == secret  # kept for connecting, never shown


def test_the_configured_target_is_current_and_none_is_a_clear_error(settings, shop_and_warehouse):
    settings.TARGET_DATABASE_URL = ""
    target.set_target_url(None)
    with pytest.raises(TargetNotConfigured):
        target.current()
    assert target.current_or_none() is None

    settings.TARGET_DATABASE_URL = shop_and_warehouse[0]
    settings.TARGET_NAME = ""
    assert target.current().name == make_url(shop_and_warehouse[0]).database
    settings.TARGET_NAME = "shop"
    assert target.current().name == "shop" and target.by_name("shop") is target.current()
    assert target.by_name("") == target.current()  # a row from before rows carried a target
    with pytest.raises(TargetNotConfigured, match="'warehouse' is not configured"):
        target.by_name("warehouse")  # a run of another target is never executed on this one

    target.set_target_url(shop_and_warehouse[1])  # the embedded server / demo switch keeps working
    assert target.current().key == target.Target.from_url(shop_and_warehouse[1]).key
    target.set_target_url(None)


def test_a_table_reflected_from_one_target_is_never_served_for_another(shop_and_warehouse):
    shop = target.Target.from_url(shop_and_warehouse[0], name="shop")
    warehouse = target.Target.from_url(shop_and_warehouse[1], name="warehouse")
    reflection.invalidate()
    in_shop = reflection.get_table(THINGS, on=shop)
    assert [c.name for c in in_shop.columns] == ["id", "label"] and in_shop.on == shop
    in_warehouse = reflection.get_table(THINGS, on=warehouse)  # the shop's entry is cached, not returned
    assert [c.name for c in in_warehouse.columns] == ["id", "label", "weight"] and in_warehouse.on == warehouse
    assert reflection.get_table(THINGS, on=shop) is in_shop  # each target keeps its own entry

    reflection.invalidate(THINGS, on=warehouse)  # a migration on the warehouse: only its entry goes
    assert reflection.get_table(THINGS, on=shop) is in_shop
    assert reflection.get_table(THINGS, on=warehouse) is not in_warehouse
    reflection.invalidate()


def test_a_row_written_through_the_data_browser_is_audited_with_its_target(configured, alice, api_as, client):
    created = api_as(alice).post("/api/tables/public.things/rows", {"id": 7, "label": "lamp"}, format="json")
    assert created.status_code == 201, created.content
    entry = AuditEntry.objects.get(action="data.create")
    assert entry.target_name == "shop"
    assert api_as(alice).get("/api/audit").json()["entries"][0]["target_name"] == "shop"
    # a failed login is about the tool, not about a database: no target on it
    client.post("/login", {"username": "alice", "password": "nope"})
    assert AuditEntry.objects.get(action="login.failed").target_name == ""


def test_a_run_remembers_its_target_and_the_list_shows_the_current_targets_runs(use_project, settings, alice,  # noqa: F811
                                                                                api_as):
    use_project("linear")
    settings.TARGET_NAME = "inventory"
    api = api_as(alice)
    run = api_run(api, "upgrade", "heads", backup=False)
    assert run["status"] == "succeeded" and run["target_name"] == "inventory"
    assert Run.objects.get(pk=run["id"]).target_name == "inventory"
    assert AuditEntry.objects.get(action="alembic.upgrade").target_name == "inventory"

    elsewhere = Run.objects.create(user=alice, username="alice", kind="upgrade", target="heads",
                                   status="succeeded", target_name="staging")
    listed = [r["id"] for r in api.get("/api/alembic/runs").json()["runs"]]
    assert run["id"] in listed and elsewhere.pk not in listed


def test_console_history_is_kept_per_target(settings, configured, shop_and_warehouse, alice, api_as):
    api = api_as(alice)
    ran = api.post("/api/database/query", {"sql": "SELECT label FROM things WHERE id = 1"}, format="json")
    assert ran.status_code == 200 and ran.json()["results"][0]["rows"] == [["chair"]], ran.content

    settings.TARGET_DATABASE_URL, settings.TARGET_NAME = shop_and_warehouse[1], "warehouse"
    ran = api.post("/api/database/query", {"sql": "SELECT label FROM things WHERE weight > 30"}, format="json")
    assert ran.status_code == 200 and ran.json()["results"][0]["rows"] == [["crate"]], ran.content
    history = api.get("/api/database/history").json()["history"]
    assert [(h["sql"], h["target_name"]) for h in history] == [("SELECT label FROM things WHERE weight > 30",
                                                                "warehouse")]

    settings.TARGET_DATABASE_URL, settings.TARGET_NAME = shop_and_warehouse[0], "shop"
    history = api.get("/api/database/history").json()["history"]
    assert [(h["sql"], h["target_name"]) for h in history] == [("SELECT label FROM things WHERE id = 1", "shop")]
    assert sorted(QueryHistory.objects.values_list("target_name", flat=True)) == ["shop", "warehouse"]


def _things_columns(tables: list[dict]) -> list[str]:
    return [c["name"] for t in tables if t["name"] == "things" for c in t["columns"]]


def test_console_completion_hints_and_held_results_work_on_the_target_asked(configured, shop_and_warehouse, alice,
                                                                           monkeypatch):
    from sqlconsole import catalog as console_catalog
    from sqlconsole import registry
    from sqlconsole import services as console

    warehouse = target.Target.from_url(shop_and_warehouse[1], name="warehouse")
    assert _things_columns(console_catalog.completion_schema(warehouse)["tables"]) == ["id", "label", "weight"]
    assert _things_columns(console_catalog.completion_schema()["tables"]) == ["id", "label"]  # the configured shop
    assert console_catalog.table_info({"things"}, warehouse)["things"].columns == ("id", "label", "weight")
    assert console_catalog.database_stats(on=warehouse)["database"] == make_url(shop_and_warehouse[1]).database

    ran = console.run_script("SELECT g FROM generate_series(1, 10005) g", user_id=alice.pk, on=warehouse)
    assert ran.results[0].has_more and ran.results[0].cursor
    registered: list[target.Target | None] = []
    real_register = registry.register

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        registered.append(kwargs.get("on"))
        return real_register(*args, **kwargs)

    monkeypatch.setattr(registry, "register", spy)
    more = console.fetch_more(ran.results[0].cursor, alice.pk)
    assert len(more["rows"]) == 5 and not more["has_more"]
    assert registered == [warehouse]  # a cancel of this fetch goes to the warehouse's backend


def test_the_model_map_and_the_health_checks_read_the_target_asked(configured, shop_and_warehouse):
    from core import project
    from modelmap import services as model_services

    warehouse = target.Target.from_url(shop_and_warehouse[1], name="warehouse")
    assert _things_columns(model_services.reflect_database(warehouse)) == ["id", "label", "weight"]
    assert _things_columns(model_services.reflect_database()) == ["id", "label"]
    assert project.check_database(warehouse).data["database"] == make_url(shop_and_warehouse[1]).database
    assert project.check_database().data["database"] == make_url(shop_and_warehouse[0]).database
