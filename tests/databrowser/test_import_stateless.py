"""CSV import without per-process state: every step may reach another instance.

Between two requests below the "instance" changes: the importer's modules are loaded again (any
module-level state is gone) and the data dir is another one (nothing on disk carries over), as when
a load balancer sends the next request to another process. The job and its file live in the
internal DB; a job whose process died is failed by the housekeeping pass.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from core.models import AuditEntry
from tests.databrowser.conftest import settled_import, sql, with_schema

with_db = pytest.mark.django_db(transaction=True)
BASE = "/api/tables/public.sl_item"

SCHEMA = """
DROP TABLE IF EXISTS sl_item;
CREATE TABLE sl_item (id integer PRIMARY KEY, qty integer NOT NULL CHECK (qty >= 0), note text);
"""


@pytest.fixture
def shelf(target: str) -> Iterator[str]:
    yield from with_schema(target, SCHEMA)


def another_instance(settings: Any, tmp_path: Any, n: int) -> None:
    """What the next request would find on another process: fresh modules, another data dir, cold caches."""
    from databrowser import importer, importer_jobs, importer_upload, query

    for module in (importer_upload, importer_jobs, importer):
        importlib.reload(module)
    settings.DATA_DIR = str(tmp_path / f"instance-{n}")
    query.invalidate()


def _settled(api: Any, job: dict) -> dict:
    return settled_import(api, BASE, job)


def _piece(api: Any, data: bytes, offset: int, upload: str = "") -> Any:
    url = f"{BASE}/import/chunks?offset={offset}" + (f"&upload={upload}" if upload else "")
    return api.post(url, data, content_type="application/octet-stream")


@with_db
def test_the_pieces_the_job_its_validation_and_its_import_each_on_another_instance(
        shelf, api_as, bob, alice, settings, tmp_path):
    api = api_as(bob)
    data = ("id,qty,note\n" + "".join(f"{i},{i},row {i}\n" for i in range(1, 301))).encode()
    first = _piece(api, data[:2000], 0).json()
    another_instance(settings, tmp_path, 1)
    assert _piece(api, data[2000:], 0, first["upload"]).status_code == 409  # the offset is checked on any instance
    assert _piece(api, data[2000:], 2000, first["upload"]).json() == {"upload": first["upload"], "size": len(data)}
    assert _piece(api_as(alice), b"x", len(data), first["upload"]).status_code == 404  # not alice's upload
    another_instance(settings, tmp_path, 2)
    r = api.post(f"{BASE}/import", {"upload": first["upload"], "wait": 0}, format="json")
    assert r.status_code == 202, r.content
    job_id = r.json()["id"]
    another_instance(settings, tmp_path, 3)
    job = _settled(api, api.get(f"{BASE}/import/{job_id}").json())
    assert job["state"] == "valid" and job["rows"] == 300, job
    assert api_as(alice).get(f"{BASE}/import/{job_id}").status_code == 404  # another user's job does not exist
    another_instance(settings, tmp_path, 4)
    job = _settled(api, api.post(f"{BASE}/import/{job_id}/run").json())
    assert job["state"] == "done" and job["written"] == 300, job
    assert sql(shelf, "SELECT count(*), sum(qty) FROM sl_item") == [(300, sum(range(1, 301)))]
    entry = AuditEntry.objects.get(action="data.import", outcome="ok")
    assert entry.username == "bob" and (entry.after or {})["written"] == 300

    from databrowser.models import ImportChunk, ImportJob

    row = ImportJob.objects.get(pk=job_id)
    assert row.target_name and row.instance and row.heartbeat_at is not None
    assert not ImportChunk.objects.filter(job_id=job_id).exists()  # imported: the stored copy is gone


@with_db
def test_a_multipart_upload_is_stored_in_pieces_and_read_back_across_them(shelf, client_as, bob, monkeypatch):
    from databrowser import importer_upload
    from databrowser.models import ImportChunk, ImportJob

    monkeypatch.setattr(importer_upload, "PIECE", 1000)  # many pieces, rows cut across their edges
    data = ("id,qty,note\n" + "".join(f"{i},{i % 7},note {i}\n" for i in range(1, 1001))).encode()
    client = client_as(bob)
    r = client.post("/data/public.sl_item/import", {"file": SimpleUploadedFile("many.csv", data)})
    assert r.status_code == 302, r.content[:300]
    job = ImportJob.objects.get(state="mapping")
    sizes = list(ImportChunk.objects.filter(job=job).order_by("seq").values_list("data", flat=True))
    assert len(sizes) == -(-len(data) // 1000) and all(len(bytes(d)) <= 1000 for d in sizes)
    assert b"".join(bytes(d) for d in sizes) == data and job.size == len(data)
    r = client.post(r["Location"], {"map0": "id", "map1": "qty", "map2": "note", "delimiter": ",",
                                    "null_style": "empty", "mode": "insert", "step": "validate"})
    assert r.status_code == 302
    deadline = time.monotonic() + 30
    while (job := ImportJob.objects.get(pk=job.pk)).running:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert job.state == "valid" and job.rows == 1000, (job.state, job.message)


@with_db
def test_a_sent_piece_is_stored_in_small_rows_and_one_over_the_limit_leaves_the_upload_as_it_was(
        shelf, api_as, bob, settings):
    from databrowser.importer_upload import PIECE
    from databrowser.models import ImportChunk, ImportJob

    settings.IMPORT_MAX_MB = 3
    api = api_as(bob)
    piece = b"x" * (2500 * 1024)
    first = _piece(api, piece, 0).json()
    assert first["size"] == len(piece)
    stored = [len(bytes(d)) for d in ImportChunk.objects.filter(job_id=first["upload"]).order_by("seq")
              .values_list("data", flat=True)]
    assert stored == [PIECE] * (len(piece) // PIECE) + [len(piece) % PIECE] and len(stored) > 1
    r = _piece(api, b"y" * (700 * 1024), len(piece), first["upload"])
    assert r.status_code == 413 and r.json()["error"]["code"] == "file_too_large"
    assert ImportJob.objects.get(pk=first["upload"]).size == len(piece)
    assert ImportChunk.objects.filter(job_id=first["upload"]).count() == len(stored)
    settings.IMPORT_MAX_MB = 10
    r = _piece(api, b"z" * (4 * 1024 * 1024 + 1), len(piece), first["upload"])
    assert r.status_code == 400 and r.json()["error"]["code"] == "chunk_too_large"
    assert ImportChunk.objects.filter(job_id=first["upload"]).count() == len(stored)


def _running_job(user: Any, beat_age_s: float, **extra: Any) -> Any:
    from databrowser.models import ImportJob

    return ImportJob.objects.create(user=user, table="public.sl_item", target_name=extra.pop("target_name", ""),
                                    file_name="big.csv", state="importing", headers=["id", "qty"],
                                    mapping=["id", "qty"], instance="pid 4242 on a-gone-host",
                                    heartbeat_at=timezone.now() - timedelta(seconds=beat_age_s), **extra)


@with_db
def test_housekeeping_fails_an_import_whose_server_stopped_and_leaves_a_live_one(shelf, api_as, bob, alice):
    from core import housekeeping, target
    from databrowser.models import ImportJob

    name = target.current().name
    dead = _running_job(bob, 60, target_name=name)
    live = _running_job(alice, 1, target_name=name)
    housekeeping.run_once()  # what each serve process does every 3 s
    dead.refresh_from_db()
    live.refresh_from_db()
    assert dead.state == "failed" and dead.message == "The server running this import stopped; nothing was written."
    assert live.state == "importing"
    shown = api_as(bob).get(f"{BASE}/import/{dead.id}").json()
    assert shown["state"] == "failed" and "stopped" in shown["message"], shown
    # alice's live import is her one running import: a second one waits; once it stops, hers goes through
    api = api_as(alice)
    r = api.post(f"{BASE}/import", {"text": "id,qty\n1,1\n", "wait": 0}, format="multipart")
    assert r.status_code == 409 and r.json()["error"]["code"] == "import_running", r.content
    ImportJob.objects.filter(pk=live.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=60))
    job = _settled(api, api.post(f"{BASE}/import", {"text": "id,qty\n1,1\n", "wait": 0}, format="multipart").json())
    assert job["state"] == "valid", job
    assert ImportJob.objects.get(pk=live.pk).state == "failed"


@with_db
def test_jobs_and_their_files_are_forgotten_after_a_day(shelf, bob, settings, tmp_path):
    from databrowser import importer_jobs, importer_upload
    from databrowser.models import ImportChunk, ImportJob

    settings.DATA_DIR = str(tmp_path)
    legacy = tmp_path / "imports"  # where an earlier version kept the files, in its process's jobs
    legacy.mkdir()
    (legacy / "0123.csv").write_text("id,qty\n1,1\n")
    old = importer_upload.save_text("id,qty\n1,1\n")
    fresh = importer_upload.save_text("id,qty\n2,2\n")
    ImportJob.objects.filter(pk=old).update(created_at=timezone.now() - timedelta(hours=25))
    importer_jobs.forget_old()
    assert list(ImportJob.objects.values_list("pk", flat=True)) == [fresh]
    assert set(ImportChunk.objects.values_list("job_id", flat=True)) == {fresh}
    assert not legacy.exists()


@with_db
def test_a_run_whose_job_was_imported_meanwhile_elsewhere_imports_nothing_twice(shelf, api_as, bob):
    from django.test import RequestFactory

    from core.exceptions import Conflict
    from databrowser import importer
    from databrowser.models import ImportJob
    from databrowser.reflection import get_table
    from databrowser.refs import TableRef

    api = api_as(bob)
    job = _settled(api, api.post(f"{BASE}/import", {"text": "id,qty\n1,1\n2,2\n", "wait": 5}, format="multipart").json())
    assert job["state"] == "valid", job
    read_while_valid = ImportJob.objects.get(pk=job["id"])  # what a slower "run" request on another instance holds
    assert _settled(api, api.post(f"{BASE}/import/{job['id']}/run").json())["state"] == "done"
    request = RequestFactory().post(f"/data/public.sl_item/import/{job['id']}/run")
    request.user = bob
    with pytest.raises(Conflict, match="changed meanwhile"):
        importer.do_import_csv(request, get_table(TableRef.parse("public.sl_item")), read_while_valid)
    assert sql(shelf, "SELECT count(*) FROM sl_item") == [(2,)]
