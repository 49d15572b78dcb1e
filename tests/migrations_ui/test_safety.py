"""The safety rules, on the SQL Alembic really emits for common operations (offline mode)."""

from __future__ import annotations

import io
from collections.abc import Callable

import psycopg
import pytest
import sqlalchemy as sa
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import make_url

from migrations_ui import preview, safety


def emitted(build: Callable[[Operations], None]) -> str:
    """The SQL Alembic's offline mode writes for the operations ``build`` performs."""
    buf = io.StringIO()
    ctx = MigrationContext.configure(dialect_name="postgresql", opts={"as_sql": True, "output_buffer": buf})
    build(Operations(ctx))
    return buf.getvalue()


def rules(sql: str) -> list[str]:
    return [f["rule"] for f in safety.analyse_sql(sql)]


def test_adding_a_not_null_column_without_default_is_dangerous():
    sql = emitted(lambda op: op.add_column("clients", sa.Column("tier", sa.Text(), nullable=False)))
    [finding] = safety.analyse_sql(sql)
    assert finding["rule"] == "add_column_not_null_no_default"
    assert finding["table"] == "clients" and finding["column"] == "tier"
    assert finding["lock"] == "ACCESS EXCLUSIVE" and finding["severity"] == "danger"


def test_adding_a_nullable_column_or_one_with_a_constant_default_is_fine():
    assert rules(emitted(lambda op: op.add_column("clients", sa.Column("note", sa.Text(), nullable=True)))) == []
    assert rules(emitted(lambda op: op.add_column(
        "clients", sa.Column("tier", sa.Text(), nullable=False, server_default="basic")))) == []


def test_a_volatile_default_rewrites_the_table():
    sql = emitted(lambda op: op.add_column("clients", sa.Column(
        "token", sa.Text(), nullable=False, server_default=sa.text("gen_random_uuid()::text"))))
    assert rules(sql) == ["add_column_rewrite"]


def test_changing_a_column_type_rewrites_under_access_exclusive():
    sql = emitted(lambda op: op.alter_column("operations", "amount", type_=sa.Numeric(18, 4)))
    [finding] = safety.analyse_sql(sql)
    assert finding["rule"] == "alter_column_type" and finding["table"] == "operations"
    assert finding["column"] == "amount"


def test_index_builds_block_writes_unless_concurrent():
    plain = emitted(lambda op: op.create_index("ix_ops_kind", "operations", ["kind"]))
    concurrent = emitted(lambda op: op.create_index("ix_ops_kind", "operations", ["kind"], postgresql_concurrently=True))
    unique = emitted(lambda op: op.create_index("ux_c", "clients", ["email"], unique=True, schema="public"))
    assert rules(plain) == ["create_index_blocking"]
    assert safety.analyse_sql(plain)[0]["table"] == "operations"
    assert rules(concurrent) == []
    assert safety.analyse_sql(unique)[0]["table"] == "public.clients"


def test_drops_lose_data():
    table = emitted(lambda op: op.drop_table("client_payment_calendar"))
    column = emitted(lambda op: op.drop_column("operations", "meta"))
    assert rules(table) == ["drop_table"] and safety.analyse_sql(table)[0]["table"] == "client_payment_calendar"
    assert rules(column) == ["drop_column"] and safety.analyse_sql(column)[0]["column"] == "meta"
    # dropping a constraint or a default is not a column drop
    assert rules(emitted(lambda op: op.drop_constraint("fk_x", "operations", type_="foreignkey"))) == []
    assert rules(emitted(lambda op: op.alter_column("operations", "kind", server_default=None))) == []


def test_set_not_null_and_validating_constraints_are_flagged():
    assert rules(emitted(lambda op: op.alter_column("clients", "email", nullable=False))) == ["set_not_null"]
    fk = emitted(lambda op: op.create_foreign_key("fk_ops_client", "operations", "clients", ["client_id"], ["id"]))
    assert rules(fk) == ["add_fk_validating"]
    check = emitted(lambda op: op.create_check_constraint("ck_amount", "operations", "amount > 0"))
    assert rules(check) == ["add_check_validating"]


