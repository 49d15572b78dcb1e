"""`docker stop` sends SIGTERM and waits 10 s: `serve` must be gone well before, whatever is in flight.

Found by the suite: a page request caught between Daphne's stopped event loop and Django's
``async_to_sync`` kept the interpreter's exit waiting forever (until SIGKILL). A request stuck in a
slow query is the deterministic way to have a worker thread busy at that moment.
"""

from __future__ import annotations

import http.client
import os
import signal
import threading
import time

import pytest

from tests.serving import Served, api_call, api_token, sleeping, wait_until

pytestmark = pytest.mark.slow
PASSWORD = "serve-stops-Secret-42"


def test_serve_exits_at_once_on_sigterm_with_a_slow_query_in_flight_and_its_session_ends(target_url):
    served = Served({"DATABASE_URL": target_url, "PGADMIN_ADMIN_USERNAME": "alice",
                     "PGADMIN_ADMIN_PASSWORD": PASSWORD, "PGADMIN_STATEMENT_TIMEOUT": "120s"})
    try:
        served.wait_ready()
        token = api_token(served, "alice", PASSWORD)
        outcome: list[BaseException | tuple[int, dict]] = []

        def ask() -> None:
            try:
                outcome.append(api_call(served, "POST", "/api/database/query", token,
                                        {"sql": "SELECT pg_sleep(60)", "mode": "read"}))
            except Exception as exc:  # noqa: BLE001 - the server going away is the expected answer
                outcome.append(exc)

        query = threading.Thread(target=ask, daemon=True)
        query.start()
        wait_until(lambda: sleeping(target_url), 30, "the console query in pg_sleep")
        started = time.monotonic()
        os.killpg(served.proc.pid, signal.SIGTERM)
        served.proc.wait(timeout=30)
        assert time.monotonic() - started < 5, served.output[-2000:]
        assert served.proc.returncode == 0
        query.join(timeout=10)
        # The client either sees its connection closed, or (when the answer got out before the exit)
        # reads that its statement was cancelled: never a result of a query that went on running.
        assert outcome, "the request never ended"
        answer = outcome[0]
        if not isinstance(answer, OSError | http.client.HTTPException):
            assert isinstance(answer, tuple) and answer[1]["outcome"] == "cancelled", answer
        wait_until(lambda: not sleeping(target_url), 15, "the query's session ending with the server")
    finally:
        served.stop()
