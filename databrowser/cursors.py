"""Opaque page cursors: urlsafe base64 of JSON holding the last row's key values; and the
cursors of a bounded search scan (where it stopped, what it had counted; see the end).

Values keep their type through tagged JSON (dates, decimals, UUIDs, bytes, arrays, objects);
the cursor also carries a signature of the table and the order, so a cursor from another sort
or table is refused, and a MAC keyed by the tool's secret over all of it, so a cursor the tool did
not issue (a forged key value of another type, an object where the key is an integer) is refused
before any value reaches the database. Anything that does not decode cleanly is a 400, never a 500.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings

from core.exceptions import BadRequest
from databrowser.reflection import TableInfo

# --- cursors -------------------------------------------------------------------------------

def _to_json(v: Any) -> Any:
    if v is None or isinstance(v, bool | int | str):
        return v
    if isinstance(v, float):
        return {"f": repr(v)}
    if isinstance(v, Decimal):
        return {"n": str(v)}
    if isinstance(v, dt.datetime):
        return {"dt": v.isoformat()}
    if isinstance(v, dt.date):
        return {"d": v.isoformat()}
    if isinstance(v, dt.time):
        return {"t": v.isoformat()}
    if isinstance(v, dt.timedelta):
        return {"td": v.total_seconds()}
    if isinstance(v, uuid.UUID):
        return {"u": str(v)}
    if isinstance(v, bytes | memoryview):
        return {"b": base64.b64encode(bytes(v)).decode()}
    if isinstance(v, list | tuple):
        return {"l": [_to_json(x) for x in v]}
    if isinstance(v, dict):
        return {"j": v}
    return {"s": str(v)}


def _from_json(v: Any) -> Any:
    if v is None or isinstance(v, bool | int | str):
        return v
    if not isinstance(v, dict) or len(v) != 1:
        raise ValueError("bad value")
    (tag, raw), = v.items()
    if tag == "l":
        if not isinstance(raw, list):
            raise ValueError("bad list")
        return [_from_json(x) for x in raw]
    if tag == "j":
        if not isinstance(raw, dict):
            raise ValueError("bad object")
        return raw
    if not isinstance(raw, str | int | float) or isinstance(raw, bool):
        raise ValueError("bad scalar")
    decoders: dict[str, Callable[[str], Any]] = {
        "f": float, "n": Decimal, "dt": dt.datetime.fromisoformat, "d": dt.date.fromisoformat,
        "t": dt.time.fromisoformat, "td": lambda s: dt.timedelta(seconds=float(s)), "u": uuid.UUID,
        "b": lambda s: base64.b64decode(s, validate=True), "s": str,
    }
    if tag not in decoders:
        raise ValueError("bad tag")
    return decoders[tag](str(raw))


def _signature(info: TableInfo, keys: list[tuple[str, bool]]) -> str:
    return hashlib.sha256(json.dumps([info.ref.slug, keys]).encode()).hexdigest()[:10]


def _mac(payload: dict[str, Any]) -> str:
    body = json.dumps([payload.get("s"), payload.get("d"), payload.get("k")], separators=(",", ":"), sort_keys=True)
    key = hashlib.sha256(b"databrowser.cursor:" + settings.SECRET_KEY.encode()).digest()
    return hmac.new(key, body.encode(), hashlib.sha256).hexdigest()[:20]


def encode_cursor(info: TableInfo, keys: list[tuple[str, bool]], values: list[Any], direction: str) -> str:
    payload: dict[str, Any] = {"s": _signature(info, keys), "d": direction, "k": [_to_json(v) for v in values]}
    payload["m"] = _mac(payload)
    return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(info: TableInfo, keys: list[tuple[str, bool]], token: str) -> tuple[str, list[Any]]:
    bad = BadRequest("The page cursor is not valid.", hint="Start again from the first page (drop the cursor parameter).",
                     code="invalid_cursor")
    if len(token) > 8192:
        raise bad
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        payload = json.loads(raw)
        if not isinstance(payload, dict) or payload.get("d") not in ("a", "b"):
            raise ValueError("shape")
        values = payload.get("k")
        if not isinstance(values, list):
            raise ValueError("values")
    except (ValueError, TypeError, UnicodeDecodeError, RecursionError, ArithmeticError, OverflowError):
        raise bad from None
    if payload.get("s") != _signature(info, keys):
        raise BadRequest("The page cursor belongs to another table or sort order.",
                         hint="Start again from the first page (drop the cursor parameter).", code="invalid_cursor")
    if len(values) != len(keys):
        raise bad
    mac = payload.get("m")
    if not isinstance(mac, str) or not hmac.compare_digest(mac, _mac(payload)):
        raise bad
    try:
        decoded = [_from_json(v) for v in values]
    except (ValueError, TypeError, UnicodeDecodeError, RecursionError, ArithmeticError, OverflowError):
        raise bad from None
    return payload["d"], decoded



# --- search-scan cursors -------------------------------------------------------------------
# A bounded search (databrowser.search) stops where its time budget ran out; its cursor says
# where that was, so "continue" reads on from exactly there: the position (the last key searched,
# or a physical (block, offset) for a table without a key), how many rows and matches came before
# (the summary counts across continues) and the chunk size the scan had tuned itself to. It is
# tied to the table, the order and the search (term, filters, columns) by a signature, and MAC'd
# like a page cursor: a cursor edited by hand is refused before any value reaches the database.

SCAN_HINT = "Start the search again (drop the cursor parameter): the search begins from the first row."


@dataclass
class ScanPosition:
    keys: list[Any] | None  # the last key searched (None: from the start); keyset scans
    block: tuple[int, int] | None  # the last (block, offset) searched; physical scans
    scanned: int  # rows searched before this position
    matches: int  # matches found before this position
    chunk: int  # the chunk size to go on with


def is_scan_cursor(token: str) -> bool:
    """A cheap look at the token's kind (the full check is ``decode_scan_cursor``)."""
    try:
        payload = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, TypeError, UnicodeDecodeError, RecursionError):
        return False
    return isinstance(payload, dict) and payload.get("t") == "scan"


