"""The run lock goes back to the server as soon as the child is done, never after a wait.

At the end of a run the child says "releasing" and waits (up to ``HANDBACK_WAIT_S``) until the
server's session queues on the lock, then unlocks into it. The server once read the child's
pipe with ``readline()`` on a buffered file between ``select()`` calls: when "releasing" arrived in
one read with the lines before it, it sat in Python's buffer, unseen, for the child's whole wait
(a 50-revision upgrade took 6 s instead of 1 s, and the lock was free between the child's unlock and
the server's take-back). These tests check the mechanism, not a duration: the event reaches the
server while the child is still waiting, and the child finds the server queued.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from core import runner
from migrations_ui.models import Run, RunLine
from tests.migrations_ui.conftest import api_run

CHILD_DIR = Path(runner.__file__).resolve().parent / "child"

# A stand-in child: one write of many events with the "releasing" one last, then it waits for the
# server's answer (a file the test's on_event creates) as the real child waits for the server to queue.
BURST_CHILD = textwrap.dedent('''
    import json, os, sys, time
    sys.path.insert(0, {child_dir!r})
    from pgadmin_protocol import encode_event
    payload = json.loads(sys.stdin.read())
    burst = "".join(encode_event("sql", line=f"UPDATE alembic_version SET version_num = 'r{{i:03d}}'")
                    for i in range(80))
    burst += encode_event("runlock", state="releasing", line="done: handing back")
    os.write(1, burst.encode())
    started = time.monotonic()
    while not os.path.exists(payload["answer"]) and time.monotonic() - started < 10:
        time.sleep(0.01)
    os.write(1, encode_event("result", result={{"waited_s": time.monotonic() - started,
                                                "answered": os.path.exists(payload["answer"])}}).encode())
''')


def test_an_event_at_the_end_of_a_burst_reaches_the_server_while_the_child_waits(tmp_path, monkeypatch):
    script = tmp_path / "burst_child.py"
    script.write_text(BURST_CHILD.format(child_dir=str(CHILD_DIR)))
    monkeypatch.setattr(runner, "CHILD_SCRIPT", script)
    monkeypatch.setattr(runner, "project_python", lambda: sys.executable)
    answer = tmp_path / "server-queued"
    seen: list[str] = []

    def on_event(event: dict[str, Any]) -> None:
        seen.append(str(event.get("event")))
        if event.get("state") == "releasing":
            answer.touch()  # what take_back does: queue, which the child is waiting to see

    result = runner.run_task("alembic.upgrade", {"answer": str(answer), "cwd": str(tmp_path)}, on_event=on_event,
                             timeout=60)
    assert seen.count("sql") == 80 and seen[-1] == "runlock"
    # Read from the pipe's buffer it arrives only when the child gives up (10 s); seen, it is answered at once.
    assert result["answered"], result
    assert result["waited_s"] < 5, result


@pytest.mark.django_db(transaction=True)
def test_a_run_hands_the_lock_back_into_the_servers_queued_session(use_project, alice, api_as):
    use_project("linear")
    run = api_run(api_as(alice), "upgrade", "heads", backup=False)
    assert run["status"] == "succeeded", run
    lines = [line.text for line in RunLine.objects.filter(run=Run.objects.get(pk=run["id"]))]
    handed = [t for t in lines if t.startswith("Handed the run lock back to the server's queued session")]
    assert handed, [t for t in lines if "lock" in t.lower()]
    assert not any("did not queue on the run lock" in t for t in lines)
