"""Channels wiring: the authenticated heartbeat WebSocket."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from pgadmin_site.asgi import application
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)
HEADERS = [(b"origin", b"http://localhost"), (b"host", b"localhost")]


async def _session_cookie(username: str) -> bytes:
    from django.test import Client

    from core.accounts import create_user

    def login() -> str:
        create_user(username, "viewer", PASSWORD)
        client = Client()
        client.login(username=username, password=PASSWORD)
        return client.cookies["sessionid"].value

    return f"sessionid={await database_sync_to_async(login)()}".encode()


async def test_anonymous_socket_is_refused():
    communicator = WebsocketCommunicator(application, "/ws/heartbeat/", headers=HEADERS)
    connected, code = await communicator.connect()
    assert not connected
    assert code == 4401


async def test_logged_in_user_gets_hello_and_echo():
    headers = [*HEADERS, (b"cookie", await _session_cookie("carol"))]
    communicator = WebsocketCommunicator(application, "/ws/heartbeat/", headers=headers)
    connected, _ = await communicator.connect()
    assert connected
    hello = await communicator.receive_json_from()
    assert (hello["type"], hello["user"]) == ("hello", "carol")
    await communicator.send_json_to({"ping": 1})
    echo = await communicator.receive_json_from()
    assert echo["type"] == "echo" and echo["data"] == {"ping": 1}
    await communicator.disconnect()


async def test_foreign_origin_is_refused():
    headers = [(b"origin", b"http://evil.example"), (b"host", b"localhost"), (b"cookie", await _session_cookie("dave"))]
    communicator = WebsocketCommunicator(application, "/ws/heartbeat/", headers=headers)
    connected, _ = await communicator.connect()
    assert not connected
