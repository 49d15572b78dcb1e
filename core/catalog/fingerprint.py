"""The schema fingerprint the caches are keyed under (read-only, on a connection the caller opens).

``schema_fingerprint()`` is one short query that hashes, inside PostgreSQL, everything of the user
schemas that a models-versus-database comparison can see: relations and their kinds, columns (type,
NOT NULL, default, identity/generated, comment), constraints, indexes, enum labels and table comments.
Any DDL — a migration, or an ``ALTER TABLE … ADD COLUMN`` typed by hand — changes it; row writes do
not. Drift answers are cached under it, so they stay valid exactly as long as the schema does.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

from core.catalog.relations import USER_SCHEMA_SQL

# md5 of ordered string_aggs: one round trip, nothing shipped but 32 hex characters.
SCHEMA_FINGERPRINT_SQL = text(rf"""
WITH ns AS (
    SELECT n.oid, n.nspname FROM pg_namespace n WHERE {USER_SCHEMA_SQL}
), rel AS (
    SELECT c.oid, quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS name, c.relkind
    FROM pg_class c JOIN ns n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S', 'i', 'I')
)
SELECT md5(concat_ws(E'\n',
    (SELECT string_agg(concat_ws(':', r.name, r.relkind::text, coalesce(ds.description, '')), ',' ORDER BY r.name)
       FROM rel r LEFT JOIN pg_description ds
         ON ds.objoid = r.oid AND ds.classoid = 'pg_class'::regclass AND ds.objsubid = 0),
    (SELECT string_agg(concat_ws(':', r.name, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                                 a.attidentity::text, a.attgenerated::text, coalesce(pg_get_expr(d.adbin, d.adrelid), ''),
                                 coalesce(ds.description, '')),
                       ',' ORDER BY r.name, a.attnum)
       FROM rel r JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
       LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
       LEFT JOIN pg_description ds
         ON ds.objoid = a.attrelid AND ds.classoid = 'pg_class'::regclass AND ds.objsubid = a.attnum),
    (SELECT string_agg(concat_ws(':', r.name, co.conname, pg_get_constraintdef(co.oid)), ','
                       ORDER BY r.name, co.conname)
       FROM pg_constraint co JOIN rel r ON r.oid = co.conrelid),
    (SELECT string_agg(pg_get_indexdef(i.indexrelid), ',' ORDER BY pg_get_indexdef(i.indexrelid))
       FROM pg_index i JOIN rel r ON r.oid = i.indrelid),
    (SELECT string_agg(concat_ws(':', quote_ident(n.nspname) || '.' || quote_ident(t.typname), e.enumlabel), ','
                       ORDER BY n.nspname, t.typname, e.enumsortorder)
       FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid JOIN ns n ON n.oid = t.typnamespace)
))
""")


def schema_fingerprint(conn: Connection) -> str:
    """A hash of the user schemas' DDL of the database ``conn`` is on (see the module docstring).

    Like every ``core.catalog`` function it takes the caller's connection (which says which target),
    so the catalogue needs nothing of ``core.target``."""
    return str(conn.execute(SCHEMA_FINGERPRINT_SQL).scalar_one())
