"""Production-mode `manage.py check --deploy` passes; only the documented HTTPS warnings are silenced."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

from tests.conftest import REPO


def _check(extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PGADMIN_DATA_DIR": tempfile.mkdtemp(), "DATABASE_URL": "postgresql://u@db/app",
           "PGADMIN_PROJECT_DIR": str(REPO / "examples" / "brokerbot"), "PGADMIN_DEBUG": "0", **extra}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=60)


def test_check_deploy_is_clean_behind_a_tls_proxy():
    proc = _check({})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "System check identified no issues" in proc.stdout


def test_check_deploy_with_https_enabled_is_clean_too():
    proc = _check({"PGADMIN_HTTPS": "1"})
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_debug_on_is_reported_by_check_deploy():
    proc = _check({"PGADMIN_DEBUG": "1"})
    assert proc.returncode != 0
    assert "security.W018" in proc.stdout + proc.stderr
