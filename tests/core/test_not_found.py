"""A wrong path: the API answers its error shape, the pages their 404 page (never a stack trace)."""

from __future__ import annotations


def test_a_ci_script_with_a_wrong_api_path_reads_a_json_error_with_a_hint(alice, api_as):
    response = api_as(alice).post("/api/migrations/upgrade", {"target": "head"}, format="json")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == "not_found"
    assert "POST /api/migrations/upgrade" in error["message"] and "/api/schema" in error["hint"]


def test_a_wrong_page_path_gets_the_404_page(alice, client_as):
    response = client_as(alice).get("/no-such-page")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html") and b"Not found" in response.content