def _scan_signature(info: TableInfo, keys: list[tuple[str, bool]], search: str) -> str:
    return hashlib.sha256(json.dumps(["scan", info.ref.slug, keys, search]).encode()).hexdigest()[:12]


def _scan_mac(payload: dict[str, Any]) -> str:
    body = json.dumps({k: v for k, v in payload.items() if k != "m"}, separators=(",", ":"), sort_keys=True)
    key = hashlib.sha256(b"databrowser.scan:" + settings.SECRET_KEY.encode()).digest()
    return hmac.new(key, body.encode(), hashlib.sha256).hexdigest()[:24]


def encode_scan_cursor(info: TableInfo, keys: list[tuple[str, bool]], search: str, pos: ScanPosition) -> str:
    payload: dict[str, Any] = {"t": "scan", "s": _scan_signature(info, keys, search),
                               "k": None if pos.keys is None else [_to_json(v) for v in pos.keys],
                               "p": None if pos.block is None else list(pos.block),
                               "n": pos.scanned, "h": pos.matches, "c": pos.chunk}
    payload["m"] = _scan_mac(payload)
    return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_scan_cursor(info: TableInfo, keys: list[tuple[str, bool]], search: str, token: str) -> ScanPosition:
    bad = BadRequest("The search cursor is not valid: it was changed or cut.", hint=SCAN_HINT, code="invalid_cursor")
    if len(token) > 8192:
        raise bad
    try:
        payload = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if not isinstance(payload, dict) or payload.get("t") != "scan":
            raise ValueError("shape")
    except (ValueError, TypeError, UnicodeDecodeError, RecursionError):
        raise bad from None
    mac = payload.get("m")
    if not isinstance(mac, str) or not hmac.compare_digest(mac, _scan_mac(payload)):
        raise bad
    if payload.get("s") != _scan_signature(info, keys, search):
        raise BadRequest("The search cursor belongs to another table, order or search.", hint=SCAN_HINT,
                         code="invalid_cursor")
    try:
        raw_keys, block = payload.get("k"), payload.get("p")
        values = None if raw_keys is None else [_from_json(v) for v in raw_keys]
        if values is not None and len(values) != len(keys):
            raise ValueError("keys")
        where = None
        if block is not None:
            if not (isinstance(block, list) and len(block) == 2 and all(type(b) is int and b >= 0 for b in block)):
                raise ValueError("block")
            where = (block[0], block[1])
        numbers: list[int] = [v for v in (payload.get(k) for k in ("n", "h", "c")) if type(v) is int and v >= 0]
        if len(numbers) != 3:
            raise ValueError("counts")
    except (ValueError, TypeError, UnicodeDecodeError, RecursionError, ArithmeticError, OverflowError):
        raise bad from None
    return ScanPosition(values, where, numbers[0], numbers[1], max(1, numbers[2]))
