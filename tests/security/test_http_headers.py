"""Every answer carries the Content-Security-Policy; every page and API answer that can show target
data carries ``Cache-Control: no-store``; no template or rendered page holds an inline script."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
import pytest

pytestmark = pytest.mark.django_db

REPO = Path(__file__).resolve().parents[2]
PAGES = ["/", "/alembic", "/models", "/er-diagram", "/data", "/data/public.hdr_t", "/data/public.hdr_t/row/1",
         "/data/public.hdr_t/row/1/edit", "/data/public.hdr_t/new", "/data/public.hdr_t/row/1/delete", "/sql",
         "/audit", "/users", "/data/public.hdr_t/export?format=csv"]
API = ["/api/tables", "/api/tables/public.hdr_t/data", "/api/tables/public.hdr_t/rows/1",
       "/api/tables/public.hdr_t/schema", "/api/tables/public.hdr_t/export?format=json"]


@pytest.fixture
def hdr(target: str) -> str:
    with psycopg.connect(target.replace("postgresql+psycopg://", "postgresql://", 1), autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS hdr_t (id int PRIMARY KEY, name text)")
        conn.execute("INSERT INTO hdr_t VALUES (1, 'secret data') ON CONFLICT DO NOTHING")
    return target


def drain(response) -> None:  # type: ignore[no-untyped-def]
    """Read a streamed export to its end: it frees the user's export slot (as a real client's close does)."""
    if getattr(response, "streaming", False):
        b"".join(response.streaming_content)


def directives(policy: str) -> dict[str, list[str]]:
    out = {}
    for part in policy.split(";"):
        words = part.split()
        if words:
            out[words[0]] = words[1:]
    return out


def test_the_policy_allows_only_own_scripts_and_no_framing_or_plugins():
    from core.security_headers import content_security_policy

    d = directives(content_security_policy())
    assert d["script-src"] == ["'self'"]
    assert "'unsafe-inline'" not in d["style-src"] and "'unsafe-eval'" not in d["script-src"]
    assert d["object-src"] == ["'none'"] and d["base-uri"] == ["'none'"] and d["frame-ancestors"] == ["'none'"]
    assert d["connect-src"] == ["'self'"] and d["default-src"] == ["'self'"]
    assert any(v.startswith("'sha256-") for v in d["style-src"])  # the ER diagram's own <style>, by hash


def test_every_page_and_api_answer_is_no_store_with_the_csp(hdr, client_as, alice, api_as):
    client = client_as(alice)
    for path in PAGES:
        r = client.get(path)
        drain(r)
        assert r.status_code < 500, (path, r.status_code)
        assert "no-store" in r["Cache-Control"], path
        assert "script-src 'self'" in r["Content-Security-Policy"], path
    api = api_as(alice)
    for path in API:
        r = api.get(path)
        drain(r)
        assert r.status_code == 200, (path, r.content[:300])
        assert "no-store" in r["Cache-Control"], path


def test_error_answers_and_the_login_page_carry_the_headers_too(hdr, client, api_as, carol):
    for r in (client.get("/login"), client.get("/data/public.nope"), api_as(carol).get("/api/tables/public.nope/data")):
        assert "no-store" in r["Cache-Control"] and r["Content-Security-Policy"]


def test_static_files_keep_their_caching(hdr, client):
    r = client.get("/static/js/app.js")
    assert r.status_code == 200
    assert "no-store" not in r.get("Cache-Control", "")


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I)
INLINE_HANDLER = re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.I)


def test_no_template_holds_an_inline_script_or_event_handler():
    offenders = []
    for path in (REPO / "templates").rglob("*.html"):
        text = path.read_text()
        for regex in (INLINE_SCRIPT, INLINE_HANDLER):
            offenders += [f"{path.relative_to(REPO)}: {m.group(0)[:60]}" for m in regex.finditer(text)]
        offenders += [f"{path.relative_to(REPO)}: javascript: URL" for _ in re.finditer(r"javascript:", text, re.I)]
    assert offenders == []


def test_no_rendered_page_holds_an_inline_script_or_event_handler(hdr, client_as, alice):
    client = client_as(alice)
    for path in PAGES[:-1]:
        html = client.get(path).content.decode()
        assert not INLINE_SCRIPT.search(html), path
        assert not INLINE_HANDLER.search(html), path


def test_no_template_holds_an_inline_style_element():
    offenders = [str(p.relative_to(REPO)) for p in (REPO / "templates").rglob("*.html") if "<style" in p.read_text()]
    assert offenders == []


def test_the_highlighting_stylesheet_is_the_one_pygments_generates():
    from migrations_ui import preview

    shipped = (REPO / "static" / "migrations_ui" / "pygments.css").read_text()
    assert preview.pygments_css() in shipped


def test_only_the_sql_console_allows_inline_style_elements_and_never_inline_script(hdr, client_as, alice):
    client = client_as(alice)
    console = directives(client.get("/sql")["Content-Security-Policy"])
    assert "'unsafe-inline'" in console["style-src"]  # CodeMirror mounts its theme as <style> elements
    assert console["script-src"] == ["'self'"]
    grid = directives(client.get("/data/public.hdr_t")["Content-Security-Policy"])
    assert "'unsafe-inline'" not in grid["style-src"]
