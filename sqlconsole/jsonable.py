"""Turn values loaded by psycopg into JSON the browser can show without losing precision."""

from __future__ import annotations

import datetime as dt
import decimal
import ipaddress
import uuid
from typing import Any

import psycopg
from psycopg.adapt import AdaptersMap, Loader
from psycopg.types import datetime as pgdt


def jsonable(value: Any) -> Any:
    """A JSON-safe form of a result cell: numbers that fit JSON stay numbers, the rest text."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        # Beyond 2**53 a JavaScript number silently rounds: send big integers as text.
        return value if abs(value) < 2**53 else str(value)
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else str(value)
    if isinstance(value, decimal.Decimal):
        return str(value)  # numeric keeps every digit
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value.isoformat()
    if isinstance(value, dt.timedelta):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return "\\x" + bytes(value).hex()
    if isinstance(value, uuid.UUID | ipaddress.IPv4Address | ipaddress.IPv6Address
                  | ipaddress.IPv4Network | ipaddress.IPv6Network | ipaddress.IPv4Interface | ipaddress.IPv6Interface):
        return str(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return str(value)


def _fallback(base: type[Loader]) -> type[Loader]:
    """A loader that returns PostgreSQL's text when Python cannot hold the value ('infinity', year 10000)."""

    class Safe(base):  # type: ignore[valid-type,misc]
        def load(self, data: Any) -> Any:
            try:
                return super().load(data)
            except (psycopg.DataError, ValueError, OverflowError):
                return bytes(data).decode("utf-8", "replace")

    Safe.__name__ = f"Safe{base.__name__}"
    return Safe


_SAFE = {"date": _fallback(pgdt.DateLoader), "timestamp": _fallback(pgdt.TimestampLoader),
         "timestamptz": _fallback(pgdt.TimestamptzLoader), "interval": _fallback(pgdt.IntervalLoader)}


def safe_loaders(adapters: AdaptersMap) -> None:
    """Register loaders that never fail on values Python cannot represent (on a cursor's own map)."""
    for name, loader in _SAFE.items():
        adapters.register_loader(name, loader)
