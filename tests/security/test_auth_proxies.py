"""Which client address and scheme the tool believes (PGADMIN_TRUSTED_PROXIES), at the ASGI layer."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from pgadmin_site.proxies import TrustedProxyMiddleware, forwarded_client, parse_networks, valid_ip

PROXIES = parse_networks("PGADMIN_TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1")


@pytest.mark.parametrize(("peer", "xff", "expected"), [
    ("198.51.100.1", "203.0.113.5", "198.51.100.1"),  # untrusted peer: its header is ignored
    ("127.0.0.1", "203.0.113.5", "203.0.113.5"),
    ("127.0.0.1", "203.0.113.5, 10.1.2.3", "203.0.113.5"),  # two trusted hops
    ("127.0.0.1", "6.6.6.6, 203.0.113.5", "203.0.113.5"),  # a spoofed left part stays ignored
    ("127.0.0.1", "<script>alert(1)</script>", "127.0.0.1"),
    ("127.0.0.1", "203.0.113.5, bogus", "127.0.0.1"),
    ("127.0.0.1", "", "127.0.0.1"),
    ("not-an-ip", "203.0.113.5", None),
])
def test_the_client_address_is_taken_from_x_forwarded_for_only_through_trusted_proxies(peer, xff, expected):
    assert forwarded_client(peer, xff, PROXIES) == expected


def test_without_trusted_proxies_the_header_never_counts():
    assert forwarded_client("127.0.0.1", "203.0.113.5", ()) == "127.0.0.1"


def test_a_bad_proxy_entry_stops_the_start_with_a_hint():
    with pytest.raises(ImproperlyConfigured, match="CIDR"):
        parse_networks("PGADMIN_TRUSTED_PROXIES", "10.0.0.0/8, proxy.local")


def test_only_ip_addresses_are_valid_audit_addresses():
    assert valid_ip("127.0.0.1") == "127.0.0.1"
    assert valid_ip("[::1]") == "::1"
    for bad in ("<script>", "", None, "127.0.0.1<b>", "x" * 100, "1.2.3.4; DROP"):
        assert valid_ip(bad) is None


async def _scope_after(settings: Any, peer: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.update(scope)

    await TrustedProxyMiddleware(app)({"type": "http", "scheme": "http", "client": [peer, 5000],
                                       "headers": headers}, None, None)
    return seen


def _run(coro: Any) -> Any:
    """Run the ASGI call on a thread of its own: a session-wide Playwright may own this thread's loop."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def test_untrusted_peers_lose_every_forwarding_header(settings):
    settings.TRUSTED_PROXIES = PROXIES
    scope = _run(_scope_after(settings, "198.51.100.1", [(b"x-forwarded-for", b"1.2.3.4"),
                                                          (b"x-forwarded-proto", b"https"), (b"host", b"a")]))
    assert scope["headers"] == [(b"host", b"a")]
    assert scope["client"] == ["198.51.100.1", 5000] and scope["scheme"] == "http"


def test_a_trusted_proxy_sets_the_client_and_the_scheme(settings):
    settings.TRUSTED_PROXIES = PROXIES
    scope = _run(_scope_after(settings, "127.0.0.1", [(b"x-forwarded-for", b"203.0.113.5"),
                                                       (b"x-forwarded-proto", b"https")]))
    assert scope["client"] == ["203.0.113.5", 5000] and scope["scheme"] == "https"
