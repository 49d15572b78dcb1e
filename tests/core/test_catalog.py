"""``core.catalog`` on a real database with a nasty schema: mixed-case names with spaces and quotes,
a partitioned table with an FK (whose partitions carry child constraints), a view, never-analysed
and analysed tables, and relations outside the user schemas (a table in information_schema, a
temporary table held open by another session) that must never show up.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from core import catalog
from core import target as core_target
from tests.conftest import libpq

SCHEMA = "Mixed Case"
PARENT, CHILD, VIEW = 'Parent "P"', "Child", "Parent View"
P = '"Mixed Case"."Parent ""P"""'  # the parent as SQL spells it

NASTY = f"""
CREATE SCHEMA "{SCHEMA}";
CREATE TABLE {P} (id int PRIMARY KEY, code text UNIQUE) WITH (autovacuum_enabled = false);
CREATE TABLE "{SCHEMA}"."{CHILD}" (id int PRIMARY KEY, a int, b int,
    parent_id int REFERENCES {P} (id) ON DELETE CASCADE,
    CONSTRAINT child_ba UNIQUE (b, a)) WITH (autovacuum_enabled = false);
CREATE VIEW "{SCHEMA}"."{VIEW}" AS SELECT * FROM {P};
CREATE TABLE public.readings (id int, at int, parent_id int REFERENCES {P} (id))
    PARTITION BY RANGE (at);
CREATE TABLE public.readings_1 PARTITION OF public.readings FOR VALUES FROM (0) TO (100)
    WITH (autovacuum_enabled = false);
CREATE TABLE public.readings_2 PARTITION OF public.readings FOR VALUES FROM (100) TO (1000)
    WITH (autovacuum_enabled = false);
CREATE TABLE information_schema.not_yours (id int);
INSERT INTO {P} SELECT g, 'c' || g FROM generate_series(1, 50) g;
INSERT INTO "{SCHEMA}"."{CHILD}" SELECT g, g, g, 1 + g % 50 FROM generate_series(1, 20) g;
INSERT INTO public.readings SELECT g, g, 1 FROM generate_series(1, 300) g;
ANALYZE "{SCHEMA}"."{CHILD}";
"""


@pytest.fixture(scope="module")
def nasty_url(target_url: str) -> Iterator[str]:
    with psycopg.connect(libpq(target_url), autocommit=True) as conn:
        conn.execute(NASTY)
    # A temporary table lives in a pg_temp_N schema while its session is open: not a user schema.
    with psycopg.connect(libpq(target_url), autocommit=True) as holder:
        holder.execute("CREATE TEMP TABLE scratch (id int)")
        yield target_url


@pytest.fixture
def conn(nasty_url: str, settings) -> Iterator[object]:  # type: ignore[no-untyped-def]
    settings.TARGET_DATABASE_URL = nasty_url
    core_target.set_target_url(None)
    with core_target.connect() as connection:
        yield connection
    core_target.dispose()


def test_user_schemas_are_the_users_only_and_agree_with_the_python_rule(conn):
    schemas = catalog.user_schemas(conn)
    assert schemas == sorted(schemas) and {SCHEMA, "public"} <= set(schemas)
    every = [r[0] for r in conn.exec_driver_sql("SELECT nspname FROM pg_namespace")]
    assert any(s.startswith("pg_temp_") for s in every) and "information_schema" in every  # the fixture's traps
    assert schemas == sorted(s for s in every if catalog.is_user_schema(s))
    assert "information_schema" not in schemas and not any(s.startswith("pg_") for s in schemas)


def test_tables_list_relations_with_kinds_sizes_and_no_partitions_or_strangers(conn):
    listed = {(r.schema, r.name): r for r in catalog.tables(conn)}
    assert set(listed) == {(SCHEMA, PARENT), (SCHEMA, CHILD), (SCHEMA, VIEW), ("public", "readings")}
    assert [r.name for r in catalog.tables(conn, SCHEMA)] == sorted([PARENT, CHILD, VIEW])
    assert catalog.tables(conn, "information_schema") == []
    view, parent, readings = listed[(SCHEMA, VIEW)], listed[(SCHEMA, PARENT)], listed[("public", "readings")]
    assert (view.kind_label, view.writable, view.size_bytes, view.estimate) == ("view", False, None, None)
    assert (readings.kind_label, readings.writable) == ("partitioned table", True)
    assert parent.size_bytes is not None and parent.size_bytes > 0 and readings.size_bytes is not None
    assert catalog.table_count(conn) == 3  # Parent, Child, readings (its partitions and the view not counted)


