"""A CSV import through two real instances behind a load balancer without sticky sessions.

Two ``manage.py serve`` processes share what the README's several-instances compose file gives them
(one internal database on PostgreSQL, one Redis, one target; ``tests.serving.shared_env``). Every
request below says which instance it goes to: the pieces of one upload, the job, its validation,
the polls and the import land on either, and each step finds what the one before left. Then A dies
in the middle of an import: B's housekeeping fails the job, and nothing was written.
"""

from __future__ import annotations

import json
import os
import signal
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from tests.conftest import FIXTURES
from tests.serving import InstancePair, Served, api_call, instance_pair, libpq, sleeping, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
PASSWORD = "two-instances-import-Secret-42"
SCHEMA = """
CREATE TABLE ti_item (id integer PRIMARY KEY, qty integer NOT NULL CHECK (qty >= 0), note text);
CREATE TABLE ti_slow (id integer PRIMARY KEY);
CREATE FUNCTION ti_nap() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(60); RETURN NULL; END $$;
CREATE TRIGGER ti_slow_nap AFTER INSERT ON ti_slow FOR EACH STATEMENT EXECUTE FUNCTION ti_nap();
"""


Pair = InstancePair


def _schema(target: str) -> None:
    with psycopg.connect(libpq(target), autocommit=True) as conn:
        conn.execute(SCHEMA)


@pytest.fixture(scope="module")
def pair(pg_server_url: str) -> Iterator[Pair]:
    with instance_pair(pg_server_url, "imp", FIXTURES / "alembic_linear", PASSWORD, prepare=_schema,
                       admin_on_b=True) as both:
        yield both


def send_piece(served: Served, token: str, table: str, data: bytes, offset: int,
               upload: str = "") -> tuple[int, dict[str, Any]]:
    """One raw piece of a file, as the page's script and API clients send big files."""
    url = f"{served.base_url}/api/tables/{table}/import/chunks?offset={offset}" + (f"&upload={upload}" if upload else "")
    request = urllib.request.Request(url, data=data, method="POST", headers={
        "Authorization": f"Token {token}", "Content-Type": "application/octet-stream", "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def job_on(served: Served, token: str, table: str, job_id: str) -> dict[str, Any]:
    status, body = api_call(served, "GET", f"/api/tables/{table}/import/{job_id}", token)
    assert status == 200, body
    return body


def internal_rows(pair: Pair, query: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(pair.env["PGADMIN_INTERNAL_DATABASE_URL"], autocommit=True) as conn:
        return conn.execute(query).fetchall()


def target_rows(pair: Pair, query: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(libpq(pair.target), autocommit=True) as conn:
        return conn.execute(query).fetchall()


def test_an_upload_in_pieces_validated_on_a_and_imported_on_b(pair: Pair) -> None:
    table = "public.ti_item"
    data = ("id,qty,note\n" + "".join(f"{i},{i % 10},item {i}\n" for i in range(1, 2001))).encode()
    half = len(data) // 2
    status, first = send_piece(pair.a, pair.token, table, data[:half], 0)  # piece 1 to A
    assert status == 200, first
    status, second = send_piece(pair.b, pair.token, table, data[half:], half, first["upload"])  # piece 2 to B
    assert status == 200 and second == {"upload": first["upload"], "size": len(data)}, second
    # the job is made on A from the pieces A and B received, and its validation starts there
    status, job = api_call(pair.a, "POST", f"/api/tables/{table}/import", pair.token,
                           {"upload": first["upload"], "name": "items.csv", "wait": 0})
    assert status == 202, job
    wait_until(lambda: job_on(pair.b, pair.token, table, job["id"])["state"] not in ("validating",), 30,
               "the validation, polled on B")
    seen = job_on(pair.b, pair.token, table, job["id"])
    assert seen["state"] == "valid" and seen["rows"] == 2000 and seen["file_name"] == "items.csv", seen
    status, run = api_call(pair.b, "POST", f"/api/tables/{table}/import/{job['id']}/run", pair.token)  # import on B
    assert status == 202, run
    wait_until(lambda: job_on(pair.a, pair.token, table, job["id"])["state"] != "importing", 30, "the import, polled on A")
    done = job_on(pair.a, pair.token, table, job["id"])
    assert done["state"] == "done" and done["written"] == 2000, done
    assert target_rows(pair, "SELECT count(*), sum(qty) FROM ti_item") == [(2000, sum(i % 10 for i in range(1, 2001)))]
    [(outcome, after)] = internal_rows(pair, "SELECT outcome, after FROM core_auditentry WHERE action = 'data.import'")
    assert outcome == "ok" and after["written"] == 2000 and after["file"] == "items.csv", after
    assert internal_rows(pair, f"SELECT count(*) FROM databrowser_importchunk WHERE job_id = '{job['id']}'") == [(0,)]


def test_when_a_dies_mid_import_b_fails_the_job_and_nothing_was_written(pair: Pair) -> None:
    table = "public.ti_slow"
    status, job = api_call(pair.a, "POST", f"/api/tables/{table}/import", pair.token,
                           {"text": "id\n1\n2\n3\n", "confirm": True, "wait": 0})
    assert status == 202, job
    wait_until(lambda: sleeping(pair.target), 30, "the import's INSERT (its trigger sleeps a minute)")
    assert job_on(pair.b, pair.token, table, job["id"])["state"] == "importing"
    os.killpg(pair.a.proc.pid, signal.SIGKILL)  # A dies; nobody asks B anything: its housekeeping must notice
    pair.a.proc.wait(10)
    stopped = "The server running this import stopped; nothing was written."
    wait_until(lambda: internal_rows(pair, f"SELECT message FROM databrowser_importjob WHERE id = '{job['id']}'")
               == [(stopped,)], 45, "B's housekeeping failing the job")
    seen = job_on(pair.b, pair.token, table, job["id"])
    assert seen["state"] == "failed" and seen["message"] == stopped, seen
    for pid in sleeping(pair.target):  # the dead instance's session, still asleep: end it as PostgreSQL would later
        target_rows(pair, f"SELECT pg_terminate_backend({pid})")
    wait_until(lambda: not sleeping(pair.target), 10, "the import's session ending")
    assert target_rows(pair, "SELECT count(*) FROM ti_slow") == [(0,)]
