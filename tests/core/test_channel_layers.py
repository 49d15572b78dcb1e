"""PGADMIN_CHANNEL_LAYER_URL=redis://… switches to channels-redis (several instances share live logs)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile

import pytest

from tests.conftest import REPO


def _redis_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


SCRIPT = """
import asyncio, uuid
from channels.layers import get_channel_layer

async def main():
    layer = get_channel_layer()
    channel = await layer.new_channel()
    group = "run-" + uuid.uuid4().hex
    await layer.group_add(group, channel)
    await layer.group_send(group, {"type": "log.line", "line": "hello from another instance"})
    message = await asyncio.wait_for(layer.receive(channel), 5)
    print(type(layer).__name__, message["line"])

asyncio.run(main())
"""


def _run(env_extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PGADMIN_DATA_DIR": tempfile.mkdtemp(), "DJANGO_SETTINGS_MODULE": "pgadmin_site.settings",
           **env_extra}
    code = "import django; django.setup()\n" + SCRIPT
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)


def test_default_layer_is_in_memory():
    proc = _run({"PGADMIN_CHANNEL_LAYER_URL": ""})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "InMemoryChannelLayer hello from another instance"


@pytest.mark.skipif(not _redis_answers(), reason="no Redis on 127.0.0.1:6379 (.ci/run starts one)")
def test_redis_url_switches_to_channels_redis_and_delivers_group_messages():
    proc = _run({"PGADMIN_CHANNEL_LAYER_URL": "redis://127.0.0.1:6379/3"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "RedisChannelLayer hello from another instance"


def test_non_redis_channel_layer_url_is_refused_with_a_hint():
    proc = _run({"PGADMIN_CHANNEL_LAYER_URL": "amqp://guest@localhost"})
    assert proc.returncode != 0
    assert "PGADMIN_CHANNEL_LAYER_URL must be a redis:// URL" in proc.stderr
