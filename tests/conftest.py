"""Shared fixtures: a real PostgreSQL for every test module, the actors, a served instance.

The PostgreSQL server is, in order: ``TEST_DATABASE_URL``; a server answering on
127.0.0.1:5432; else the embedded one (started in a temporary folder). Each test module gets
its own freshly created target database (``target_url``), dropped afterwards. The internal DB
is Django's test database (pytest-django).

Actors: alice the admin, bob the editor, carol the viewer.
"""

from __future__ import annotations

import os
import re
import socket
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"
PASSWORD = "correct-horse-battery"
# TEST_FUZZ=full (`make fuzz`): the API fuzz at full depth; `make test` runs a quicker pass.
FUZZ_FULL = os.environ.get("TEST_FUZZ", "").strip().lower() == "full"


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def pg_server_url() -> str:
    """libpq URL of the maintenance database of the test server."""
    given = os.environ.get("TEST_DATABASE_URL", "").strip()
    if given:
        return given.replace("postgresql+psycopg://", "postgresql://")
    if _answers("127.0.0.1", 5432):
        return "postgresql://postgres@127.0.0.1:5432/postgres"
    from core import embedded

    return embedded.start(Path(tempfile.mkdtemp(prefix="pgadmin-embedded-")), "postgres")


def _with_db(url: str, name: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(database=name).render_as_string(hide_password=False)


def create_database(server_url: str, label: str, template: str | None = None) -> str:
    """Create a fresh database (a copy of the database ``template`` if given) and return its
    postgresql+psycopg URL."""
    name = f"t_{re.sub(r'[^a-z0-9]+', '_', label.lower())[-30:]}_{uuid.uuid4().hex[:8]}"
    statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template is not None:
        statement = sql.SQL("{} TEMPLATE {}").format(statement, sql.Identifier(template))
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(statement)
    return _with_db(server_url, name).replace("postgresql://", "postgresql+psycopg://", 1)


def drop_database(server_url: str, url: str) -> None:
    from sqlalchemy.engine import make_url

    name = make_url(url).database
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def libpq(url: str) -> str:
    """``url`` for psycopg and libpq's programs: ``postgresql://``, without the SQLAlchemy driver name."""
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="module")
def target_url(pg_server_url: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, empty target database for this test module (postgresql+psycopg URL)."""
    url = create_database(pg_server_url, request.module.__name__.rsplit(".", 1)[-1])
    yield url
    from core import target

    target.dispose()
    drop_database(pg_server_url, url)


@pytest.fixture
def target(target_url: str, settings) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """Point the tool at this module's target database for one test."""
    from core import target as core_target

    settings.TARGET_DATABASE_URL = target_url
    core_target.set_target_url(None)
    yield target_url
    core_target.dispose()


@pytest.fixture(scope="session")
def demo_templates() -> Iterator[dict[str, str]]:
    """{server URL: name of a database with the demo loaded}: the demo setup (a child process that
    migrates and seeds, seconds each) runs once per server per session; each module's ``demo_url``
    is a ``CREATE DATABASE … TEMPLATE`` copy of it (a fraction of a second). Nothing ever connects
    to a template, so copying it never waits. Keyed by server: the version matrix has several."""
    made: dict[str, str] = {}
    yield made
    for server_url, name in made.items():
        try:
            drop_database(server_url, _with_db(server_url, name))
        except psycopg.OperationalError:  # that server was already stopped (the version matrix's)
            pass


def _demo_template(templates: dict[str, str], server_url: str) -> str:
    if server_url not in templates:
        from sqlalchemy.engine import make_url

        from core.demo import load_demo

        url = create_database(server_url, "demo_template")
        result = load_demo(url)
        if not result.get("ok"):
            drop_database(server_url, url)
            raise AssertionError(result)
        templates[server_url] = str(make_url(url).database)
    return templates[server_url]


@pytest.fixture(scope="module")
def demo_url(pg_server_url: str, demo_templates: dict[str, str], request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh database with the demo project loaded (one or two revisions behind head): a copy of
    the session's demo template, so each module may change its own freely."""
    label = "demo_" + request.module.__name__.rsplit(".", 1)[-1]
    try:
        url = create_database(pg_server_url, label, template=_demo_template(demo_templates, pg_server_url))
    except psycopg.errors.ObjectInUse:  # something connected to the template after all: load this one
        from core.demo import load_demo

        url = create_database(pg_server_url, label)
        result = load_demo(url)
        assert result.get("ok"), result
    yield url
    from core import target

    target.dispose()
    drop_database(pg_server_url, url)


def _actor(username: str, role: str):  # type: ignore[no-untyped-def]
    from core.accounts import create_user

    return create_user(username, role, PASSWORD)


@pytest.fixture
def alice(db):  # type: ignore[no-untyped-def]
    """alice the admin."""
    return _actor("alice", "admin")


@pytest.fixture
def bob(db):  # type: ignore[no-untyped-def]
    """bob the editor."""
    return _actor("bob", "editor")


@pytest.fixture
def carol(db):  # type: ignore[no-untyped-def]
    """carol the viewer."""
    return _actor("carol", "viewer")


@pytest.fixture
def client_as(client):  # type: ignore[no-untyped-def]
    """``client_as(user)``: Django's test client logged in as that user."""

    def login(user):  # type: ignore[no-untyped-def]
        client.force_login(user)
        return client

    return login


@pytest.fixture
def api_as():  # type: ignore[no-untyped-def]
    """``api_as(user)``: a DRF APIClient authenticated with a fresh API token of the user."""
    from rest_framework.test import APIClient

    from core.tokens import issue

    def make(user):  # type: ignore[no-untyped-def]
        api = APIClient()
        _token, key = issue(user, "test")
        api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        return api

    return make


# --- the real server and a real browser -------------------------------------------------

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic"]
ARTIFACTS = REPO / "test-artifacts"


@pytest.fixture(scope="module")
def served_demo(demo_url: str):  # type: ignore[no-untyped-def]
    """`manage.py serve --demo` (the real entry command) on this module's demo database.

    ``served_demo.login_path()`` is the printed one-time admin link; ``served_demo.add_user``
    creates more actors in the served instance's own internal DB.
    """
    from tests.serving import Served

    served = Served({"DATABASE_URL": demo_url, "PGADMIN_STATEMENT_TIMEOUT": "30s"}, ["--demo"])
    try:
        served.wait_ready()
        yield served
    finally:
        served.stop()


def wait_until(page, expression: str, timeout_s: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    """Poll ``expression`` in the page until it is truthy. Playwright's ``wait_for_function`` evaluates
    its predicate with ``eval`` inside the page, which the tool's Content-Security-Policy (no
    'unsafe-eval') rightly refuses; ``page.evaluate`` goes through the debugger protocol instead."""
    import time

    from playwright.sync_api import Error as PlaywrightError

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if page.evaluate(expression):
                return
        except PlaywrightError:  # a navigation in between, or the element not there yet: look again
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout_s} s: {expression}")
        page.wait_for_timeout(50)


# TEST_BROWSER=firefox (or --browser-name firefox) runs the browser tests in Debian's firefox-esr,
# through Playwright's WebDriver BiDi support for a stock Firefox (docs/compat.md, "Browsers").
FIREFOX = os.environ.get("FIREFOX_PATH", "/usr/bin/firefox-esr")
# What firefox-esr 153 over BiDi cannot show Playwright: a download of a blob: URL (the exports
# build their file in the page). Tests that wait for one are expected to fail there (strict: when
# a later Firefox reports them, the xfail turns into a failure that says to drop this).
FIREFOX_BLOB_DOWNLOADS = "firefox-esr over WebDriver BiDi reports no download event for a blob: URL"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--browser-name", choices=("chromium", "firefox"), default=os.environ.get("TEST_BROWSER", "chromium"),
                     help="the browser of the browser tests (default $TEST_BROWSER or chromium)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("browser_name") != "firefox":
        return
    import inspect

    for item in items:
        function = getattr(item, "function", None)
        if item.get_closest_marker("browser") and function and "expect_download" in inspect.getsource(function):
            item.add_marker(pytest.mark.xfail(reason=FIREFOX_BLOB_DOWNLOADS, strict=True))


@pytest.fixture(scope="session")
def playwright_driver():  # type: ignore[no-untyped-def]
    """One Playwright for the session (its sync API allows one per thread)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        yield pw


def launch_firefox(pw, downloads: Path | None = None):  # type: ignore[no-untyped-def]
    """Debian's firefox-esr: Playwright's own Firefox build is never downloaded, so the stock one is
    driven over WebDriver BiDi (the ``moz-firefox`` channel). Downloads are saved in ``downloads``."""
    if not Path(FIREFOX).exists():
        pytest.fail(f"{FIREFOX} is missing: apt-get install -y firefox-esr (.ci/run does it)")
    from importlib.metadata import version

    if tuple(int(part) for part in version("playwright").split(".")[:2]) >= (1, 65):
        pytest.fail(f"playwright {version('playwright')} opens no page in firefox-esr 153 (emulation.setMediaFeaturesOverride "
                    "is unknown to it): pip install -r requirements-dev.txt, which pins 1.64.1")
    return pw.firefox.launch(channel="moz-firefox", executable_path=FIREFOX, headless=True,
                             downloads_path=str(downloads) if downloads else None)


@pytest.fixture(scope="session")
def browser(pytestconfig, playwright_driver):  # type: ignore[no-untyped-def]
    """Debian's Chromium (or firefox-esr, see above) driven by Playwright (never `playwright install`)."""
    if pytestconfig.getoption("browser_name") == "firefox":
        launched = launch_firefox(playwright_driver)
        _keep_docs_screenshots(launched)
    else:
        if not Path(CHROMIUM).exists():
            pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does it)")
        launched = playwright_driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    yield launched
    launched.close()


@pytest.fixture(scope="session")
def firefox_downloads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the `firefox` fixture's browser saves downloads (seen there, since BiDi reports no
    download event for a blob: URL)."""
    return tmp_path_factory.mktemp("firefox-downloads")


@pytest.fixture(scope="session")
def firefox(playwright_driver, firefox_downloads):  # type: ignore[no-untyped-def]
    """firefox-esr beside the session's browser: the Firefox cell of `make test` (tests/browser/test_firefox.py)."""
    launched = launch_firefox(playwright_driver, firefox_downloads)
    yield launched
    launched.close()


