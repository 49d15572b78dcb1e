"""A password in DATABASE_URL appears in no log line and no page."""

from __future__ import annotations

import http.cookiejar
import urllib.request

import pytest
from sqlalchemy.engine import make_url

from tests.conftest import REPO
from tests.serving import Served

pytestmark = pytest.mark.slow
SECRET = "Zq9-very-secret-pw"


def test_password_in_database_url_is_masked_in_console_logs_pages_and_api(target_url):
    # The local server uses trust auth, so any password connects: the point is where it shows up.
    url = make_url(target_url).set(password=SECRET).render_as_string(hide_password=False)
    served = Served({"DATABASE_URL": url, "PGADMIN_PROJECT_DIR": str(REPO / "examples" / "brokerbot"),
                     "PGADMIN_LOG_LEVEL": "DEBUG"})
    pages = {}
    try:
        served.wait_ready()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        login = served.login_path()
        for path in (login, "/", "/api/health", "/api/status", "/api/database/connection", "/audit",
                     "/no-such-page", "/alembic", "/api/schema"):
            try:
                with opener.open(served.base_url + path, timeout=30) as response:
                    pages[path] = response.read().decode()
            except urllib.error.HTTPError as exc:
                pages[path] = exc.read().decode()
    finally:
        served.stop()
    assert "Connected" in pages["/"] and "***" in pages["/api/database/connection"]
    for path, body in pages.items():
        assert SECRET not in body, f"password shown on {path}"
    assert SECRET not in served.output
    for log_file in served.data_dir.rglob("*.log"):
        assert SECRET not in log_file.read_text(errors="replace")
