"""Names in URLs: ``{schema.table}`` as one path segment, composite keys, sort lists.

A table is addressed as ``schema.table``. The schema part ends at the first dot unless it is
written as a double-quoted identifier (``"my.schema".table``, ``""`` inside for a quote), so
names with dots, quotes, spaces and unicode all round-trip; the table part is the rest, and is
quoted only when it begins with a double quote itself. The whole text is percent-encoded as
one path segment (``/`` inside a name cannot be addressed: Django decodes it before routing).

A row key ``{pk}`` is the key values percent-encoded one by one and joined by ``,`` (the
segment is then percent-encoded again as part of the path, so a ``,`` or ``%`` inside a value
survives). A sort list is ``col,-col2``; a column whose name holds ``,`` or starts with ``-``
or ``"`` is written double-quoted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from urllib.parse import quote, unquote

from core.exceptions import BadRequest


def _read_quoted(text: str, start: int) -> tuple[str, int]:
    """Read a double-quoted identifier starting at ``text[start] == '"'``; returns (name, next index)."""
    out: list[str] = []
    i = start + 1
    while i < len(text):
        ch = text[i]
        if ch == '"':
            if i + 1 < len(text) and text[i + 1] == '"':
                out.append('"')
                i += 2
                continue
            return "".join(out), i + 1
        out.append(ch)
        i += 1
    raise BadRequest(f"Unclosed double quote in {text!r}.",
                     hint='Write a name holding a dot or a quote as "name" with "" for a quote inside.')


def refuse_nul(text: str, what: str) -> str:
    """PostgreSQL names and text values cannot hold NUL: refuse it here, before the driver raises."""
    if "\x00" in text:
        raise BadRequest(f"The {what} contains a NUL (0x00) character.", code="nul_character",
                         hint="Remove %00 from the URL: PostgreSQL names and text cannot contain NUL.")
    return text


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True, order=True)
class TableRef:
    """A relation's schema and name, as PostgreSQL spells them (case and all)."""

    schema: str
    name: str

    @cached_property
    def slug(self) -> str:
        schema = quote_ident(self.schema) if ("." in self.schema or self.schema.startswith('"')) else self.schema
        name = quote_ident(self.name) if self.name.startswith('"') else self.name
        return f"{schema}.{name}"

    @property
    def segment(self) -> str:
        """The slug percent-encoded as one URL path segment."""
        return quote(self.slug, safe="")

    def __str__(self) -> str:
        return self.slug

    @classmethod
    def parse(cls, text: str) -> TableRef:
        if not text:
            raise BadRequest("No table given.", hint="Address a table as schema.table, e.g. public.clients.")
        refuse_nul(text, "table name")
        if text.startswith('"'):
            schema, i = _read_quoted(text, 0)
            if i >= len(text) or text[i] != ".":
                raise BadRequest(f"Expected a dot after the quoted schema in {text!r}.",
                                 hint='Write "schema".table.')
            rest = text[i + 1:]
        elif "." in text:
            schema, rest = text.split(".", 1)
        else:
            schema, rest = "public", text
        if rest.startswith('"'):
            name, j = _read_quoted(rest, 0)
            if j != len(rest):
                raise BadRequest(f"Unexpected text after the quoted table name in {text!r}.",
                                 hint='Write schema."table" with "" for a quote inside.')
        else:
            name = rest
        if not schema or not name:
            raise BadRequest(f"{text!r} is not a schema.table name.", hint="Address a table as schema.table.")
        return cls(schema, name)


def encode_pk(values: Sequence[object]) -> str:
    """The ``{pk}`` text of a row key (before the path's own percent-encoding)."""
    return ",".join(quote(_pk_text(v), safe="") for v in values)


def _pk_text(value: object) -> str:
    if isinstance(value, bytes | memoryview):
        return "\\x" + bytes(value).hex()
    return str(value)


def pk_segment(values: Sequence[object]) -> str:
    """The ``{pk}`` ready to put in a URL path."""
    return quote(encode_pk(values), safe="")


def decode_pk(text: str, count: int) -> list[str]:
    """Split a decoded ``{pk}`` path segment into ``count`` key values (as text)."""
    parts = [refuse_nul(unquote(p), "row key") for p in text.split(",")]
    if len(parts) != count:
        raise BadRequest(f"This table's key has {count} column(s); the URL gave {len(parts)} value(s).",
                         hint="Join the percent-encoded key values with ',' in the primary key's column order.")
    return parts


def parse_sort(text: str) -> list[tuple[str, bool]]:
    """``a,-b,"c,d"`` → [("a", False), ("b", True), ("c,d", False)] (True means descending)."""
    out: list[tuple[str, bool]] = []
    refuse_nul(text, "sort list")
    i = 0
    while i < len(text):
        desc = text[i] == "-"
        if desc:
            i += 1
        if i < len(text) and text[i] == '"':
            name, i = _read_quoted(text, i)
            if i < len(text) and text[i] != ",":
                raise BadRequest(f"Unexpected text after a quoted column in sort={text!r}.",
                                 hint='Separate sort columns with commas: sort=a,-b,"c,d".')
        else:
            end = text.find(",", i)
            end = len(text) if end < 0 else end
            name, i = text[i:end], end
        if not name:
            raise BadRequest(f"Empty column in sort={text!r}.", hint="Use sort=column or sort=-column.")
        out.append((name, desc))
        i += 1  # skip the comma
    return out


def format_sort(items: list[tuple[str, bool]]) -> str:
    parts = []
    for name, desc in items:
        needs = "," in name or name.startswith(("-", '"'))
        parts.append(("-" if desc else "") + (quote_ident(name) if needs else name))
    return ",".join(parts)
