"""`make demo`'s path: no DATABASE_URL at all → the embedded PostgreSQL, the demo loaded behind head."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow


def test_serve_demo_without_database_url_starts_embedded_postgres_and_loads_the_demo():
    data_dir = tempfile.mkdtemp(prefix="pgadmin-zero-config-")
    env = {**os.environ, "PGADMIN_DATA_DIR": data_dir, "DATABASE_URL": ""}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.pop("PGADMIN_PROJECT_DIR", None)
    proc = subprocess.run([sys.executable, "manage.py", "serve", "--demo", "--check"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    assert f"starting the embedded PostgreSQL in {data_dir}/postgres" in out
    assert re.search(r"✓ Demo data ready: \d+ clients, \d+ operations", out), out
    assert re.search(r"✓ Database connected \(PostgreSQL 18\.\d+\)", out), out
    assert re.search(r"✓ Current migration: 0007_clients_telegram_id \(.+\), 2 pending", out), out
    assert "✗" not in out and "Traceback" not in proc.stderr
    # A second start reuses the cluster and the data instead of loading it again.
    again = subprocess.run([sys.executable, "manage.py", "serve", "--demo", "--check"], cwd=REPO, env=env,
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "2 pending" in again.stdout
