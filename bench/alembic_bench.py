"""NFR-2: applying N revisions through the tool costs at most 5 % more than `alembic upgrade head`.

Two generated projects: 50 trivial revisions, and one heavy data migration (a few hundred
thousand rows created then rewritten). For each, the Alembic CLI runs on one fresh database and
the tool (``migrations_ui.runs.start_run``: lock, child process, live log stored and broadcast,
re-read and check of the version table; backup excluded) on a twin; the median wall time of a
few rounds is compared and the ratio printed. Needs a PostgreSQL: ``BENCH_DATABASE_URL``, else
the server on 127.0.0.1:5432.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ["PGADMIN_DATA_DIR"] = tempfile.mkdtemp(prefix="pgadmin-bench-")
os.environ["DJANGO_SETTINGS_MODULE"] = "pgadmin_site.settings"
os.environ["DATABASE_URL"] = ""
SERVER = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
HANDBACK: list[str] = []  # per tool run: how the child handed the run lock back (its own log line)

ENV_PY = '''from alembic import context
from sqlalchemy import engine_from_config, pool

config = context.config


def run() -> None:
    connectable = engine_from_config(config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.",
                                     poolclass=pool.NullPool)
    with connectable.connect() as connection:
        context.configure(connection=connection, target_metadata=None)
        with context.begin_transaction():
            context.run_migrations()


run()
'''

REV = '''"""{doc}

Revision ID: {rev}
Revises: {down}
Create Date: 2025-01-01 00:00:00

"""
from alembic import op

revision = "{rev}"
down_revision = {down_repr}
branch_labels = None
depends_on = None


def upgrade() -> None:
{body}


def downgrade() -> None:
    pass
'''


def make_project(root: Path, bodies: list[str]) -> Path:
    (root / "migrations" / "versions").mkdir(parents=True)
    (root / "migrations" / "env.py").write_text(ENV_PY)
    (root / "alembic.ini").write_text("[alembic]\nscript_location = %(here)s/migrations\n"
                                      "sqlalchemy.url = postgresql+psycopg://invalid@127.0.0.1:1/none\n")
    down = None
    for i, body in enumerate(bodies):
        rev = f"b{i:03d}"
        (root / "migrations" / "versions" / f"{rev}.py").write_text(REV.format(
            doc=f"step {i}", rev=rev, down=down or "", down_repr=repr(down), body=body))
        down = rev
    return root / "alembic.ini"


def create_db() -> str:
    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url

    name = f"bench_alembic_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(SERVER, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return make_url(SERVER).set(database=name, drivername="postgresql+psycopg").render_as_string(hide_password=False)


def drop_db(url: str) -> None:
    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url

    with psycopg.connect(SERVER, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(make_url(url).database)))


def cli_seconds(ini: Path, url: str) -> float:
    text = ini.read_text().replace("postgresql+psycopg://invalid@127.0.0.1:1/none", url.replace("%", "%%"))
    copy = ini.with_name("cli.ini")
    copy.write_text(text.replace("%(here)s", str(ini.parent)))
    alembic = Path(sys.executable).parent / "alembic"
    started = time.perf_counter()
    subprocess.run([str(alembic), "-c", str(copy), "upgrade", "head"], check=True, capture_output=True)
    return time.perf_counter() - started


def tool_seconds(ini: Path, url: str, admin: object) -> float:
    from django.conf import settings

    from core import target
    from migrations_ui import runs

    settings.ALEMBIC_CONFIG = str(ini)
    settings.PROJECT_DIR = ini.parent
    target.set_target_url(url)
    # (start_run reads the graph before the run starts; a running server has it cached anyway)
    run = runs.start_run(None, "upgrade", "heads", backup=False, user=admin, wait=True)
    assert run.status == "succeeded", run.error
    assert run.started_at and run.finished_at
    # The child says how long it waited for the server to queue on the run lock at the end: a few ms when
    # the server saw its "releasing" event at once, HANDBACK_WAIT_S (5 s) when it did not (the old stall).
    line = run.lines.filter(text__contains="the run lock").filter(text__regex=r"(Handed|did not queue)").first()
    HANDBACK.append(re.sub(r"\D*(\d+) ms$", r"\1 ms", line.text) if line and line.text.endswith(" ms")
                    else "server never queued: waited 5 s" if line else "?")
    return (run.finished_at - run.started_at).total_seconds()


def bench(label: str, ini: Path, admin: object) -> float:
    cli, tool = [], []
    for i in range(ROUNDS):
        a, b = create_db(), create_db()
        try:
            # alternate who goes first: WAL, checkpoints and other load on a shared machine then hit both alike
            if i % 2 == 0:
                cli.append(cli_seconds(ini, a))
                tool.append(tool_seconds(ini, b, admin))
            else:
                tool.append(tool_seconds(ini, b, admin))
                cli.append(cli_seconds(ini, a))
        finally:
            drop_db(a)
            drop_db(b)
    ratio = statistics.median(tool) / statistics.median(cli)
    print(f"{label}: CLI {statistics.median(cli):.2f} s, tool {statistics.median(tool):.2f} s "
          f"(median of {ROUNDS}), ratio {ratio:.3f} (NFR-2 wants <= 1.05)", flush=True)
    print(f"  samples CLI {' '.join(f'{x:.2f}' for x in cli)} | tool {' '.join(f'{x:.2f}' for x in tool)}; "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs", flush=True)
    print(f"  run lock hand-back waits: {', '.join(HANDBACK[-ROUNDS:])}", flush=True)
    return ratio


def main() -> int:
    import django

    django.setup()
    from django.core.management import call_command

    from core.accounts import create_user

    call_command("migrate", verbosity=0)
    admin = create_user("bench", "admin", "bench-password-123")
    root = Path(tempfile.mkdtemp(prefix="alembic-bench-"))
    trivial = make_project(root / "trivial", [f'    op.execute("CREATE TABLE t{i} (id integer)")' for i in range(50)])
    heavy = make_project(root / "heavy", [
        '    op.execute("CREATE TABLE ledger (id bigint PRIMARY KEY, amount numeric, note text)")\n'
        '    op.execute("INSERT INTO ledger SELECT g, g % 1000, NULL FROM generate_series(1, 400000) g")',
        '    op.execute("UPDATE ledger SET amount = amount * 100, note = \'migrated\'")',
    ])
    ratios = [bench("50 trivial revisions", trivial, admin), bench("heavy data migration", heavy, admin)]
    return 0 if all(r <= 1.05 for r in ratios) else 1


if __name__ == "__main__":
    sys.exit(main())