def test_a_never_analysed_table_is_unknown_and_an_analysed_one_a_number(conn, nasty_url):
    listed = {(r.schema, r.name): r.estimate for r in catalog.tables(conn)}
    assert listed[(SCHEMA, PARENT)] is None  # 50 rows, never analysed: unknown, not 0
    assert listed[(SCHEMA, CHILD)] == 20
    assert listed[("public", "readings")] is None  # no partition analysed yet
    spelled = ['"Mixed Case"."Child"', "readings", P, "no_such_table"]
    assert catalog.estimates(conn, spelled) == {spelled[0]: 20, "readings": None, spelled[2]: None,
                                                "no_such_table": None}
    assert (catalog.relation(conn, SCHEMA, PARENT) or {}).get("estimate", "absent") is None
    assert catalog.relation(conn, SCHEMA, "absent") is None
    with psycopg.connect(libpq(nasty_url), autocommit=True) as other:
        other.execute("ANALYZE public.readings_1")
        partly = {(r.schema, r.name): r.estimate for r in catalog.tables(conn, "public")}
        other.execute("ANALYZE public.readings")
        whole = catalog.estimates(conn, ["public.readings"])
    assert partly[("public", "readings")] == 99  # the known partition only: 1..99 fall in readings_1
    assert whole == {"public.readings": 300}


def test_keys_keep_their_column_order_and_partition_fks_are_reported_once(conn):
    pks = catalog.primary_keys(conn)
    assert pks[(SCHEMA, CHILD)].columns == ("id",) and pks[(SCHEMA, PARENT)].columns == ("id",)
    assert ("public", "readings") not in pks
    uniques = catalog.unique_keys(conn, SCHEMA)
    assert [(k.name, k.columns) for k in uniques[(SCHEMA, CHILD)]] == [("child_ba", ("b", "a"))]
    assert [k.columns for k in uniques[(SCHEMA, PARENT)]] == [("code",)]
    fks = catalog.foreign_keys(conn)
    assert sorted((f.schema, f.table, f.columns, f.ref_schema, f.ref_table, f.ref_columns) for f in fks) == [
        (SCHEMA, CHILD, ("parent_id",), SCHEMA, PARENT, ("id",)),
        ("public", "readings", ("parent_id",), SCHEMA, PARENT, ("id",)),
    ]
    assert [f.table for f in catalog.foreign_keys(conn, "public")] == ["readings"]
    back = {(f.schema, f.table): f.on_delete for f in catalog.referencing(conn, SCHEMA, PARENT)}
    assert back == {(SCHEMA, CHILD): "cascade", ("public", "readings"): "no action"}
    assert (catalog.constraint(conn, SCHEMA, CHILD, "child_ba") or {}).get("columns") == ["b", "a"]


def test_column_facts_follow_the_same_rules(conn):
    rows = catalog.columns(conn, 100)
    relations = {(r[0], r[1]) for r in rows}
    assert relations == {(SCHEMA, PARENT), (SCHEMA, CHILD), (SCHEMA, VIEW), ("public", "readings")}
    child = {r[4]: r for r in rows if r[1] == CHILD}
    assert child["id"][3] == 20 and child["id"][7] is True
    assert child["parent_id"][8] == P
    facts = {(f[1], f[0]): f for f in catalog.table_facts(conn, [CHILD, PARENT, "not_yours"])}
    assert set(facts) == {(SCHEMA, CHILD), (SCHEMA, PARENT)} and facts[(SCHEMA, PARENT)][2] == 0.0
    assert {(t["schema"], t["name"]) for t in catalog.biggest_tables(conn, 10)} >= {(SCHEMA, PARENT), (SCHEMA, CHILD)}


def test_role_checks_see_inherited_membership_such_as_pg_read_all_data(conn, nasty_url):
    name = f"catalog_reader_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(libpq(nasty_url), autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(name)))
        try:
            admin.execute(sql.SQL("GRANT pg_read_all_data TO {}").format(sql.Identifier(name)))
            assert catalog.role_exists(conn, name) and not catalog.role_exists(conn, name + "_absent")
            conn.exec_driver_sql(f'SET LOCAL ROLE "{name}"')  # a generated name: no quoting hazards
            role = catalog.current_role(conn, ["pg_read_all_data", "pg_signal_backend"])
            assert (role.user, role.superuser, role.holds) == (name, False, ("pg_read_all_data",))
            assert catalog.holds(conn, "pg_read_all_data") and not catalog.holds(conn, "pg_write_all_data")
            conn.exec_driver_sql("RESET ROLE")
        finally:
            admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def test_the_fingerprint_moves_with_ddl_in_a_mixed_case_schema(conn, nasty_url):
    def fingerprint() -> str:  # a connection of its own: the DDL below must not wait for the fixture's
        with core_target.connect() as own:
            return catalog.schema_fingerprint(own)

    before = fingerprint()
    with psycopg.connect(libpq(nasty_url), autocommit=True) as other:
        other.execute(f'ALTER TABLE "{SCHEMA}"."{CHILD}" ADD COLUMN extra int')
        try:
            assert fingerprint() != before
        finally:
            other.execute(f'ALTER TABLE "{SCHEMA}"."{CHILD}" DROP COLUMN extra')