def test_several_statements_are_sorted_most_severe_first():
    def build(op: Operations) -> None:
        op.create_index("ix_a", "a", ["x"])
        op.drop_table("b")

    assert rules(emitted(build)) == ["drop_table", "create_index_blocking"]
    assert safety.summary(safety.analyse_sql(emitted(build))) == {"danger": 1, "warning": 1, "info": 0}


REVISION = '''
from alembic import op
import sqlalchemy as sa


def upgrade():
    op.add_column("t", sa.Column("c", sa.Integer))
    op.create_unique_constraint(None, "t", ["c"])


def downgrade():
{body}
'''


@pytest.mark.parametrize("body, expected", [
    ('    raise NotImplementedError("one way only")', ["downgrade_raises"]),
    ("    pass", ["downgrade_empty"]),
    ('    """Nothing to undo."""', ["downgrade_empty"]),
    ('    op.drop_constraint(None, "t", type_="unique")\n    op.drop_column("t", "c")', ["drop_unnamed_constraint"]),
    ('    op.drop_constraint("uq_t_c", "t", type_="unique")\n    op.drop_column("t", "c")', []),
])
def test_downgrades_that_cannot_work_are_flagged(body, expected):
    assert [f["rule"] for f in safety.analyse_revision_source(REVISION.format(body=body))] == expected


def test_an_empty_downgrade_of_an_empty_upgrade_is_fine():
    source = "def upgrade():\n    pass\n\n\ndef downgrade():\n    pass\n"
    assert safety.analyse_revision_source(source) == []


def test_estimated_rows_come_from_the_planner(target):
    libpq = make_url(target).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(libpq, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS big_orders AS SELECT g AS id FROM generate_series(1, 1234) g")
        conn.execute("ANALYZE big_orders")
    counts = preview.estimated_rows(["big_orders", "public.big_orders", "no_such_table"])
    assert counts == {"big_orders": 1234, "public.big_orders": 1234, "no_such_table": None}


def test_a_never_analysed_table_has_an_unknown_row_count_not_zero(target):
    libpq = make_url(target).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(libpq, autocommit=True) as conn:
        if conn.info.server_version < 140000:
            return  # before 14 "never analysed" and "empty" look alike in pg_class
        conn.execute("CREATE TABLE IF NOT EXISTS fresh_orders (id int)")
        conn.execute("INSERT INTO fresh_orders SELECT generate_series(1, 500)")
    assert preview.estimated_rows(["fresh_orders"]) == {"fresh_orders": None}


# --- issue 9, class 12 ---------------------------------------------------------------------------

def test_a_downgrade_to_base_does_not_flag_dropping_the_version_table_as_data_loss():
    # older Alembic releases end an offline downgrade to base with DROP TABLE alembic_version
    script = ("BEGIN;\n\n-- Running downgrade l1_items -> \n\nDROP TABLE items;\n\n"
              "DELETE FROM alembic_version WHERE alembic_version.version_num = 'l1_items';\n\n"
              "DROP TABLE alembic_version;\n\nCOMMIT;\n")
    found = safety.analyse_sql(script)
    assert [(f["rule"], f["table"]) for f in found] == [("drop_table", "items")]
    # a project's own version table name (env.py's version_table=) is bookkeeping too
    assert rules("DROP TABLE meta.schema_history;\n") == ["drop_table"]
    assert safety.analyse_sql("DROP TABLE meta.schema_history;\n", ["schema_history"]) == []


def test_an_index_on_a_table_created_by_the_same_revision_blocks_nobody():
    sql = emitted(lambda op: (op.create_table("fresh", sa.Column("id", sa.Integer, primary_key=True)),
                              op.create_index("ix_fresh_id", "fresh", ["id"])))
    assert "create_index_blocking" not in rules(sql)
    # ... but the same index in a later revision of the run finds a table the application may already use
    two_revisions = ("-- Running upgrade  -> r1\n\nCREATE TABLE fresh (id INTEGER);\n\n"
                     "-- Running upgrade r1 -> r2\n\nCREATE INDEX ix_fresh_id ON fresh (id);\n")
    assert rules(two_revisions) == ["create_index_blocking"]
