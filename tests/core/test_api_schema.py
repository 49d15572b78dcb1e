"""The OpenAPI schema describes every answer: no operation may leave a response shapeless.

A new endpoint declared with ``responses=dict`` (or none) gets a free-form ``object`` or no schema
at all; this test names it. Free-form parts inside a described body (a row's values) are fine.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[1]
        node = schema["components"]["schemas"][name]
    return node


def _shapeless(schema: dict[str, Any], node: dict[str, Any] | None) -> bool:
    """No schema, or an object with neither properties nor typed values (``dict``/``OBJECT``)."""
    if not node:
        return True
    node = _resolve(schema, node)
    if node.get("type", "object") == "object" and not any(k in node for k in ("allOf", "oneOf", "anyOf")):
        values = node.get("additionalProperties")
        return not node.get("properties") and not (isinstance(values, dict) and values)
    return False


def test_every_operation_describes_each_of_its_responses(django_user_model):
    admin = django_user_model.objects.create_superuser("schema-admin", password="x-long-password-1")
    client = Client()
    client.force_login(admin)
    answer = client.get("/api/schema", HTTP_ACCEPT="application/json")
    assert answer.status_code == 200
    schema = answer.json()
    undescribed = []
    checked = 0
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            for code, response in operation["responses"].items():
                if code == "204":
                    continue  # no body by definition
                content = response.get("content") or {}
                if not content:
                    undescribed.append(f"{method.upper()} {path} {code}: no content")
                for media, body in content.items():
                    checked += 1
                    if media.startswith("application/json") and _shapeless(schema, body.get("schema")):
                        undescribed.append(f"{method.upper()} {path} {code} {media}")
                    elif not body.get("schema"):
                        undescribed.append(f"{method.upper()} {path} {code} {media}: no schema")
    assert checked > 40  # not vacuous: the whole API was walked
    assert not undescribed, "responses without a shape:\n" + "\n".join(undescribed)


def test_errors_are_declared_with_the_error_vocabulary(django_user_model):
    admin = django_user_model.objects.create_superuser("schema-admin2", password="x-long-password-1")
    client = Client()
    client.force_login(admin)
    schema = client.get("/api/schema", HTTP_ACCEPT="application/json").json()
    error = schema["components"]["schemas"]["Error"]
    body = _resolve(schema, error["properties"]["error"])
    assert set(body["required"]) == {"code", "message", "hint"}
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                assert "4XX" in operation["responses"], f"{method.upper()} {path} declares no 4XX"
