"""Settings fail loudly with a hint; target URLs of every driver flavour are normalised and masked."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from core.logging import register_secret, scrub
from core.target import describe, mask_url, normalise_url
from pgadmin_site.env import env_bool, env_duration_ms, env_int


@pytest.mark.parametrize("raw, expected", [("30s", 30_000), ("500ms", 500), ("2min", 120_000), ("1.5s", 1_500), ("45", 45_000)])
def test_statement_timeout_accepts_human_durations(monkeypatch, raw, expected):
    monkeypatch.setenv("STATEMENT_TIMEOUT", raw)
    assert env_duration_ms("STATEMENT_TIMEOUT", "30s") == expected


@pytest.mark.parametrize("raw", ["soon", "-1s", "30 parsecs", "0ms"])
def test_bad_duration_is_refused_with_a_hint(monkeypatch, raw):
    monkeypatch.setenv("STATEMENT_TIMEOUT", raw)
    with pytest.raises(ImproperlyConfigured, match="Hint"):
        env_duration_ms("STATEMENT_TIMEOUT", "30s")


def test_bad_boolean_and_port_are_refused(monkeypatch):
    monkeypatch.setenv("READ_ONLY", "maybe")
    with pytest.raises(ImproperlyConfigured, match="READ_ONLY=1"):
        env_bool("READ_ONLY")
    monkeypatch.setenv("PORT", "99999")
    with pytest.raises(ImproperlyConfigured, match="between 1 and 65535"):
        env_int("PORT", 3000, minimum=1, maximum=65535)


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
