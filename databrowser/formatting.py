"""How values look: JSON for the API and exports, HTML cells for the grid, text for forms.

NULL is never shown like an empty string; long values are cut in the grid with the full value
one click away; JSON is pretty-printed; bytea shows its size and a hex preview.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import math
import uuid
from dataclasses import dataclass
from decimal import Decimal
from html import escape as html_escape
from typing import Any

from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

GRID_CHARS = 80  # a cell shows this much, the rest on demand
INLINE_FULL_MAX = 20_000  # longer values are shown on the row page only


@dataclass(frozen=True)
class Cut:
    """The head of a long value as the grid read it (``query.GRID_CUT``), with the whole value's
    size in bytes (for JSON: as stored). The row page and the full-value link read it whole."""

    head: str | bytes
    size: int | None


def cut_html(value: Cut, kind: str, full_url: str | None) -> SafeString:
    size = "long" if value.size is None else f"{value.size:,} bytes" + (" stored" if kind == "json" else "")
    if isinstance(value.head, bytes):
        return format_html('<span class="bytea" title="bytea">{} · <code>{}</code>…</span>', size, value.head.hex(" "))
    link = format_html(' <a href="{}" class="full-value">full value ({})</a>', full_url, size) if full_url else \
        format_html(' <span class="muted small">({}: open the row)</span>', size)
    return format_html('<details class="cell-more"><summary><span class="cut">{}…</span></summary><pre>{}…</pre>{}</details>',
                       value.head[:GRID_CHARS], value.head, link)


def jsonable(value: Any) -> Any:
    """A JSON-ready value: ISO dates, Decimal as text (exact), bytea as ``\\x`` hex, arrays as lists."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return str(value)
    if isinstance(value, bytes | memoryview):
        return "\\x" + bytes(value).hex()
    if isinstance(value, uuid.UUID | ipaddress.IPv4Address | ipaddress.IPv6Address | ipaddress.IPv4Network
                  | ipaddress.IPv6Network | ipaddress.IPv4Interface | ipaddress.IPv6Interface):
        return str(value)
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    return str(value)


def as_text(value: Any, kind: str = "") -> str:
    """One-line text of a value (CSV cells, form initial values)."""
    if value is None:
        return ""
    if kind == "json" or isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return json.dumps(jsonable(value), ensure_ascii=False)
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    j = jsonable(value)
    return j if isinstance(j, str) else json.dumps(j)


def _cut(text: str, full: str | None = None) -> SafeString:
    """The text, or its first GRID_CHARS characters with the full value in a <details>."""
    if len(text) <= GRID_CHARS:
        return format_html("{}", text)
    head = text[:GRID_CHARS]
    if len(text) > INLINE_FULL_MAX:
        return format_html('<span class="cut">{}…</span> <span class="muted small">({} chars: open the row)</span>',
                           head, f"{len(text):,}")
    return format_html('<details class="cell-more"><summary><span class="cut">{}…</span></summary><pre>{}</pre></details>',
                       head, full if full is not None else text)


def cell_fast(value: Any, kind: str, link: str | None = None, full_url: str | None = None) -> str:
    """The grid cell of one value as escaped HTML text; plain numbers, short text and timestamps
    take a short path (a page has ~1000 cells, format_html costs ~10 µs each). ``full_url``: where
    the whole value of a cut one (``Cut``) is read."""
    if isinstance(value, Cut):
        return str(cut_html(value, kind, full_url))
    if link is None and kind != "json":
        if isinstance(value, int | Decimal) and not isinstance(value, bool):
            return str(value)
        if isinstance(value, str) and 0 < len(value) <= GRID_CHARS:
            return html_escape(value, quote=False)
        if isinstance(value, dt.datetime):
            return value.isoformat(sep=" ")
    elif link is not None and isinstance(value, int) and not isinstance(value, bool):
        return f'<a href="{html_escape(link)}" class="fk">{value}</a>'
    if kind == "json" and isinstance(value, dict | list):
        one_line = json.dumps(value, ensure_ascii=False, default=str)
        if len(one_line) <= GRID_CHARS:
            return f'<code class="json">{html_escape(one_line, quote=False)}</code>'
    return str(cell_html(value, kind, link))


def cell_html(value: Any, kind: str, link: str | None = None) -> SafeString:
    """The grid cell of one value."""
    if value is None:
        return mark_safe('<span class="null">NULL</span>')  # noqa: S308 - constant markup
    if isinstance(value, str) and value == "":
        return mark_safe('<span class="empty">(empty)</span>')  # noqa: S308 - constant markup
    if isinstance(value, bool):
        return mark_safe('<span class="bool-true">true</span>' if value else '<span class="bool-false">false</span>')  # noqa: S308
    if isinstance(value, bytes | memoryview):
        data = bytes(value)
        return format_html('<span class="bytea" title="bytea">{} bytes · <code>{}</code>{}</span>', f"{len(data):,}",
                           data[:16].hex(" "), "…" if len(data) > 16 else "")
    if kind == "json" or isinstance(value, dict):
        one_line = json.dumps(value, ensure_ascii=False, default=str)
        if len(one_line) <= GRID_CHARS:
            return format_html('<code class="json">{}</code>', one_line)
        return _cut(one_line, json.dumps(value, ensure_ascii=False, indent=2, default=str))
    if isinstance(value, list | tuple):
        text = "[" + ", ".join(as_text(v) if not isinstance(v, str) else v for v in value) + "]"
        return _cut(text)
    text = as_text(value, kind)
    if link:
        return format_html('<a href="{}" class="fk">{}</a>', link, text[:GRID_CHARS])
    return _cut(text)


def _pre(text: str, full_url: str | None) -> SafeString:
    """A <pre> of the text; past INLINE_FULL_MAX characters the rest is behind the full-value link
    (a page holding a 10 MB value would stall the browser)."""
    if len(text) <= INLINE_FULL_MAX or not full_url:
        return format_html("<pre>{}</pre>", text)
    return format_html('<pre>{}…</pre><a href="{}" class="full-value">full value ({} characters)</a>',
                       text[:INLINE_FULL_MAX], full_url, f"{len(text):,}")


def full_html(value: Any, kind: str, full_url: str | None = None) -> SafeString:
    """The whole value (row page); ``full_url`` serves it alone when it is too long to inline."""
    if value is None:
        return mark_safe('<span class="null">NULL</span>')  # noqa: S308
    if isinstance(value, str) and value == "":
        return mark_safe('<span class="empty">(empty)</span>')  # noqa: S308
    if isinstance(value, bytes | memoryview):
        data = bytes(value)
        return format_html('<span class="bytea">{} bytes</span><pre>{}{}</pre>', f"{len(data):,}", data[:256].hex(" "),
                           " …" if len(data) > 256 else "")
    if kind == "json" or isinstance(value, dict | list):
        return _pre(json.dumps(jsonable(value), ensure_ascii=False, indent=2), full_url)
    text = as_text(value, kind)
    if "\n" in text or len(text) > GRID_CHARS:
        return _pre(text, full_url)
    return format_html("{}", text)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
