"""Resources: bytes are capped, a user runs few queries at once, a silent or saturated database
answers 503 in bounded time (issue 10 items 9-11). Loopback only, every case bounded in time."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from core.exceptions import AppError, TargetBusy, TargetUnavailable
from tests.serving import free_port
from tests.tcp_proxy import TcpProxy

WIDE = "SELECT repeat('x', 30000) FROM generate_series(1, 10000)"


@pytest.fixture
def console_target(role_target: str) -> Iterator[str]:
    from core import reader_role
    from sqlconsole import services

    reader_role.forget()
    yield role_target
    reader_role.forget()
    for user_id in {h.user_id for h in list(services._held.values())}:
        services.release_user(user_id)


def run(api, sql: str, **extra):  # type: ignore[no-untyped-def]
    return api.post("/api/database/query", {"sql": sql, **extra}, format="json")


def test_a_wide_result_is_truncated_at_the_byte_cap_and_says_so(console_target, alice, api_as, settings):
    settings.CONSOLE_MAX_BYTES = 2 * 1024 * 1024
    response = run(api_as(alice), WIDE)
    assert response.status_code == 200
    body = response.json()
    result = body["results"][0]
    assert result["truncated"] and result["has_more"] and result["cursor"]
    assert body["max_bytes"] == 2 * 1024 * 1024
    assert 0 < sum(len(r[0]) for r in result["rows"]) <= 2 * 1024 * 1024
    assert len(response.content) < 3 * 1024 * 1024
    assert any("truncated at 2 MB" in n for n in result["notices"])
    more = api_as(alice).post("/api/database/query/more", {"cursor": result["cursor"]}, format="json").json()
    assert more["truncated"] and sum(len(r[0]) for r in more["rows"]) <= 2 * 1024 * 1024


def test_three_parallel_wide_queries_by_one_user_stay_within_the_caps(console_target, alice, settings):
    from sqlconsole import services

    settings.CONSOLE_MAX_BYTES = 2 * 1024 * 1024
    settings.CONSOLE_HELD_PER_USER = 2
    outcomes: list[object] = []
    gate = threading.Barrier(3)

    def one() -> None:
        gate.wait()
        try:
            outcomes.append(services.run_script("SELECT pg_sleep(0.3);\n" + WIDE, user_id=alice.pk))
        except AppError as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=one) for _ in range(3)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert time.monotonic() - started < 60
    refused = [o for o in outcomes if isinstance(o, AppError)]
    done = [o for o in outcomes if not isinstance(o, AppError)]
    assert len(refused) == 1 and refused[0].status == 429 and refused[0].code == "too_many_queries"
    for result in done:
        rows = result.results[1].rows  # type: ignore[attr-defined]
        assert result.results[1].truncated  # type: ignore[attr-defined]
        assert sum(len(r[0]) for r in rows) <= 2 * 1024 * 1024


class PausableProxy(TcpProxy):
    """The tests' TCP forwarder, able to go silent: bytes are received (and ACKed) but not passed on,
    like a database host that froze or a network cut without a RST."""

    def __init__(self, port: int, upstream: tuple[str, int]) -> None:
        self.silent = threading.Event()
        super().__init__(port, upstream)

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:  # type: ignore[override]
        try:
            while data := src.recv(65536):
                while self.silent.is_set() and not self._stopped:
                    time.sleep(0.02)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


@pytest.fixture
def silent_db(console_target, security_roles, settings, monkeypatch) -> Iterator[PausableProxy]:  # type: ignore[no-untyped-def]
    from core import target

    url = make_url(security_roles[console_target])
    proxy = PausableProxy(free_port(), (url.host or "127.0.0.1", url.port or 5432))
    port = proxy.server.getsockname()[1]
    settings.TARGET_DATABASE_URL = url.set(host="127.0.0.1", port=port).render_as_string(hide_password=False)
    settings.STATEMENT_TIMEOUT_MS = 1000
    monkeypatch.setattr(target, "DEADLINE_MARGIN_S", 1.0)
    target.dispose()
    yield proxy
    proxy.silent.clear()
    proxy.close()
    target.dispose()


def test_a_page_query_in_flight_when_the_database_goes_silent_ends_in_bounded_time(silent_db):
    from core import target

    with target.connect() as conn:  # the pool holds a live connection through the proxy
        conn.execute(text("SELECT 1"))
    threading.Timer(0.2, silent_db.silent.set).start()
    started = time.monotonic()
    with pytest.raises(TargetUnavailable) as raised:
        with target.connect() as conn:
            conn.execute(text("SELECT pg_sleep(0.5)"))
    elapsed = time.monotonic() - started
    assert elapsed < 1.0 + 1.0 + 3, elapsed  # statement_timeout + margin, with slack for a busy machine
    assert "stopped answering" in raised.value.message


def test_a_console_query_in_flight_when_the_database_goes_silent_answers_503(silent_db, alice, api_as):
    threading.Timer(0.3, silent_db.silent.set).start()
    started = time.monotonic()
    response = run(api_as(alice), "SELECT pg_sleep(0.8)")
    assert time.monotonic() - started < 1.0 + 1.0 + 5
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "database_unavailable" and response.json()["error"]["hint"]


def test_a_full_page_pool_answers_503_with_a_hint_not_500(console_target, alice, api_as, monkeypatch):
    from core import target

    monkeypatch.setitem(target.POOLS, "pages", {"pool_size": 1, "max_overflow": 0, "pool_timeout": 1})
    target.dispose()
    try:
        with target.connect():
            response = api_as(alice).get("/api/database/stats")
        assert response.status_code == 503
        error = response.json()["error"]
        assert error["code"] == "database_busy" and error["hint"]
        assert api_as(alice).get("/api/database/stats").status_code == 200  # recovers once freed
    finally:
        target.dispose()


def test_exports_have_their_own_pool_and_cannot_starve_the_pages(console_target, alice, api_as):
    from contextlib import ExitStack

    from core import target

    size = target.POOLS["export"]["pool_size"] + target.POOLS["export"]["max_overflow"]
    with ExitStack() as stack:
        for _ in range(size):
            stack.enter_context(target.connect(purpose="export"))
        started = time.monotonic()
        with pytest.raises(TargetBusy):
            stack.enter_context(target.connect(purpose="export"))
        assert time.monotonic() - started < target.POOLS["export"]["pool_timeout"] + 3
        assert api_as(alice).get("/api/database/stats").status_code == 200  # pages still served
    with target.connect(purpose="export") as conn:
        idle = conn.execute(text("SHOW idle_in_transaction_session_timeout")).scalar()
    assert idle == "1min"


def test_a_dead_database_answers_503_on_pages_and_in_the_console(console_target, alice, api_as, settings):
    from core import target

    settings.TARGET_DATABASE_URL = f"postgresql://nobody@127.0.0.1:{free_port()}/gone"
    target.dispose()
    for response in (api_as(alice).get("/api/database/stats"), run(api_as(alice), "SELECT 1")):
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "database_unavailable" and response.json()["error"]["hint"]
    target.dispose()


def test_the_deadline_is_per_round_trip_so_a_long_result_in_many_batches_still_arrives(console_target, alice,
                                                                                     api_as, settings,
                                                                                     monkeypatch):
    from core import target

    settings.STATEMENT_TIMEOUT_MS = 450
    monkeypatch.setattr(target, "DEADLINE_MARGIN_S", 0.2)  # 0.65 s per round trip
    started = time.monotonic()
    response = run(api_as(alice), "SELECT g, CASE WHEN g % 4 = 0 THEN pg_sleep(0.001) END "
                                   "FROM generate_series(1, 3000) g")  # ~0.15 s per batch of 500 rows
    elapsed = time.monotonic() - started
    result = response.json()["results"][0]
    assert result["outcome"] == "ok", result["error"]
    assert result["row_count"] == 3000 and elapsed > 0.65  # longer than one deadline, in several batches
