"""A project's own DJANGO_SETTINGS_MODULE in the environment: the tool ignores it, the project's code keeps it.

Users give the tool their project's environment. When the project is a Django site too, that
environment names the project's settings module, which the tool must not load (it would not even
import) and which the project's models must still see in the child process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

import pytest

from pgadmin_site.entry import project_environment, use_tool_settings
from tests.conftest import FIXTURES, REPO

pytestmark = pytest.mark.slow


def test_the_tool_starts_with_its_own_settings_and_the_models_see_the_projects(demo_url, tmp_path):
    env = {**os.environ, "PGADMIN_DATA_DIR": tempfile.mkdtemp(prefix="pgadmin-djsettings-"),
           "DATABASE_URL": demo_url, "PGADMIN_PROJECT_DIR": str(FIXTURES / "real_django_env"),
           "PGADMIN_SQLALCHEMY_BASE": "shop_models:Base", "DJANGO_SETTINGS_MODULE": "myshop.settings",
           "SECRET_KEY": "the-projects-own-secret", "DEBUG": "1"}
    proc = subprocess.run([sys.executable, str(REPO / "manage.py"), "serve", "--check"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=180)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "Traceback" not in out and "myshop" not in out
    assert "✓ SQLAlchemy models loaded: 1 model" in out, out  # the child saw DJANGO_SETTINGS_MODULE=myshop.settings


def test_the_projects_value_is_handed_back_and_the_tools_is_never_handed_over():
    environ = {"DJANGO_SETTINGS_MODULE": "myshop.settings", "PATH": "/usr/bin"}
    use_tool_settings(environ)
    assert environ["DJANGO_SETTINGS_MODULE"] == "pgadmin_site.settings"
    assert project_environment(environ)["DJANGO_SETTINGS_MODULE"] == "myshop.settings"

    plain = {"PATH": "/usr/bin"}
    use_tool_settings(plain)
    assert "DJANGO_SETTINGS_MODULE" not in project_environment(plain)
    assert "DJANGO_SETTINGS_MODULE" not in project_environment({"DJANGO_SETTINGS_MODULE": "tests.settings"})
