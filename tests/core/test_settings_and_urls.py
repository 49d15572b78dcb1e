"""Settings fail loudly with a hint; target URLs of every driver flavour are normalised and masked."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from core.logging import register_secret, scrub
from core.target import describe, mask_url, normalise_url
from pgadmin_site.env import env_bool, env_duration_ms, env_int


@pytest.mark.parametrize("raw, expected", [("30s", 30_000), ("500ms", 500), ("2min", 120_000), ("1.5s", 1_500), ("45", 45_000)])
def test_statement_timeout_accepts_human_durations(monkeypatch, raw, expected):
    monkeypatch.setenv("PGADMIN_STATEMENT_TIMEOUT", raw)
    assert env_duration_ms("PGADMIN_STATEMENT_TIMEOUT", "30s") == expected


@pytest.mark.parametrize("raw", ["soon", "-1s", "30 parsecs", "0ms"])
def test_bad_duration_is_refused_with_a_hint(monkeypatch, raw):
    monkeypatch.setenv("PGADMIN_STATEMENT_TIMEOUT", raw)
    with pytest.raises(ImproperlyConfigured, match="Hint"):
        env_duration_ms("PGADMIN_STATEMENT_TIMEOUT", "30s")


def test_bad_boolean_and_port_are_refused(monkeypatch):
    monkeypatch.setenv("PGADMIN_READ_ONLY", "maybe")
    with pytest.raises(ImproperlyConfigured, match="READ_ONLY=1"):
        env_bool("PGADMIN_READ_ONLY")
    monkeypatch.setenv("PGADMIN_PORT", "99999")
    with pytest.raises(ImproperlyConfigured, match="between 1 and 65535"):
        env_int("PGADMIN_PORT", 3000, minimum=1, maximum=65535)


@pytest.mark.parametrize("raw", [
    "postgresql://u:p@db:5432/app",
    "postgres://u:p@db:5432/app",
    "postgresql+psycopg2://u:p@db:5432/app",
    "postgresql+asyncpg://u:p@db:5432/app",
    "postgresql+psycopg://u:p@db:5432/app",
])
def test_every_postgres_driver_flavour_becomes_psycopg3(raw):
    url = normalise_url(raw)
    assert url.drivername == "postgresql+psycopg"
    assert (url.host, url.port, url.database, url.username, url.password) == ("db", 5432, "app", "u", "p")


def test_asyncpg_ssl_parameter_becomes_sslmode():
    url = normalise_url("postgresql+asyncpg://u:p@db/app?ssl=require")
    assert url.query == {"sslmode": "require"}


@pytest.mark.parametrize("raw", ["mysql://u:p@db/app", "sqlite:///x.db", "not a url"])
def test_non_postgres_urls_are_refused_with_a_hint(raw):
    with pytest.raises(ImproperlyConfigured, match="Hint"):
        normalise_url(raw)


def test_masked_url_and_description_never_show_the_password():
    raw = "postgresql://app:Sup3r$ecret@db.internal:6432/shop"
    assert "Sup3r$ecret" not in mask_url(raw)
    assert "***" in mask_url(raw)
    assert describe(normalise_url(raw)) == "db.internal:6432/shop"


def test_scrub_masks_urls_dsns_and_registered_secrets():
    register_secret("hunter2-very-secret")
    text = "failed: postgresql://bob:pw123@h/db and password=abc and token hunter2-very-secret"
    cleaned = scrub(text)
    for secret in ("pw123", "abc", "hunter2-very-secret"):
        assert secret not in cleaned


def test_the_projects_own_variables_never_change_the_tool(tmp_path):
    """A project's env_file (short SECRET_KEY, DEBUG, PORT…) is given to the tool as is: the tool
    reads only PGADMIN_* names for itself, and the project's names reach the child untouched."""
    import json
    import os
    import subprocess
    import sys

    from tests.conftest import REPO

    project_env = {"SECRET_KEY": "short", "DEBUG": "1", "ALLOWED_HOSTS": "evil.example", "LOG_LEVEL": "nonsense",
                   "HOST": "0.0.0.0", "PORT": "1", "READ_ONLY": "maybe", "STATEMENT_TIMEOUT": "forever"}
    env = {**os.environ, **project_env, "PGADMIN_DATA_DIR": str(tmp_path), "DATABASE_URL": "postgresql://u@db/app",
           "PGADMIN_DATABASE_URL": "postgresql://tool@db/app2"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    script = ("import json; from django.conf import settings; from core.runner import child_env; "
              "print(json.dumps({'debug': settings.DEBUG, 'hosts': settings.ALLOWED_HOSTS, 'port': settings.PORT, "
              "'host': settings.HOST, 'level': settings.LOG_LEVEL, 'ro': settings.READ_ONLY, "
              "'timeout': settings.STATEMENT_TIMEOUT_MS, 'key': len(settings.SECRET_KEY), "
              "'target': settings.TARGET_DATABASE_URL, "
              "'child': {k: child_env('postgresql://t@db/x').get(k) for k in ['SECRET_KEY', 'DEBUG', 'PORT']}}))")
    proc = subprocess.run([sys.executable, "manage.py", "shell", "-c", script], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen["debug"] is False and "evil.example" not in seen["hosts"]
    assert (seen["port"], seen["host"], seen["level"], seen["ro"]) == (3000, "127.0.0.1", "INFO", False)
    assert seen["timeout"] == 30_000 and seen["key"] >= 32
    assert seen["target"] == "postgresql://tool@db/app2"  # PGADMIN_DATABASE_URL wins over the project's
    assert seen["child"] == {"SECRET_KEY": "short", "DEBUG": "1", "PORT": "1"}
