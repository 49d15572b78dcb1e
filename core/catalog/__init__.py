"""Everything the tool asks the target's catalogue, in one place, for every app.

Which schemas are the user's, which relations they hold with their row estimates and sizes, keys
and foreign keys, index keys, columns for the editor, the database's activity, the connection's
roles, and the schema fingerprint the caches are keyed under. The rules that used to be repeated
across apps (what a "user schema" is, when a row estimate is "unknown") are defined once, in
``core.catalog.relations``.

Functions take an open SQLAlchemy ``Connection`` from ``core.target.connect()`` (the caller decides
the role and the transaction) and return plain values; schema and table names are always bound
parameters. Apps shape the answers for their pages (``databrowser.catalog``, ``sqlconsole.catalog``)
but do not query ``pg_catalog`` themselves.

* ``relations`` — ``user_schemas``, ``is_user_schema``, ``tables``, ``table_count``, ``relation``,
  ``estimates``, ``column_types``, ``relation_blocks``, ``table_facts``, ``biggest_tables``;
* ``keys`` — ``primary_keys``, ``unique_keys``, ``foreign_keys``, ``referencing``, ``constraint``,
  ``index_keys``, ``trigram_extension``;
* ``overview`` — ``columns``, ``functions``, ``search_path``, ``database``, ``longest_queries``;
* ``roles`` — ``current_role``, ``holds``, ``role_exists``;
* ``fingerprint`` — ``schema_fingerprint``.
"""

from __future__ import annotations

from core.catalog.fingerprint import SCHEMA_FINGERPRINT_SQL, schema_fingerprint
from core.catalog.keys import (
    ON_DELETE,
    ForeignKey,
    IndexKey,
    Key,
    constraint,
    foreign_keys,
    index_keys,
    primary_keys,
    referencing,
    trigram_extension,
    unique_keys,
)
from core.catalog.overview import columns, database, functions, longest_queries, search_path
from core.catalog.relations import (
    ESTIMATE_SQL,
    KIND_LABELS,
    SYSTEM_SCHEMAS,
    TABLES_SQL,
    USER_SCHEMA_SQL,
    WRITABLE_KINDS,
    Relation,
    biggest_tables,
    column_types,
    estimates,
    is_user_schema,
    relation,
    relation_blocks,
    table_count,
    table_facts,
    tables,
    user_schemas,
)
from core.catalog.roles import CurrentRole, current_role, holds, role_exists

__all__ = [
    "ESTIMATE_SQL", "KIND_LABELS", "ON_DELETE", "SCHEMA_FINGERPRINT_SQL", "SYSTEM_SCHEMAS", "TABLES_SQL",
    "USER_SCHEMA_SQL", "WRITABLE_KINDS", "CurrentRole", "ForeignKey", "IndexKey", "Key", "Relation",
    "biggest_tables", "column_types", "columns", "constraint", "current_role", "database", "estimates",
    "foreign_keys", "functions", "holds", "index_keys", "is_user_schema", "longest_queries", "primary_keys",
    "referencing", "relation", "relation_blocks", "role_exists", "schema_fingerprint", "search_path",
    "table_count", "table_facts", "tables", "trigram_extension", "unique_keys", "user_schemas",
]