# Playwright's sync API leaves its event loop marked as the thread's running loop between two calls
# (``wait_for_future`` in playwright/_impl/_greenlets.py sets the mark back after each, and its
# dispatcher needs it when it resumes). A test that follows a browser test in the same process (`make
# test` runs two xdist workers) would then trip Django's async-safety check (SynchronousOnlyOperation)
# in its fixtures and pytest-asyncio's "cannot be called from a running event loop". So a test that
# drives no browser runs with the mark cleared, and the mark is put back after it, and before the last
# teardown of the session (which may close the browser).
_BROWSER_FIXTURES = frozenset({"page", "browser", "firefox", "playwright_driver"})
_playwright_loop: list[object] = []


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):  # type: ignore[no-untyped-def]
    import asyncio

    marked = asyncio._get_running_loop()
    if marked is None or _BROWSER_FIXTURES & set(getattr(item, "fixturenames", ())):
        yield
        return
    asyncio._set_running_loop(None)
    _playwright_loop[:] = [marked]
    try:
        yield
    finally:
        _restore_playwright_loop()


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None):  # type: ignore[no-untyped-def]
    if nextitem is None:  # the session's fixtures (the browser among them) end in this teardown
        _restore_playwright_loop()
    yield


def _restore_playwright_loop() -> None:
    import asyncio

    if _playwright_loop and asyncio._get_running_loop() is None:
        asyncio._set_running_loop(_playwright_loop[0])  # type: ignore[arg-type]
    _playwright_loop.clear()


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


