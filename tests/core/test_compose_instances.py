"""The several-instances compose file, the README that shows it and the tests that mirror it stay one."""

from __future__ import annotations

import re

import yaml

from tests.serving import COMPOSE_INSTANCES, REPO, TEST_ONLY_ENV, compose_instances_env, shared_env


def test_the_readme_shows_the_compose_file_the_tests_mirror_verbatim():
    readme = (REPO / "README.md").read_text()
    compose = COMPOSE_INSTANCES.read_text()
    shown = [block for block in re.findall(r"```yaml\n(.*?)```", readme, re.S) if "pgadmin-b:" in block]
    assert shown == [compose[compose.index("services:"):]]


def test_two_tool_services_share_one_environment_with_redis_and_an_internal_postgres():
    services = yaml.safe_load(COMPOSE_INSTANCES.read_text())["services"]
    assert set(services) == {"postgres", "redis", "pgadmin-a", "pgadmin-b"}
    assert services["pgadmin-a"]["environment"] == services["pgadmin-b"]["environment"]
    assert services["pgadmin-a"]["ports"] != services["pgadmin-b"]["ports"]
    env = compose_instances_env()
    internal = env["PGADMIN_INTERNAL_DATABASE_URL"]
    assert internal.startswith("postgresql://") and "@postgres:" in internal
    assert env["PGADMIN_CHANNEL_LAYER_URL"].startswith("redis://redis:")


def test_the_instances_under_test_get_the_compose_environment_plus_only_the_named_test_settings(tmp_path):
    env = shared_env("postgresql://postgres@127.0.0.1/internal", "postgresql://postgres@127.0.0.1/target",
                     tmp_path, "pw-for-the-test")
    assert set(env) == set(compose_instances_env()) | set(TEST_ONLY_ENV)
