"""Forms built from the demo's models: enum selects, relationship labels, model limits and defaults.

The demo's ``operations.kind`` is the PostgreSQL enum ``operation_kind`` mapped by the Python enum
``OperationKind``; ``operations.client_id`` feeds the relationship ``Operation.client``;
``clients.email`` is ``String(255)``; ``operations.amount`` is ``Numeric(18, 2)``.
"""

from __future__ import annotations

import copy
import html
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from tests.databrowser.conftest import sql

pytestmark = pytest.mark.django_db

OPS = "/data/public.operations/new"


@pytest.fixture
def demo(demo_url: str, settings) -> Iterator[str]:  # type: ignore[no-untyped-def]
    from core import target
    from databrowser import query

    settings.TARGET_DATABASE_URL = demo_url
    target.set_target_url(None)
    query.invalidate()
    yield demo_url
    query.invalidate()
    target.dispose()


def field_html(body: str, column: str) -> str:
    """The form's block for one column (label, widget, help, errors)."""
    found = re.search(r'<div class="field[^"]*" data-column="' + re.escape(column) + r'">(.*?)</div>', body, re.S)
    assert found, f"no field for {column}"
    return found.group(1)


def test_create_form_offers_the_enum_labels_names_the_python_enum_and_labels_fks_by_relationship(demo, client_as, bob):
    body = client_as(bob).get(OPS).content.decode()
    labels = [r[0] for r in sql(demo, "SELECT unnest(enum_range(NULL::operation_kind))::text")]
    kind = field_html(body, "kind")
    assert "<select" in kind and re.findall(r'<option value="([^"]+)"', kind) == labels
    assert "Python enum OperationKind" in kind
    client = field_html(body, "client_id")
    assert re.search(r"<label [^>]*>client \(clients\.id\)", client)
    assert "Operation.client" in html.unescape(client)
    assert re.search(r"<label [^>]*>broker \(brokers\.id\)", field_html(body, "broker_id"))
    assert 'maxlength="255"' in field_html(client_as(bob).get("/data/public.clients/new").content.decode(), "email")


def _count(url: str) -> int:
    return sql(url, "SELECT count(*) FROM operations")[0][0]


def test_an_unknown_enum_value_is_refused_on_the_kind_field_and_nothing_is_written(demo, client_as, bob):
    before = _count(demo)
    client_id, broker_id = sql(demo, "SELECT (SELECT min(id) FROM clients), (SELECT min(id) FROM brokers)")[0]
    r = client_as(bob).post(OPS, {"c1": client_id, "c2": broker_id, "c3": "bogus", "c4": "10.00"})
    assert r.status_code == 400
    kind = field_html(r.content.decode(), "kind")
    assert "has-error" not in field_html(r.content.decode(), "amount")
    assert 'class="field-error"' in kind and "bogus is not one of the available choices" in kind
    assert _count(demo) == before


def test_amount_beyond_numeric_precision_and_scale_is_refused_before_the_database(demo, client_as, bob):
    before = _count(demo)
    client_id, broker_id = sql(demo, "SELECT (SELECT min(id) FROM clients), (SELECT min(id) FROM brokers)")[0]
    client = client_as(bob)
    too_fine = client.post(OPS, {"c1": client_id, "c2": broker_id, "c3": "buy", "c4": "1.234"})
    assert too_fine.status_code == 400 and "no more than 2 decimal places" in field_html(too_fine.content.decode(), "amount")
    too_big = client.post(OPS, {"c1": client_id, "c2": broker_id, "c3": "buy", "c4": "1" * 17 + ".00"})
    assert too_big.status_code == 400 and "no more than 18 digits" in field_html(too_big.content.decode(), "amount")
    assert _count(demo) == before
    ok = client.post(OPS, {"c1": client_id, "c2": broker_id, "c3": "sell", "c4": "12.50"})
    assert ok.status_code == 302 and _count(demo) == before + 1


