"""The bundled brokerbot demo project, checked against a real PostgreSQL.

The tests share one fresh, empty database per module (the ``target_url``
fixture from tests/conftest.py) and tell one story in file order: the demo
is created behind head, its pending migrations are visible, the history
migrates up, down and up again, and at head the models match the database.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, delete, func, inspect, select
from sqlalchemy.dialects.postgresql.base import PGInspector
from sqlalchemy.exc import IntegrityError

DEMO_DIR = Path(__file__).resolve().parents[2] / "examples" / "brokerbot"
# The demo is a standalone project, not an installed package.
if str(DEMO_DIR) not in sys.path:
    sys.path.insert(0, str(DEMO_DIR))

from brokerbot import seed  # noqa: E402
from brokerbot.demo_setup import (  # noqa: E402
    DEMO_START_REVISION,
    alembic_config,
    script_directory,
)
from brokerbot.models import Base  # noqa: E402


def run_demo_setup(url: str, *args: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """Run ``python -m brokerbot.demo_setup`` the way the admin tool does."""
    proc = subprocess.run(
        [sys.executable, "-m", "brokerbot.demo_setup", "--url", url, *args],
        cwd=DEMO_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = proc.stdout.strip().splitlines()
    assert lines, f"no JSON on stdout; stderr:\n{proc.stderr}"
    return proc, json.loads(lines[-1])


@pytest.fixture(scope="module")
def engine(target_url: str) -> Iterator[Engine]:
    engine = create_engine(target_url)
    yield engine
    engine.dispose()


@pytest.fixture
def alembic_cfg(target_url: str, monkeypatch: pytest.MonkeyPatch) -> Config:
    # env.py prefers $DATABASE_URL: pin it so a developer's own setting can
    # never send these migrations to another database.
    monkeypatch.setenv("DATABASE_URL", target_url)
    return alembic_config(target_url)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def schema_diff(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))


def test_history_has_a_branch_merge_and_a_single_head() -> None:
    script = script_directory()
    revisions = list(script.walk_revisions())

    assert len(revisions) >= 7
    assert len(script.get_heads()) == 1
    assert any(rev.is_branch_point for rev in revisions)
    merges = [rev for rev in revisions if rev.is_merge_point]
    assert len(merges) == 1
    assert isinstance(merges[0].down_revision, tuple)
    assert len(merges[0].down_revision) == 2
    # Hand-written, readable ids and the usual docstring header.
    for rev in revisions:
        assert rev.revision[:4].isdigit() and "_" in rev.revision
        assert rev.doc and "Create Date:" in (rev.module.__doc__ or "")
        assert callable(getattr(rev.module, "downgrade", None))


def test_demo_start_revision_is_one_or_two_behind_head() -> None:
    script = script_directory()
    pending = list(script.iterate_revisions("heads", DEMO_START_REVISION))
    assert 1 <= len(pending) <= 2


def test_demo_starts_behind_head_with_rows(target_url: str, engine: Engine) -> None:
    proc, result = run_demo_setup(target_url)

    assert proc.returncode == 0, proc.stderr
    assert result["ok"] is True
    assert result["migrated"] is True and result["seeded"] is True
    assert result["revision"] == DEMO_START_REVISION
    assert 1 <= len(result["pending"]) <= 2
    assert result["pending"][-1] == result["head"]
    assert current_revision(engine) == DEMO_START_REVISION
    with engine.connect() as conn:
        assert seed.count_rows(conn, seed.clients) == result["clients"] == 200
        assert seed.count_rows(conn, seed.brokers) == result["brokers"] == 8
        assert seed.count_rows(conn, seed.operations) == result["operations"] == 5000
        assert seed.count_rows(conn, seed.payment_calendars) > 0
        assert seed.count_rows(conn, seed.client_brokers) >= 200


def test_seeded_operations_are_consistent(engine: Engine) -> None:
    ops, links, clients = seed.operations, seed.client_brokers, seed.clients
    with engine.connect() as conn:
        unlinked = conn.scalar(
            select(func.count())
            .select_from(ops)
            .outerjoin(
                links,
                (links.c.client_id == ops.c.client_id) & (links.c.broker_id == ops.c.broker_id),
            )
            .where(links.c.client_id.is_(None))
        )
        before_signup = conn.scalar(
            select(func.count())
            .select_from(ops.join(clients, clients.c.id == ops.c.client_id))
            .where(ops.c.created_at < clients.c.created_at)
        )
        kinds = set(conn.scalars(select(ops.c.kind).distinct()))
    assert unlinked == 0, "every operation goes through one of the client's brokers"
    assert before_signup == 0, "no operation predates its client's sign-up"
    assert {kind.value for kind in kinds} == {"buy", "sell", "deposit", "withdrawal"}


def test_running_demo_setup_again_changes_nothing(target_url: str) -> None:
    proc, result = run_demo_setup(target_url)

    assert proc.returncode == 0, proc.stderr
    assert result["migrated"] is False and result["seeded"] is False
    assert result["revision"] == DEMO_START_REVISION
    assert result["clients"] == 200 and result["operations"] == 5000


def test_autogenerate_sees_exactly_the_pending_changes(engine: Engine) -> None:
    diff = schema_diff(engine)

    # What the pending revisions add: operations.note and the index on kind.
    assert sorted(entry[0] for entry in diff) == ["add_column", "add_index"]
    by_kind = {entry[0]: entry for entry in diff}
    assert by_kind["add_column"][2] == "operations"
    assert by_kind["add_column"][3].name == "note"
    assert by_kind["add_index"][1].name == "ix_operations_kind"


def test_broker_with_history_cannot_be_deleted_but_client_cascades(engine: Engine) -> None:
    ops = seed.operations
    with engine.connect() as conn:
        client_id, broker_id = conn.execute(select(ops.c.client_id, ops.c.broker_id).limit(1)).one()
        with pytest.raises(IntegrityError), conn.begin_nested():
            conn.execute(delete(seed.brokers).where(seed.brokers.c.id == broker_id))
        conn.execute(delete(seed.clients).where(seed.clients.c.id == client_id))
        left = conn.scalar(select(func.count()).select_from(ops).where(ops.c.client_id == client_id))
        conn.rollback()
    assert left == 0


def test_downgrade_and_upgrade_replay_the_meta_backfill(alembic_cfg: Config, engine: Engine) -> None:
    # Back to before operations.meta existed (and before the branch), then
    # forward through 0005: existing rows must get the legacy marker.
    command.downgrade(alembic_cfg, "0003_operations")
    assert "meta" not in {col["name"] for col in inspect(engine).get_columns("operations")}

    command.upgrade(alembic_cfg, "0005_operations_meta")
    with engine.connect() as conn:
        metas = set(conn.scalars(select(seed.operations.c.meta["channel"].astext).distinct()))
        count = seed.count_rows(conn, seed.operations)
    assert count == 5000
    assert metas == {"legacy"}

    command.upgrade(alembic_cfg, "heads")
    assert current_revision(engine) == script_directory().get_current_head()


def test_migrations_go_up_down_to_base_and_up_again(alembic_cfg: Config, engine: Engine) -> None:
    command.upgrade(alembic_cfg, "head")
    command.downgrade(alembic_cfg, "base")

    assert current_revision(engine) is None
    leftovers = set(inspect(engine).get_table_names()) - {"alembic_version"}
    assert leftovers == set()
    # The enum type goes with 0003's downgrade too, or the next upgrade fails.
    pg_inspector = cast(PGInspector, inspect(engine))
    assert [enum["name"] for enum in pg_inspector.get_enums()] == []

    command.upgrade(alembic_cfg, "head")
    assert current_revision(engine) == script_directory().get_current_head()


def test_head_schema_matches_the_models(alembic_cfg: Config, engine: Engine) -> None:
    command.upgrade(alembic_cfg, "head")
    assert schema_diff(engine) == []


def test_offline_sql_renders_the_whole_history(alembic_cfg: Config, capsys: pytest.CaptureFixture[str]) -> None:
    command.upgrade(alembic_cfg, "head", sql=True)
    sql = capsys.readouterr().out
    assert "CREATE TYPE operation_kind AS ENUM" in sql
    assert "UPDATE operations SET meta=" in sql
    assert "CREATE INDEX ix_operations_kind" in sql


def test_bad_url_reports_json_error_with_hint() -> None:
    proc, result = run_demo_setup("postgresql://nobody@127.0.0.1:1/missing")
    assert proc.returncode == 1
    assert result["ok"] is False
    assert result["error"] and result["hint"]
