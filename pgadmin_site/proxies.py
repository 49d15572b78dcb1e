"""Proxy headers are believed only from configured proxies (PGADMIN_TRUSTED_PROXIES).

Daphne runs without ``--proxy-headers``: its scope ``client`` is the TCP peer. This ASGI
middleware then, for every HTTP and WebSocket connection,

- from a peer inside PGADMIN_TRUSTED_PROXIES: takes the client address from ``X-Forwarded-For``
  (walking from the right past trusted proxies, the first address that is not one of them; only
  valid IP addresses count) and the scheme from ``X-Forwarded-Proto`` (as Daphne's
  ``--proxy-headers`` did, for everyone, before);
- from anyone else (and always when the setting is empty): removes every ``X-Forwarded-*`` and
  ``Forwarded`` header, so no layer below can be fooled by them.

The audit log and the login lockout use the resulting address; a client cannot choose it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from django.core.exceptions import ImproperlyConfigured

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_PROXY_HEADERS = (b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host", b"x-forwarded-port",
                  b"x-real-ip", b"forwarded")


def parse_networks(name: str, raw: str) -> tuple[Network, ...]:
    """``10.0.0.1, 172.16.0.0/12, ::1`` -> networks; a bad entry stops the start with a hint."""
    networks = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ImproperlyConfigured(
                f"{name} has {item!r}, which is not an IP address or network. "
                "Hint: list the proxies' addresses or CIDRs, comma separated, e.g. 172.16.0.0/12,127.0.0.1."
            ) from None
    return tuple(networks)


def valid_ip(value: Any) -> str | None:
    """``value`` as a normalised IP address string, or None when it is not one."""
    if not isinstance(value, str) or not value or len(value) > 64:
        return None
    try:
        return str(ipaddress.ip_address(value.strip().strip("[]")))
    except ValueError:
        return None


def _trusted(address: str | None, proxies: Iterable[Network]) -> bool:
    if address is None:
        return False
    ip = ipaddress.ip_address(address)
    return any(ip in net for net in proxies if net.version == ip.version)


def forwarded_client(peer: str | None, forwarded_for: str, proxies: tuple[Network, ...]) -> str | None:
    """The client address: ``peer`` unless it is a trusted proxy that forwarded a valid one."""
    peer = valid_ip(peer)
    if not proxies or not _trusted(peer, proxies):
        return peer
    client = peer
    for hop in reversed([h.strip() for h in forwarded_for.split(",") if h.strip()]):
        address = valid_ip(hop)
        if address is None:
            break  # garbage in the chain: stop at the last address a trusted proxy vouched for
        client = address
        if not _trusted(address, proxies):
            break
    return client


class TrustedProxyMiddleware:
    """ASGI middleware: the scope's client and headers as PGADMIN_TRUSTED_PROXIES allows."""

    def __init__(self, app: Callable[..., Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") in ("http", "websocket"):
            from django.conf import settings

            proxies = settings.TRUSTED_PROXIES
            client = scope.get("client") or (None, 0)
            peer = valid_ip(client[0])
            headers = list(scope.get("headers") or [])
            if proxies and peer is not None and _trusted(peer, proxies):
                forwarded = b",".join(v for k, v in headers if k == b"x-forwarded-for").decode("latin-1")
                address = forwarded_client(peer, forwarded, proxies)
                scope = {**scope, "client": [address, client[1]]}
                proto = dict(headers).get(b"x-forwarded-proto", b"").decode("latin-1").split(",")[0].strip().lower()
                if proto in ("http", "https"):
                    # what Daphne's --proxy-headers did, now only for a trusted proxy: CSRF's
                    # origin check then sees the https:// the browser used
                    secure = proto == "https"
                    scope["scheme"] = ("wss" if secure else "ws") if scope["type"] == "websocket" else proto
            else:
                scope = {**scope, "headers": [(k, v) for k, v in headers if k.lower() not in _PROXY_HEADERS],
                         "client": [peer, client[1]] if peer else None}
        await self.app(scope, receive, send)
