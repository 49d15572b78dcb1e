"""Backups are real pg_dump archives, listed with their revision, and restorable as a run."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from core.models import AuditEntry
from migrations_ui import backups
from tests.conftest import libpq
from tests.migrations_ui.conftest import alembic_cli, api_run, schema_of, wait_for_run
from tests.migrations_ui.test_runs import version_table

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_backup_is_restorable_and_brings_rows_and_revision_back(use_project, alice, api_as, tmp_path,
                                                                  pg_server_url):
    from tests.conftest import create_database, drop_database

    url = use_project("linear")
    api = api_as(alice)
    assert api_run(api, "upgrade", "l1_items", backup=False)["status"] == "succeeded"
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        conn.execute("INSERT INTO items (name) VALUES ('a'), ('b'), ('c')")
    run = api_run(api, "upgrade", "heads", backup=True)
    archive = Path(run["backup"]["path"])
    listed = {b["name"]: b for b in api.get("/api/alembic/backups").json()["backups"]}
    assert listed[archive.name]["revisions"] == ["l1_items"] and listed[archive.name]["bytes"] > 0
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        conn.execute("DELETE FROM items")

    response = api.post("/api/alembic/restore", {"name": archive.name, "backup": False}, format="json")
    assert response.status_code == 202
    wait_for_run(response.json()["run_id"])
    restore = api.get(f"/api/alembic/runs/{response.json()['run_id']}").json()
    assert restore["status"] == "succeeded", [line["text"] for line in restore["lines"]]
    assert version_table(url) == ["l1_items"] == restore["to_revisions"]
    with psycopg.connect(libpq(url)) as conn:
        assert conn.execute("SELECT count(*) FROM items").fetchone()[0] == 3
    twin = create_database(pg_server_url, "restore_twin")
    try:
        assert alembic_cli("linear", twin, "upgrade", "l1_items", tmp_path=tmp_path).returncode == 0
        assert schema_of(url) == schema_of(twin)
    finally:
        drop_database(pg_server_url, twin)
    assert AuditEntry.objects.filter(action="alembic.restore", outcome="ok").count() == 1


def test_restore_refuses_names_outside_the_backup_folder(use_project, alice, api_as, bob):
    use_project("linear")
    assert api_as(alice).post("/api/alembic/restore", {"name": "../secret_key"}, format="json").status_code == 404
    # found by fuzzing the OpenAPI schema: a name longer than the filesystem allows was a 500
    too_long = api_as(alice).post("/api/alembic/restore", {"name": "0" * 290 + ".dump"}, format="json")
    assert too_long.status_code == 404 and too_long.json()["error"]["code"] == "not_found"
    assert api_as(bob).post("/api/alembic/restore", {"name": "x.dump"}, format="json").status_code == 403


def test_retention_keeps_the_newest_archives(settings, db):
    folder = backups.backup_dir()
    for old in folder.glob("*.dump"):
        old.unlink()
    import os
    import time

    now = time.time()
    for i in range(5):
        path = folder / f"db-{i}.dump"
        path.write_bytes(b"PGDMP")
        os.utime(path, (now - 100 + i, now - 100 + i))
    removed = backups.apply_retention(keep=2)
    assert sorted(removed) == ["db-0.dump", "db-1.dump", "db-2.dump"]
    assert sorted(p.name for p in folder.glob("*.dump")) == ["db-3.dump", "db-4.dump"]
    for p in folder.glob("*.dump"):
        p.unlink()


def test_backup_and_restore_report_their_bytes_and_share_while_they_work(use_project, alice, api_as, monkeypatch):
    """A backup says how much it has written and how far it is; a restore how much of the archive it has read."""
    import re

    from migrations_ui import progress

    monkeypatch.setattr(progress, "POLL_S", 0.02)  # sample often, and store every sample as a log line
    monkeypatch.setattr(progress, "LINE_S", 0.0)
    url = use_project("linear")
    api = api_as(alice)
    assert api_run(api, "upgrade", "l1_items", backup=False)["status"] == "succeeded"
    with psycopg.connect(libpq(url), autocommit=True) as conn:  # enough rows for pg_dump to take a moment
        conn.execute("INSERT INTO items (name) SELECT md5(i::text) || repeat('x', 200) FROM generate_series(1, 100000) i")
        conn.execute("ANALYZE items")
    run = api_run(api, "upgrade", "heads", backup=True)
    assert run["status"] == "succeeded"
    samples = [line["text"] for line in run["lines"] if line["kind"] == "backup" and " written" in line["text"]]
    assert samples, [line["text"] for line in run["lines"]]
    figure = re.compile(r"Backup: ([\d,.]+) (bytes|kB|MB) written")
    assert all(figure.match(text) for text in samples), samples
    shares = [int(m[1]) for text in samples if (m := re.search(r" · (\d+)% · ", text))]
    assert shares and shares == sorted(shares), samples  # a share of the table data, never going back
    assert any("public.items (" in text for text in samples), samples  # the table being copied, with its rows

    response = api.post("/api/alembic/restore", {"name": Path(run["backup"]["path"]).name, "backup": False},
                        format="json")
    wait_for_run(response.json()["run_id"])
    restore = api.get(f"/api/alembic/runs/{response.json()['run_id']}").json()
    assert restore["status"] == "succeeded"
    total = progress.size(run["backup"]["bytes"])
    read = [line["text"] for line in restore["lines"] if line["kind"] == "restore" and line["text"].startswith("Restore:")]
    assert any(re.match(rf"Restore: [\d,.]+ (bytes|kB|MB) of {re.escape(total)} read · \d+%", t) for t in read), read
    assert progress.latest(restore["id"]) is None  # the step is over: no bar left for a page opened now
