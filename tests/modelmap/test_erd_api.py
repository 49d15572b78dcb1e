"""The ER diagram's data and saved layouts through the API: composite-key marks, ports on the key
rows, per-user positions (viewers too), CSRF on the session, bad input as 400, depth=."""

from __future__ import annotations

import re

import pytest

from tests.modelmap.conftest import parse_svg

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def composite(use_project):  # type: ignore[no-untyped-def]
    return use_project("models_composite")


def _columns(graph: dict, table: str) -> dict[str, str]:
    node = next(t for t in graph["tables"] if t["id"] == table)
    return {c["name"]: c["key"] for c in node["columns"]}


def _edges(root) -> dict[tuple[str, str], str]:  # type: ignore[no-untyped-def]
    out = {}
    for g in root.iter(f"{SVG}g"):
        if "edge" in (g.get("class") or "").split():
            out[(g.get("data-from"), g.get("data-to"))] = g.find(f"{SVG}path[@class='line']").get("d")
    return out


def _start(d: str) -> tuple[float, float]:
    x, y = re.match(r"M(-?[\d.]+),(-?[\d.]+)", d).groups()  # type: ignore[union-attr]
    return float(x), float(y)


def test_carol_sees_composite_keys_marked_on_every_column(composite, carol, api_as):
    graph = api_as(carol).get("/api/erd").json()
    assert _columns(graph, "stock_items") == {"warehouse_id": "PK 1/2 FK", "product_id": "PK 2/2 FK", "quantity": ""}
    moves = _columns(graph, "stock_moves")
    assert (moves["id"], moves["warehouse_id"], moves["product_id"]) == ("PK", "FK 1/2", "FK 2/2")
    assert (moves["destination_id"], moves["reverses_id"], moves["quantity"]) == ("FK", "FK", "")
    root = parse_svg(api_as(carol).get("/api/erd?format=svg").content)
    keys = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "key"]
    assert keys.count("PK 1/2 FK") == 1 and keys.count("FK 2/2") == 1


def test_two_foreign_keys_of_one_table_leave_it_from_their_own_rows(composite, carol, api_as):
    root = parse_svg(api_as(carol).get("/api/erd?format=svg").content)
    edges = _edges(root)
    to_items = _start(edges[("stock_moves", "stock_items")])
    to_warehouse = _start(edges[("stock_moves", "warehouses")])
    assert to_items != to_warehouse
    # The composite FK (rows 2 and 3) leaves between its rows; destination_id (row 4) below them.
    # (The server's picture draws straight lines; the page's ELK routes are checked in the browser.)
    assert to_warehouse[1] - to_items[1] >= 18


def test_depth_keeps_the_neighbourhood_and_hops_still_works(composite, carol, api_as):
    api = api_as(carol)
    one = {t["id"] for t in api.get("/api/erd?focus=products&depth=1").json()["tables"]}
    assert one == {"products", "stock_items"}
    two = {t["id"] for t in api.get("/api/erd?focus=products&depth=2").json()["tables"]}
    assert two == {"products", "stock_items", "warehouses", "stock_moves"}
    assert {t["id"] for t in api.get("/api/erd?focus=products&hops=1").json()["tables"]} == one


def test_viewer_saves_her_own_positions_and_nobody_else_sees_them(composite, carol, bob, api_as):
    from core.models import AuditEntry

    audited = AuditEntry.objects.count()
    response = api_as(carol).put("/api/erd/positions", {"products": {"x": 900, "y": 40.5}}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["positions"] == {"products": {"x": 900.0, "y": 40.5}}
    api_as(carol).put("/api/erd/positions", {"warehouses": {"x": 10, "y": 700}}, format="json")
    assert set(api_as(carol).get("/api/erd/positions").json()["positions"]) == {"products", "warehouses"}
    assert api_as(bob).get("/api/erd/positions").json()["positions"] == {}
    # A preference, not a target write: no audit entry.
    assert AuditEntry.objects.count() == audited

    # Saved places belong to the page's ELK layout: the server's simple picture is everyone's.
    def products_at(api):  # type: ignore[no-untyped-def]
        root = parse_svg(api.get("/api/erd?format=svg").content)
        return next(g.get("transform") for g in root.iter(f"{SVG}g") if g.get("data-table") == "products")

    assert products_at(api_as(carol)) == products_at(api_as(bob)) != "translate(900,40.5)"

    # null forgets one table; DELETE forgets them all.
    api_as(carol).put("/api/erd/positions", {"warehouses": None}, format="json")
    assert set(api_as(carol).get("/api/erd/positions").json()["positions"]) == {"products"}
    assert api_as(carol).delete("/api/erd/positions").json() == {"positions": {}}
    assert api_as(carol).get("/api/erd/positions").json()["positions"] == {}


@pytest.mark.parametrize("body", [[], {}, {"t": {"x": "1", "y": 2}}, {"t": {"x": 1}}, {"t": {"x": 1, "y": 2e9}},
                                  {"t": {"x": True, "y": 2}}, {"": {"x": 1, "y": 2}}, {"t": [1, 2]}])
def test_bad_positions_are_a_400_with_a_hint(body, carol, api_as):
    response = api_as(carol).put("/api/erd/positions", body, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["message"] and "x" in error["hint"]


def test_saving_positions_from_the_page_needs_the_csrf_token(composite, carol, client):  # type: ignore[no-untyped-def]
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(carol)
    body = '{"products": {"x": 1, "y": 2}}'
    assert browser.put("/api/erd/positions", body, content_type="application/json").status_code == 403
    page = browser.get("/er-diagram")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)  # type: ignore[union-attr]
    ok = browser.put("/api/erd/positions", body, content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert ok.status_code == 200
    client.logout()
    assert client.put("/api/erd/positions", body, content_type="application/json").status_code in (401, 403)
