"""Data at rest: nothing in the data dir is readable by another OS user (issue 10, item 5).

`make demo`'s path for real: `manage.py serve --demo` without DATABASE_URL starts the embedded
PostgreSQL in the data dir, writes the internal SQLite and the secret key; a migration run with a
backup writes a `pg_dump` file. Then every folder and file under the data dir is stat'ed: folders
0700, files 0600 (owner bits only). A data dir an older version left open (0755, a 0644 file)
is repaired at start.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import PASSWORD
from tests.serving import Served, add_user

pytestmark = pytest.mark.slow


def _call(base: str, path: str, body: dict | None = None, token: str = "") -> dict:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Token {token}"
    request = urllib.request.Request(base + path, method="POST" if body is not None else "GET", headers=headers,
                                     data=json.dumps(body).encode() if body is not None else None)
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)


def _open_entries(root: Path) -> list[str]:
    """Every folder or regular file under ``root`` with any group/other permission bit."""
    found = []
    for path in [root, *root.rglob("*")]:
        try:
            info = path.lstat()
        except FileNotFoundError:
            continue  # PostgreSQL removes temporary files while we walk
        if (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)) and info.st_mode & 0o077:
            found.append(f"{oct(stat.S_IMODE(info.st_mode))} {path.relative_to(root)}")
    return found


def test_every_file_the_tool_writes_in_the_data_dir_is_private_to_its_user():
    data_dir = Path(tempfile.mkdtemp(prefix="pgadmin-at-rest-"))
    data_dir.chmod(0o755)
    (data_dir / "old").mkdir(mode=0o755)
    (data_dir / "old" / "backup-from-v0.dump").write_text("left readable by an older version")
    (data_dir / "old" / "backup-from-v0.dump").chmod(0o644)
    (data_dir / "old").chmod(0o755)

    served = Served({"DATABASE_URL": "", "PGADMIN_DATABASE_URL": ""}, ["--demo"], data_dir=data_dir)
    try:
        served.wait_ready(timeout=240)
        add_user(served, "alice", "admin", PASSWORD)
        token = _call(served.base_url, "/api/auth/token", {"username": "alice", "password": PASSWORD})["token"]
        run_id = _call(served.base_url, "/api/alembic/upgrade", {"target": "+1", "backup": True}, token)["run_id"]
        deadline = time.monotonic() + 120
        while (run := _call(served.base_url, f"/api/alembic/runs/{run_id}", token=token))["status"] in ("queued", "running"):
            assert time.monotonic() < deadline, run
            time.sleep(0.5)
        assert run["status"] == "succeeded", run

        # every kind of file is there (so the check below is not vacuous)...
        names = {p.relative_to(data_dir).as_posix() for p in data_dir.rglob("*")}
        assert {"internal.sqlite3", "secret_key", "postgres/PG_VERSION", "postgres/base"} <= names
        backups = list((data_dir / "backups").glob("*.dump"))
        assert backups and backups[0].stat().st_size > 0
        # ...and none of it is open to group or others, the old leftovers included
        assert _open_entries(data_dir) == []
        assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
        assert stat.S_IMODE(backups[0].stat().st_mode) == 0o600
        assert stat.S_IMODE((data_dir / "internal.sqlite3").stat().st_mode) == 0o600
        assert stat.S_IMODE((data_dir / "old" / "backup-from-v0.dump").stat().st_mode) == 0o600
    finally:
        served.stop()
        _stop_embedded(data_dir)


def _stop_embedded(data_dir: Path) -> None:
    """The embedded cluster outlives `serve` on purpose (reused at the next start): stop it here."""
    pid_file = data_dir / "postgres" / "postmaster.pid"
    if pid_file.exists():
        try:
            os.kill(int(pid_file.read_text().split()[0]), 15)
        except (ProcessLookupError, ValueError):
            pass


def test_a_process_started_with_the_tool_settings_creates_private_files(tmp_path):
    """The umask covers every later file, also those other code creates (SQLite's journal here)."""
    import subprocess
    import sys

    from tests.conftest import REPO

    data_dir = tmp_path / "data"
    code = ("import django, os, stat; django.setup(); "
            "from django.db import connection, transaction; from django.core.management import call_command; "
            "call_command('migrate', verbosity=0); "
            "open(os.path.join(os.environ['PGADMIN_DATA_DIR'], 'later.txt'), 'w').write('x'); "
            "os.makedirs(os.path.join(os.environ['PGADMIN_DATA_DIR'], 'later'))\n"
            "with transaction.atomic():\n"
            "    connection.cursor().execute(\"INSERT INTO django_session VALUES ('k', 'secret', '2099-01-01')\")\n"
            "    journal = os.path.join(os.environ['PGADMIN_DATA_DIR'], 'internal.sqlite3-journal')\n"
            "    print(oct(stat.S_IMODE(os.stat(journal).st_mode)))")
    env = {**os.environ, "PGADMIN_DATA_DIR": str(data_dir), "DJANGO_SETTINGS_MODULE": "pgadmin_site.settings"}
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0o600"  # SQLite's rollback journal, seen mid-transaction
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((data_dir / "later.txt").stat().st_mode) == 0o600
    assert stat.S_IMODE((data_dir / "later").stat().st_mode) == 0o700
    assert stat.S_IMODE((data_dir / "secret_key").stat().st_mode) == 0o600
