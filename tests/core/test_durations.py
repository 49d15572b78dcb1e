"""How long slow things took: kept per kind and key across restarts, and said while the next one runs."""

from __future__ import annotations

import re
import statistics
import time

import pytest

from core import durations


@pytest.fixture
def fresh(settings, tmp_path):  # type: ignore[no-untyped-def]
    settings.DATA_DIR = tmp_path
    durations.reset()
    yield tmp_path
    durations.reset()


def test_the_usual_time_is_the_median_of_the_last_ones_and_survives_a_restart(fresh):
    assert durations.typical("models.inspect", ("project", 1)) is None  # never measured: no estimate
    taken = [9.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    for seconds in taken:
        durations.remember("models.inspect", ("project", 1), seconds)
    durations.remember("models.inspect", ("project", 2), 60.0)  # another project keeps its own
    assert durations.typical("models.inspect", ("project", 1)) == statistics.median(taken[-durations.KEEP:])
    durations.reset()  # as after a restart: read back from the data dir
    assert durations.typical("models.inspect", ("project", 1)) == statistics.median(taken[-durations.KEEP:])
    assert durations.typical("models.inspect", ("project", 2)) == 60.0
    assert "project" not in (fresh / "durations.json").read_text()  # keys are stored hashed


def test_a_long_wait_beats_in_the_console_against_the_usual_time():
    said: list[str] = []
    with durations.heartbeat(said.append, "reading the project", typical=1.0, every=0.4):
        time.sleep(1.5)
    assert len(said) >= 2, said
    assert re.fullmatch(r"  … still reading the project: \d s so far, usually ~1 s here", said[0])
    assert re.fullmatch(r"  … still reading the project: \d s so far, longer than the usual ~1 s", said[-1])
    count = len(said)
    time.sleep(0.25)
    assert len(said) == count  # silent once the work is done
