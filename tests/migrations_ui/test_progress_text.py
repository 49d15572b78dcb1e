"""What a long backup or restore says while it works: share done, time so far, time left.

The pace is only known once a share of the work is measured, so the time left appears from 2 %
done and one second on; the run-page stories (test_backups.py) see these sentences from real
pg_dump runs, whose pace a test cannot choose: here the arithmetic is pinned down.
"""

from __future__ import annotations

from migrations_ui.progress import Sample, describe


def test_a_quarter_done_after_ten_seconds_says_thirty_seconds_left():
    said = describe("backup", Sample("Backing up: 41.3 MB written", 0.25), elapsed=10.0)
    assert said["text"] == "Backing up: 41.3 MB written · 25% · 10 s so far, about 30 s left"
    assert said["percent"] == 25 and said["step"] == "backup"


def test_long_waits_are_said_in_minutes():
    said = describe("restore", Sample("Restoring: table 3 of 12", 0.1), elapsed=30.0)
    assert said["text"].endswith("30 s so far, about 4 min 30 s left")


def test_no_time_left_before_the_pace_is_known():
    assert "left" not in describe("backup", Sample("Backing up", 0.01), elapsed=5.0)["text"]  # under 2 %
    assert "left" not in describe("backup", Sample("Backing up", 0.5), elapsed=0.5)["text"]  # under 1 s
    unknown = describe("backup", Sample("Backing up: 812 kB written", None), elapsed=12.0)
    assert unknown["text"] == "Backing up: 812 kB written · 12 s so far" and unknown["percent"] is None


def test_the_last_second_says_almost_done_and_never_100_percent():
    said = describe("backup", Sample("Backing up", 1.0), elapsed=60.0)
    assert said["percent"] == 99 and said["text"].endswith("1 min 00 s so far, almost done")
