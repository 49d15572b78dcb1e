"""The data browser's view of ``core.catalog``: the table list as the pages and API show it, and
the catalogue answers addressed by ``TableRef`` (the queries themselves live in ``core.catalog``).

Everything that reads or writes user tables goes through reflected ``Table`` objects in
``databrowser.query`` instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from core import catalog
from core.catalog import KIND_LABELS, WRITABLE_KINDS, IndexKey, column_types, index_keys, relation_blocks, trigram_extension
from databrowser.refs import TableRef

__all__ = ["KIND_LABELS", "WRITABLE_KINDS", "IndexKey", "ReverseFk", "column_types", "constraint", "index_keys",
           "list_relations", "referencing", "relation", "relation_blocks", "trigram_extension"]


@dataclass(frozen=True)
class ReverseFk:
    """A foreign key of another table that references ours."""

    name: str
    ref: TableRef  # the referencing table
    columns: tuple[str, ...]  # its columns
    ref_columns: tuple[str, ...]  # our columns they point at
    on_delete: str  # cascade / set null / set default / restrict / no action


def list_relations(conn: Connection) -> list[dict[str, Any]]:
    """Every relation of the user schemas as the table list shows it (``estimated_rows`` None: unknown)."""
    return [{"schema": r.schema, "name": r.name, "kind": r.kind_label, "read_only": not r.writable,
             "estimated_rows": r.estimate, "size_bytes": r.size_bytes, "comment": r.comment}
            for r in catalog.tables(conn)]


def relation(conn: Connection, ref: TableRef) -> dict[str, Any] | None:
    return catalog.relation(conn, ref.schema, ref.name)


def referencing(conn: Connection, ref: TableRef) -> list[ReverseFk]:
    return [ReverseFk(fk.name, TableRef(fk.schema, fk.table), fk.columns, fk.ref_columns, fk.on_delete)
            for fk in catalog.referencing(conn, ref.schema, ref.name)]


def constraint(conn: Connection, ref: TableRef, name: str) -> dict[str, Any] | None:
    """Type, columns and definition of a constraint (or a unique index) of a table, by name."""
    return catalog.constraint(conn, ref.schema, ref.name, name)
