"""The demo project through the pages and the API: cards, search, drift, the diagram, errors."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import Column, ForeignKey, Integer, MetaData, String, Table, create_engine

from tests.modelmap.conftest import parse_svg

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def demo(demo_url, settings):  # type: ignore[no-untyped-def]
    """The tool pointed at the demo database (two revisions behind head) and the demo project."""
    from core import target
    from modelmap import services
    from tests.conftest import REPO

    settings.TARGET_DATABASE_URL = demo_url
    settings.PROJECT_DIR = REPO / "examples" / "brokerbot"
    settings.SQLALCHEMY_BASE = ""
    target.set_target_url(None)
    services._cache.clear()
    yield demo_url
    target.dispose()


def test_carol_sees_every_demo_model_with_its_relationships_and_cascades(demo, carol, client_as):
    html = client_as(carol).get("/models").content.decode()
    for name in ("Client", "Broker", "Operation", "ClientPaymentCalendar"):
        assert f'data-model="{name}"' in html
    client_card = html.split('data-model="Client"')[1].split("</article>")[0]
    assert re.search(r'data-relationship="operations".*?data-direction="1:N".*?data-cascade="all, delete-orphan"',
                     client_card, re.S)
    assert re.search(r'data-relationship="brokers".*?N:M.*?client_brokers', client_card, re.S)
    assert 'href="/data/public.clients"' in client_card and 'href="/er-diagram?focus=clients"' in client_card
    assert "ON DELETE CASCADE" in html and "ON DELETE RESTRICT" in html
    assert 'data-table="client_brokers"' in html  # the association table, listed apart


def test_model_and_database_differences_show_on_the_model_card(demo, carol, client_as):
    html = client_as(carol).get("/models").content.decode()
    operation = html.split('data-model="Operation"')[1].split("</article>")[0]
    assert "data-drift" in operation and "note" in operation.split("data-drift")[1]
    client = html.split('data-model="Client"')[1].split("</article>")[0]
    assert "data-drift" not in client


def test_search_without_javascript_keeps_only_matching_models(demo, carol, client_as):
    html = client_as(carol).get("/models?q=commission").content.decode()
    assert 'data-model="Broker"' in html and 'data-model="Client"' not in html
    html = client_as(carol).get("/models?q=zzz-nothing").content.decode()
    assert "No model or column matches" in html and 'data-model="' not in html


def test_api_lists_models_and_one_model_with_its_relationships(demo, carol, api_as):
    api = api_as(carol)
    body = api.get("/api/models").json()
    assert body["found_by"] == "env.py target_metadata" and body["base"] == "brokerbot.models:Base"
    assert sorted(m["name"] for m in body["models"]) == ["Broker", "Client", "ClientPaymentCalendar", "Operation"]
    detail = api.get("/api/models/Client").json()
    assert detail["table"] == "clients" and detail["table_detail"]["primary_key"] == ["id"]
    rels = api.get("/api/models/Client/relationships").json()["relationships"]
    assert {r["name"]: r["passive_deletes"] for r in rels} == {"brokers": False, "operations": True, "payment_calendar": True}
    missing = api.get("/api/models/Nope")
    assert missing.status_code == 404 and "Client" in missing.json()["error"]["hint"]


def test_anonymous_api_calls_are_refused(demo, client):
    assert client.get("/api/models").status_code == 401
    assert client.get("/api/erd").status_code == 401


def test_erd_json_has_every_table_and_foreign_key_of_the_metadata(demo, carol, api_as):
    import sys

    from tests.conftest import REPO

    sys.path.insert(0, str(REPO / "examples" / "brokerbot"))
    from brokerbot.models import Base

    graph = api_as(carol).get("/api/erd?source=models").json()
    assert {t["id"] for t in graph["tables"]} == set(Base.metadata.tables)
    expected = {(t.fullname, fk.referred_table.fullname, tuple(c.name for c in fk.columns), fk.ondelete)
                for t in Base.metadata.tables.values() for fk in t.foreign_key_constraints}
    assert {(e["from"], e["to"], tuple(e["columns"]), e["ondelete"]) for e in graph["relationships"]} == expected
    calendar = next(e for e in graph["relationships"] if e["from"] == "client_payment_calendars")
    assert {(r["model"], r["name"]) for r in calendar["relationships"]} == {("Client", "payment_calendar"),
                                                                             ("ClientPaymentCalendar", "client")}


def test_erd_svg_parses_and_names_every_table(demo, carol, api_as):
    response = api_as(carol).get("/api/erd?format=svg")
    assert response.status_code == 200 and response["Content-Type"].startswith("image/svg+xml")
    root = parse_svg(response.content)
    assert root.tag == f"{SVG}svg"
    texts = {t.text for t in root.iter(f"{SVG}text")}
    assert {"clients", "brokers", "operations", "client_payment_calendars", "client_brokers"} <= texts
    cascade_edges = [g for g in root.iter(f"{SVG}g") if "cascade" in (g.get("class") or "").split()]
    assert {g.get("data-from") for g in cascade_edges} == {"operations", "client_payment_calendars", "client_brokers"}


def test_erd_from_the_database_and_focus_on_one_table(demo, carol, api_as):
    api = api_as(carol)
    live = api.get("/api/erd?source=database").json()
    assert "alembic_version" not in {t["id"] for t in live["tables"]}
    assert {t["id"] for t in live["tables"]} == {"clients", "brokers", "operations", "client_payment_calendars", "client_brokers"}
    assert "note" not in [c["name"] for c in next(t for t in live["tables"] if t["id"] == "operations")["columns"]]
    focused = api.get("/api/erd?focus=brokers&hops=1").json()
    assert {t["id"] for t in focused["tables"]} == {"brokers", "operations", "client_brokers"}
    two_hops = api.get("/api/erd?focus=public.brokers&hops=2").json()
    assert {t["id"] for t in two_hops["tables"]} == {"brokers", "operations", "client_brokers", "clients"}
    everything = api.get("/api/erd?focus=brokers&hops=0").json()
    assert everything["focus"] == "brokers" and len(everything["tables"]) == 5
    assert api.get("/api/erd?source=nonsense").status_code == 400
    assert api.get("/api/erd?focus=no_such_table").status_code == 404


def test_er_diagram_page_embeds_the_svg_and_the_same_json(demo, carol, client_as):
    html = client_as(carol).get("/er-diagram?focus=operations&hops=0").content.decode()
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="erd"' in html
    assert 'id="erd-data"' in html and 'class="node focus"' in html
    assert 'data-href="/data/public.operations"' in html


def test_a_database_without_models_is_shown_from_reflection(target, carol, client_as, api_as, use_project, tmp_path):
    engine = create_engine(target)
    md = MetaData()
    Table("owners", md, Column("id", Integer, primary_key=True), Column("name", String(40), nullable=False))
    Table("pets", md, Column("id", Integer, primary_key=True),
          Column("owner_id", ForeignKey("owners.id", ondelete="CASCADE"), nullable=False))
    Table('odd "name" <b>', md, Column("id", Integer, primary_key=True))  # quotes and markup in a name
    md.create_all(engine)
    engine.dispose()
    use_project(tmp_path)  # an empty project: no models at all
    html = client_as(carol).get("/models").content.decode()
    assert "No SQLAlchemy models were found" in html
    assert 'data-unmapped="owners"' in html and 'data-unmapped="pets"' in html
    assert "<b>" not in html.split("data-section=\"unmapped\"")[1]
    graph = api_as(carol).get("/api/erd").json()
    assert graph["source"] == "database"
    assert [(e["from"], e["to"], e["ondelete"]) for e in graph["relationships"]] == [("pets", "owners", "CASCADE")]
    root = parse_svg(api_as(carol).get("/api/erd?format=svg").content)
    assert 'odd "name" <b>' in {t.text for t in root.iter(f"{SVG}text")}
    page = client_as(carol).get("/er-diagram").content.decode()
    assert 'data-href="/data/public.odd%20%22name%22%20%3Cb%3E"' in page


def test_own_reflection_compare_finds_the_column_a_pending_migration_adds(demo):
    # The fallback used when the migrations feature's autogenerate compare is unavailable.
    from modelmap import services

    inspection = services.inspect_project()
    diffs = services.compute_drift_here([t for t in inspection["tables"] if t["mapped"] or t["association"]],
                                        services.reflect_database())
    assert [(d["kind"], d["table"], d["column"]) for d in diffs] == [("missing_column", "operations", "note")]


def test_svg_without_columns_keeps_every_table_but_no_column_rows(demo, carol, api_as):
    root = parse_svg(api_as(carol).get("/api/erd?format=svg&columns=0").content)
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "operations" in texts and "telegram_user_id" not in texts


def test_without_a_database_the_models_still_show_and_the_database_diagram_says_why(carol, api_as, client_as, settings):
    from core import target
    from modelmap import services

    settings.TARGET_DATABASE_URL = ""
    target.set_target_url(None)
    services._cache.clear()
    body = api_as(carol).get("/api/models").json()
    assert len(body["models"]) == 4 and body["database_error"]["code"] == "database_unavailable"
    response = api_as(carol).get("/api/erd?source=database")
    assert response.status_code == 503 and "DATABASE_URL" in response.json()["error"]["hint"]
    assert "could not be read" in client_as(carol).get("/models").content.decode()
