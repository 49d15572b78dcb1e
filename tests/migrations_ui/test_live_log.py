"""The run log streams over the WebSocket: the lines so far, then live ones, for logged-in users."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser

from migrations_ui.models import RunLine
from migrations_ui.routing import websocket_urlpatterns
from tests.migrations_ui.conftest import wait_for_run

pytestmark = pytest.mark.django_db(transaction=True)


async def collect(run_id: int, user, until_status: tuple[str, ...] = ("succeeded", "failed")):  # type: ignore[no-untyped-def]
    comm = WebsocketCommunicator(URLRouter(websocket_urlpatterns), f"/ws/alembic/runs/{run_id}/")
    comm.scope["user"] = user
    connected, code = await comm.connect(timeout=10)
    if not connected:
        return code, []
    messages = []
    while True:
        msg = await comm.receive_json_from(timeout=60)
        messages.append(msg)
        if msg["type"] == "status" and msg["run"]["status"] in until_status:
            break
    # after the final status, the last lines ("Lock released") may still come
    while not await comm.receive_nothing(timeout=0.3):
        messages.append(await comm.receive_json_from())
    await comm.disconnect()
    return None, messages


def test_live_log_lines_arrive_over_the_websocket(use_project, alice, api_as):
    use_project("linear")
    response = api_as(alice).post("/api/alembic/upgrade", {"target": "heads"}, format="json")
    run_id = response.json()["run_id"]
    code, messages = async_to_sync(collect)(run_id, alice)
    wait_for_run(run_id)
    assert code is None
    seqs = [m["line"]["seq"] for m in messages if m["type"] == "line"]
    unique = sorted(set(seqs))
    assert unique == list(RunLine.objects.filter(run_id=run_id).values_list("seq", flat=True))
    texts = {m["line"]["seq"]: m["line"]["text"] for m in messages if m["type"] == "line"}
    assert any(t.startswith("Running upgrade") for t in texts.values())
    assert any("Run succeeded" in t for t in texts.values())
    assert [m["run"]["status"] for m in messages if m["type"] == "status"][-1] == "succeeded"


def test_a_second_viewer_gets_the_log_so_far_after_the_run(use_project, alice, carol, api_as):
    use_project("linear")
    response = api_as(alice).post("/api/alembic/upgrade", {"target": "l1_items", "backup": False}, format="json")
    run_id = response.json()["run_id"]
    wait_for_run(run_id)
    code, messages = async_to_sync(collect)(run_id, carol)  # a viewer may watch
    assert code is None
    lines = [m["line"]["text"] for m in messages if m["type"] == "line"]
    assert lines == list(RunLine.objects.filter(run_id=run_id).values_list("text", flat=True))


def test_anonymous_websocket_is_refused(use_project, alice, api_as):
    use_project("linear")
    response = api_as(alice).post("/api/alembic/upgrade", {"target": "l1_items", "backup": False}, format="json")
    wait_for_run(response.json()["run_id"])
    code, messages = async_to_sync(collect)(response.json()["run_id"], AnonymousUser())
    assert code == 4401 and messages == []


def test_a_long_steps_progress_reaches_the_page_and_a_late_viewer_gets_the_last_one(use_project, alice, carol,
                                                                                    api_as):
    from channels.db import database_sync_to_async

    from migrations_ui import progress
    from migrations_ui.models import Run
    from migrations_ui.runlog import RunLog

    use_project("linear")
    response = api_as(alice).post("/api/alembic/upgrade", {"target": "l1_items", "backup": False}, format="json")
    run_id = response.json()["run_id"]
    wait_for_run(run_id)
    run = Run.objects.get(pk=run_id)
    earlier = progress.describe("backup", progress.Sample("Backup: 1.0 MB written", 0.25), 3.0)
    later = progress.describe("backup", progress.Sample("Backup: 2.0 MB written", 0.5), 6.0)
    progress._LATEST[run_id] = earlier  # as while the backup's sampler runs
    try:
        async def watch() -> list[dict]:  # type: ignore[type-arg]
            comm = WebsocketCommunicator(URLRouter(websocket_urlpatterns), f"/ws/alembic/runs/{run_id}/")
            comm.scope["user"] = carol
            assert (await comm.connect(timeout=10))[0]
            got = []
            while not got or got[-1]["type"] != "progress":
                got.append(await comm.receive_json_from(timeout=10))
            await database_sync_to_async(lambda: RunLog(run).progress(later))()
            got.append(await comm.receive_json_from(timeout=10))
            await comm.disconnect()
            return [m["progress"] for m in got if m["type"] == "progress"]

        seen = async_to_sync(watch)()
    finally:
        progress._LATEST.pop(run_id, None)
    assert seen == [earlier, later]
    assert later["percent"] == 50 and later["text"].startswith("Backup: 2.0 MB written · 50% · 6 s so far, about 6 s left")