def _keep_docs_screenshots(browser):  # type: ignore[no-untyped-def]
    """docs/screenshots show Chromium's rendering: in a Firefox run, every page of every context
    writes those pictures to test-artifacts/firefox/ instead."""
    docs = (REPO / "docs" / "screenshots").resolve()

    def redirecting(tab):  # type: ignore[no-untyped-def]
        shoot = tab.screenshot

        def screenshot(*args, path=None, **kwargs):  # type: ignore[no-untyped-def]
            if path is not None and Path(path).resolve().parent == docs:
                path = ARTIFACTS / "firefox" / Path(path).name
                path.parent.mkdir(parents=True, exist_ok=True)
            return shoot(*args, path=path, **kwargs)

        tab.screenshot = screenshot
        return tab

    new_context = browser.new_context

    def context_with_redirecting_pages(*args, **kwargs):  # type: ignore[no-untyped-def]
        context = new_context(*args, **kwargs)
        new_page = context.new_page
        context.new_page = lambda *a, **kw: redirecting(new_page(*a, **kw))
        return context

    browser.new_context = context_with_redirecting_pages


@pytest.fixture
def page(browser, request):  # type: ignore[no-untyped-def]
    """A fresh browser page at 1280x800; a screenshot is saved in test-artifacts/ on failure."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    yield tab
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)[-120:]
        try:
            tab.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        except Exception as exc:  # a failed screenshot must not hide the real failure
            print(f"screenshot failed: {exc}")
    context.close()
