"""The data browser's public surface: what other apps may ask of it (they import nothing else of it).

The browser's own views and API call its modules directly (``query``, ``actions``, ``refs``…); this
module exists for the other apps (the structure rule in ``tests/core/test_structure.py``).
"""

from __future__ import annotations

from databrowser.refs import TableRef


def table_url(schema: str, name: str) -> str:
    """The path of a relation's page in the data browser (``schema.table`` as one segment, ``refs``'s rules)."""
    return f"/data/{TableRef(schema, name).segment}"
