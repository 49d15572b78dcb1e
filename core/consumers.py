"""WebSocket basics: the same-origin check every socket passes, and a heartbeat consumer.

``SameOriginValidator`` wraps every WebSocket route (pgadmin_site/asgi.py): a browser page may
open a socket only from the origin the tool is served on — scheme, host *and port* — or from
PGADMIN_PUBLIC_URL / PGADMIN_CSRF_TRUSTED_ORIGINS, so that another site (or another app on
``localhost:8080``) cannot ride a logged-in user's cookie (cross-site WebSocket hijacking).

The heartbeat proves the Channels wiring and the authenticated route: anonymous connections are
refused (close code 4401); a logged-in client gets a ``hello`` with its username, and every
message it sends comes back as an ``echo`` with the server time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host
from django.utils import timezone

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def _origin_key(value: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an origin URL, with the scheme's default port filled in."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or port is None:
        return None
    return parts.scheme, parts.hostname.lower(), port


def origin_allowed(origin: str, host_header: str) -> bool:
    """True when ``origin`` is the origin the request came to (the Host header), or configured."""
    key = _origin_key(origin)
    if key is None:
        return False
    extra = [settings.PUBLIC_URL, *settings.CSRF_TRUSTED_ORIGINS]
    if any(key == _origin_key(url) for url in extra if url and "*" not in url):
        return True
    host, port = split_domain_port(host_header.lower())
    if not host or not validate_host(host, settings.ALLOWED_HOSTS):
        return False
    # A Host header without a port means the default port of the scheme the page was loaded with.
    return (host.strip("[]"), int(port) if port.isdigit() else _DEFAULT_PORTS[key[0]]) == (key[1].strip("[]"), key[2])


class SameOriginValidator:
    """ASGI middleware for WebSocket routes: refuse a handshake whose Origin is not ours."""

    def __init__(self, app: Callable[..., Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        headers = dict(scope.get("headers") or [])
        origin = headers.get(b"origin", b"").decode("latin-1")
        host = headers.get(b"host", b"").decode("latin-1")
        if scope.get("type") == "websocket" and not origin_allowed(origin, host):
            denier = WebsocketDenier()
            return await denier(scope, receive, send)
        return await self.app(scope, receive, send)


class HeartbeatConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        await self.accept()
        await self.send_json({"type": "hello", "user": user.get_username(), "at": timezone.now().isoformat()})

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        await self.send_json({"type": "echo", "data": content, "at": timezone.now().isoformat()})
