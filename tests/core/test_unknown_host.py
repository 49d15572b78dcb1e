"""Behind a domain the tool was not told about: a 400 that names the setting, never Django's bare page."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_a_browser_on_an_unknown_host_name_is_told_which_setting_admits_it(client):
    response = client.get("/login", HTTP_HOST="pgadmin.example.com")
    body = response.content.decode()
    assert response.status_code == 400
    assert "pgadmin.example.com" in body and "PGADMIN_ALLOWED_HOSTS" in body
    assert "Traceback" not in body


def test_a_ci_script_on_an_unknown_host_name_reads_a_json_error(client):
    response = client.get("/api/health", HTTP_HOST="ci.internal:8080")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "unknown_host" and "PGADMIN_ALLOWED_HOSTS" in error["hint"]


def test_the_host_name_is_escaped_not_rendered(client):
    response = client.get("/login", HTTP_HOST="<script>x</script>")
    assert response.status_code == 400
    assert "<script>x" not in response.content.decode()