def test_a_too_long_email_is_refused_on_its_field_and_nothing_is_written(demo, client_as, bob):
    before = sql(demo, "SELECT count(*) FROM clients")[0][0]
    r = client_as(bob).post("/data/public.clients/new", {"c1": "x" * 250 + "@example.org", "c2": "Too Long"})
    assert r.status_code == 400
    email = field_html(r.content.decode(), "email")
    assert "at most 255 characters (it has 262)" in email
    assert sql(demo, "SELECT count(*) FROM clients")[0][0] == before


def test_the_api_refuses_an_unknown_enum_value_with_the_column_named(demo, api_as, bob):
    before = _count(demo)
    client_id, broker_id = sql(demo, "SELECT (SELECT min(id) FROM clients), (SELECT min(id) FROM brokers)")[0]
    r = api_as(bob).post("/api/tables/public.operations/rows",
                         {"client_id": client_id, "broker_id": broker_id, "kind": "bogus", "amount": "1"}, format="json")
    assert r.status_code == 400 and "kind" in str(r.json()) and _count(demo) == before


def test_python_side_defaults_prefill_scalars_and_name_callables(demo, client_as, bob, monkeypatch):
    """The demo's models have no Python-side defaults: give two columns some, in the child's structured
    format ({kind, value, text}), on top of the real inspection."""
    from databrowser import models_info

    real = models_info._inspection()
    assert any(t.get("name") == "clients" for t in real.get("tables", []))
    changed: dict[str, Any] = copy.deepcopy(real)
    for table in changed["tables"]:
        if table["name"] == "clients":
            for col in table["columns"]:
                if col["name"] == "full_name":
                    col["default"] = {"kind": "scalar", "value": "Anonymous O'Client",
                                      "text": repr("Anonymous O'Client"), "python_type": "str"}
                if col["name"] == "telegram_user_id":
                    col["default"] = {"kind": "callable", "value": "next_telegram_id", "text": "next_telegram_id",
                                      "python_type": None}
    monkeypatch.setattr(models_info, "_inspection", lambda: changed)
    body = client_as(bob).get("/data/public.clients/new").content.decode()
    full_name = field_html(body, "full_name")
    assert re.search(r'<input [^>]*name="c\d+" value="Anonymous O&#x27;Client"', full_name)
    telegram = field_html(body, "telegram_user_id")
    assert "set by the application: next_telegram_id" in telegram
    assert re.search(r'<input [^>]*name="c\d+"', telegram) and not re.search(r'name="c\d+" value=', telegram)
    edit_id = sql(demo, "SELECT min(id) FROM clients")[0][0]
    edit = client_as(bob).get(f"/data/public.clients/row/{edit_id}/edit").content.decode()
    current = sql(demo, "SELECT full_name FROM clients WHERE id = %s", edit_id)[0][0]
    assert html.escape(current) in field_html(edit, "full_name")  # editing shows the row, not the default


def _default(kind: str, value: Any, python_type: str | None = None, text: str | None = None) -> dict[str, Any]:
    return {"kind": kind, "value": value, "text": text or str(value), "python_type": python_type}


@pytest.mark.parametrize(("default", "expected"), [
    (_default("scalar", 5, "int"), (True, 5, None)), (_default("scalar", "pending", "str"), (True, "pending", None)),
    (_default("scalar", True, "bool"), (True, True, None)),
    (_default("scalar", "buy", "OperationKind", "OperationKind.BUY"), (True, "buy", None)),
    (_default("scalar", "1.50", "Decimal"), (True, Decimal("1.50"), None)),
    (_default("callable", "utcnow"), (False, None, "utcnow")), (_default("callable", "<lambda>"), (False, None, "<lambda>")),
    (_default("sql", "now()"), (False, None, "now()")), (_default("scalar", [], "list", "[]"), (False, None, "[]")),
    (_default("sequence", "orders_id_seq"), (False, None, None)), (None, (False, None, None)),
])
def test_model_defaults_from_the_child_split_into_scalars_and_callables(default, expected):
    from databrowser.models_info import model_default

    assert model_default(default) == expected
