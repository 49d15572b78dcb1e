"""Issue 9, class 5: mapper properties that are not columns, described one by one.

The fixture ``real_models_properties`` declares every property kind SQLAlchemy has (a
``column_property`` over a Label and over a correlated scalar subquery, deferred and
query_expression, composite, synonym, hybrid property/method, association proxy, relationships)
and one property the PostgreSQL dialect cannot compile. Before the fix the Label made the whole
``Customer`` description fail: its relationships vanished, the error list stayed empty and the
startup report said ✓. Every answer is compared with ``sqlalchemy.inspect()`` of the same models.
"""

from __future__ import annotations

from typing import Any

from tests.conftest import FIXTURES
from tests.modelmap.conftest import assert_matches_sqlalchemy, load_mappers

FIXTURE = "real_models_properties"


def _body(api: Any, use_project: Any) -> dict[str, Any]:
    use_project(FIXTURE)
    response = api.get("/api/models")
    assert response.status_code == 200, response.content
    return response.json()


def test_every_property_kind_is_described_as_sqlalchemy_reports_it(carol, api_as, use_project):
    body = _body(api_as(carol), use_project)
    mappers = load_mappers(FIXTURES / FIXTURE, ["crm_app.models"], ["crm_app.models:Base"])
    # columns, relationships and every other property, each compared with inspect(mapper)
    assert_matches_sqlalchemy(body["models"], mappers)
    customer = {m["name"]: m for m in body["models"]}["Customer"]
    kinds = {p["name"]: p["kind"] for p in customer["properties"]}
    assert kinds == {"full_name": "expression", "soundex_name": "expression", "order_count": "expression",
                     "relevance": "query_expression", "address": "composite", "name": "synonym",
                     "initials": "hybrid_property", "shout": "hybrid_property", "lives_in": "hybrid_method",
                     "tags": "association_proxy"}
    props = {p["name"]: p for p in customer["properties"]}
    assert props["full_name"]["sql"] == "customers.first_name || ' ' || customers.last_name"
    assert props["order_count"]["subquery"] and "count(orders.id)" in props["order_count"]["sql"]
    assert props["address"]["columns"] == ["street", "city"]
    assert props["shout"]["python_only"] and props["shout"]["sql"] is None
    assert props["tags"]["target"] == "CustomerTag" and props["lives_in"]["arguments"] == ["city"]
    assert {c["attr"]: c["deferred"] for c in customer["columns"]}["notes"] is True


def test_one_bad_property_carries_the_error_and_the_rest_of_the_model_is_described(carol, api_as, use_project):
    body = _body(api_as(carol), use_project)
    customer = {m["name"]: m for m in body["models"]}["Customer"]
    # the relationships a broad try used to drop are all there
    assert sorted(r["name"] for r in customer["relationships"]) == ["customer_tags", "orders"]
    assert all(r["error"] is None for r in customer["relationships"])
    bad = {p["name"]: p for p in customer["properties"]}["soundex_name"]
    assert "only available on SQLite" in bad["error"]
    assert [e["property"] for e in customer["errors"]] == ["soundex_name"] and customer["partial"] is True
    assert all(p["error"] is None for p in customer["properties"] if p["name"] != "soundex_name")
    # ...and the error reaches the API's top-level list, with where and a hint
    assert body["partial"] == 1
    [error] = body["errors"]
    assert (error["model"], error["property"], error["kind"]) == ("Customer", "soundex_name", "expression")
    source = (FIXTURES / FIXTURE / "crm_app" / "models.py").read_text().splitlines()
    raised_at = next(n for n, line in enumerate(source, 1) if "raise NotImplementedError" in line)
    assert error["where"].endswith(f"crm_app/models.py:{raised_at}") and error["hint"]


def test_the_models_page_lists_property_errors_and_every_property(carol, client_as, use_project):
    use_project(FIXTURE)
    page = client_as(carol).get("/models").content.decode()
    assert "data-property-errors" in page and 'data-error-property="Customer.soundex_name"' in page
    assert "1 model described partly" in page
    card = page.split('data-model="Customer"')[1].split("</article>")[0]
    for name in ("full_name", "order_count", "address", "name", "initials", "lives_in", "tags", "relevance"):
        assert f'data-property="{name}"' in card, name
    assert 'data-relationship="orders"' in card and "data-property-error" in card


def test_the_startup_report_says_how_many_models_were_described_partly(use_project, settings, db):
    from core import project

    use_project(FIXTURE)
    settings.ALEMBIC_CONFIG = ""
    check = project.check_models(project.probe_project(force=True))
    assert check.status == "warning"
    assert "4 models, 1 described partly" in check.message and "Customer.soundex_name" in check.message
    assert check.data["property_errors"][0]["property"] == "soundex_name"


def test_types_and_defaults_are_structured_fields(carol, api_as, use_project):
    body = _body(api_as(carol), use_project)
    customer = {m["name"]: m for m in body["models"]}["Customer"]
    columns = {c["attr"]: c for c in customer["columns"]}
    stage = columns["stage"]
    # all ten values, as the database stores them (SQLAlchemy persists the member names)
    assert stage["type_info"]["enum"] == {"values": [s.name for s in _stage()], "name": "customer_stage",
                                          "native": True, "python_enum": "Stage"}
    assert stage["default"] == {"kind": "scalar", "value": "LEAD", "text": "Stage.LEAD", "python_type": "Stage"}
    credit = columns["credit"]
    assert (credit["type_info"]["precision"], credit["type_info"]["scale"]) == (12, 2)
    assert credit["default"] == {"kind": "scalar", "value": "100.00", "text": "Decimal('100.00')",
                                 "python_type": "Decimal"}
    assert columns["first_name"]["type_info"]["length"] == 60 and columns["first_name"]["nullable"] is False


def _stage() -> Any:
    load_mappers(FIXTURES / FIXTURE, ["crm_app.models"], ["crm_app.models:Base"])
    from crm_app.models import Stage  # type: ignore[import-not-found]

    return list(Stage)


def test_models_are_found_by_scanning_when_env_py_names_an_empty_metadata(carol, api_as, use_project, tmp_path):
    """Issue 9, class 8 on /models: env.py's ``target_metadata = MetaData()`` never sees the models."""
    import shutil

    project = tmp_path / "ledger"
    shutil.copytree(FIXTURES / "real_models_nometadata", project)
    env_py = project / "migrations" / "env.py"
    env_py.write_text(env_py.read_text().replace(
        "target_metadata = None", "from sqlalchemy import MetaData\n\ntarget_metadata = MetaData()"))
    use_project(project)
    body = api_as(carol).get("/api/models").json()
    assert body["errors"] == [] and body["found_by"] == "scan (env.py's target_metadata is empty)"
    assert_matches_sqlalchemy(body["models"], load_mappers(project, ["ledger_app.models"], ["ledger_app.models:Base"]))
