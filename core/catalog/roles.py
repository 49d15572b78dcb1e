"""Roles of the target: who the connection is, whether it is a superuser, which roles it holds.

``pg_has_role(…, 'USAGE')`` counts a role held directly or through a chain of memberships that
inherit, which is what a statement run as ``current_user`` may actually use.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, text

_ROLE_SQL = text("""
SELECT current_user, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user),
       ARRAY(SELECT r.rolname::text FROM pg_roles r WHERE r.rolname = ANY(:names)
             AND pg_has_role(current_user, r.oid, 'USAGE') ORDER BY 1)
""")

_EXISTS_SQL = text("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :name)")


@dataclass(frozen=True)
class CurrentRole:
    """The connection's role, and which of the roles asked about it may use."""

    user: str
    superuser: bool
    holds: tuple[str, ...]  # of the names asked about, sorted


def current_role(conn: Connection, names: Iterable[str] = ()) -> CurrentRole:
    """``current_user``, whether it is a superuser, and which of ``names`` it holds (inherited)."""
    user, superuser, held = conn.execute(_ROLE_SQL, {"names": list(names)}).one()
    return CurrentRole(user=str(user), superuser=bool(superuser), holds=tuple(held or ()))


def holds(conn: Connection, role: str) -> bool:
    """Whether the connection's role may use ``role`` (e.g. ``pg_read_all_data``); False when it does not exist."""
    return role in current_role(conn, [role]).holds


def role_exists(conn: Connection, name: str) -> bool:
    """Whether a role of that name exists on the server."""
    return bool(conn.execute(_EXISTS_SQL, {"name": name}).scalar_one())
