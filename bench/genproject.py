"""Generate a big Alembic + SQLAlchemy 2.0 project for the benchmarks (deterministic for a seed).

The shape of a mature codebase: ``--models`` declarative models (default 200) spread over ten
modules of a package (``genshop.models.accounts`` … ``genshop.models.workflow``), with foreign
keys among them (some composite), per-table enum types (some from Python ``enum.Enum``), jsonb
columns, composite primary keys, unique constraints and indexes; and ``--revisions`` Alembic
revisions (default 200) whose history branches and merges several times (one fork of two or three
branches every ~25 revisions, then a linear tail). Replaying every revision produces exactly the
tables the models declare (the smoke test checks autogenerate finds nothing at head), so the
drift seen on a database behind head is only what the pending revisions add.

``alembic.ini`` and ``migrations/env.py`` have the usual shape: ``target_metadata =
Base.metadata``, the URL from ``$DATABASE_URL`` else ``sqlalchemy.url``. ``bench_manifest.json``
in the project root tells the benchmarks the head, the pending revisions, the seeded table.

Usage::

    .venv/bin/python bench/genproject.py [--out DIR] [--revisions 200] [--models 200] [--seed 11]
        [--database postgresql://postgres@127.0.0.1:5432/pgadmin_bench_gen] [--pending 5]

Without ``--out`` the project goes to ``$PGADMIN_BENCH_CACHE/genproject`` (default
``~/.cache/pgadmin-bench/genproject``), rewritten from scratch each time. With ``--database``
the database is dropped, recreated, upgraded with the Alembic CLI to ``--pending`` revisions
before head, and a few root tables get rows.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from genproject_files import migration_file, model_module, project_files  # noqa: E402

PACKAGE = "genshop"
MANIFEST = "bench_manifest.json"
MODULES = ("accounts", "billing", "catalog", "crm", "inventory", "logistics", "marketing", "reporting",
           "support", "workflow")
STATUS_WORDS = ("NEW", "OPEN", "ACTIVE", "PAUSED", "CLOSED", "ARCHIVED", "FAILED")


def default_out() -> Path:
    return Path(os.environ.get("PGADMIN_BENCH_CACHE") or Path.home() / ".cache" / "pgadmin-bench") / "genproject"


@dataclass
class Table:
    index: int
    name: str
    cls: str
    module: str
    rev: int
    composite: bool
    enum_values: list[str] | None
    enum_python: bool
    jsonb: bool
    name_index: bool
    unique: bool
    fks: list[int] = field(default_factory=list)
    fk_index: bool = False
    later: list[tuple[int, str, str]] = field(default_factory=list)  # (revision, "column"|"index", name)


@dataclass
class Revision:
    index: int
    id: str
    parents: list[int]
    creates: list[int] = field(default_factory=list)
    alters: list[tuple[int, str, str]] = field(default_factory=list)  # (table, kind, name)

    @property
    def is_merge(self) -> bool:
        return len(self.parents) > 1


@dataclass
class Project:
    revisions: list[Revision]
    tables: list[Table]
    ancestors: list[set[int]]

    def by_module(self) -> dict[str, list[Table]]:
        out: dict[str, list[Table]] = {}
        for t in self.tables:
            out.setdefault(t.module, []).append(t)
        return out


def build_dag(count: int, rng: random.Random) -> list[list[int]]:
    """Parents of each revision, in creation (= topological) order: forks of 2-3 branches, each
    merged back before the next; a linear tail of up to 6 revisions so the pending ones are linear."""
    if count < 8:
        raise SystemExit("--revisions must be at least 8 (a fork, a merge and a tail)")
    tail = max(2, min(6, count // 5))
    forks = max(1, count // 25)
    body = count - tail
    parents: list[list[int]] = []
    head: int | None = None

    def add(ps: list[int]) -> int:
        parents.append(ps)
        return len(parents) - 1

    for f in range(forks):
        budget = body // forks + (1 if f < body % forks else 0)
        lens = [rng.randint(1, 3) for _ in range(3 if rng.random() < 0.3 else 2)]
        while sum(lens) + 1 > budget - 1 and max(lens) > 1:
            lens[lens.index(max(lens))] -= 1
        if sum(lens) + 1 > budget - 1:
            lens = lens[:2]
        for _ in range(budget - sum(lens) - 1):
            head = add([head] if head is not None else [])
        assert head is not None
        branch_heads = []
        for length in lens:
            tip = head
            for _ in range(length):
                tip = add([tip])
            branch_heads.append(tip)
        head = add(branch_heads)
    for _ in range(tail):
        head = add([head] if head is not None else [])
    assert len(parents) == count
    return parents


def plan(revisions: int, models: int, seed: int) -> Project:
    """Decide everything (ids, tables, columns, keys, which revision does what) from the seed."""
    rng = random.Random(seed)
    parents = build_dag(revisions, rng)
    revs = [Revision(i, f"{rng.getrandbits(48):012x}", ps) for i, ps in enumerate(parents)]
    ancestors: list[set[int]] = []
    for ps in parents:
        acc: set[int] = set()
        for p in ps:
            acc |= ancestors[p] | {p}
        ancestors.append(acc)
    plain = [r for r in revs if not r.is_merge]
    tables: list[Table] = []
    for i in range(models):
        module = MODULES[i * len(MODULES) // models]
        rev = plain[i * len(plain) // models]
        enum_values = None
        if i % 4 == 1:
            start = rng.randrange(len(STATUS_WORDS) - 3)
            enum_values = list(STATUS_WORDS[start:start + rng.randint(3, 4)])
        table = Table(i, f"{module}_{i:03d}", f"{module.capitalize()}{i:03d}", module, rev.index,
                      composite=i % 11 == 5, enum_values=enum_values, enum_python=i % 8 == 1,
                      jsonb=i % 3 == 2, name_index=i % 3 == 0, unique=i % 10 == 3, fk_index=i % 2 == 0)
        # Foreign keys only to tables that exist when this revision runs: created by an ancestor
        # (or earlier in the same revision). Mostly recent neighbours, sometimes an old table.
        candidates = [t.index for t in tables if t.rev in ancestors[rev.index] or t.rev == rev.index]
        if candidates and i % 9 != 0:
            wanted = 2 if i % 3 == 0 else 1
            pool = candidates[-25:] if rng.random() < 0.8 else candidates
            table.fks = sorted(rng.sample(pool, min(wanted, len(pool))))
        tables.append(table)
        rev.creates.append(i)
    # Every fifth plain revision (and any that created nothing) also changes an older table.
    for n, rev in enumerate(plain):
        if rev.creates and n % 5 != 4:
            continue
        older = [t for t in tables if t.rev in ancestors[rev.index]]
        if not older:
            continue
        table = rng.choice(older)
        has_index = any(kind == "index" for _, kind, _ in table.later)
        if n % 2 == 0 and not has_index:
            change = (rev.index, "index", f"ix_{table.name}_created_at")
        else:
            change = (rev.index, "column", f"extra_{rev.index:03d}")
        table.later.append(change)
        rev.alters.append((table.index, change[1], change[2]))
    return Project(revs, tables, ancestors)


def write(project: Project, out: Path, seed: int) -> dict[str, Any]:
    """Write the project files into ``out`` (wiped first); return the manifest."""
    if out.exists():
        if any(out.iterdir()) and not (out / MANIFEST).exists():
            raise SystemExit(f"{out} is not empty and was not made by genproject.py: refusing to wipe it")
        shutil.rmtree(out)
    versions = out / "migrations" / "versions"
    versions.mkdir(parents=True)
    models_dir = out / PACKAGE / "models"
    models_dir.mkdir(parents=True)
    for rel, text in project_files(PACKAGE, MODULES).items():
        (out / rel).write_text(text)
    by_module = project.by_module()
    for module in MODULES:
        (models_dir / f"{module}.py").write_text(model_module(PACKAGE, module, by_module.get(module, []), project.tables))
    for rev in project.revisions:
        (versions / f"{rev.id}_r{rev.index:03d}.py").write_text(migration_file(project, rev))
    heads = [r.id for r in project.revisions if not any(r.index in o.parents for o in project.revisions)]
    root_tables = [t for t in project.tables if not t.fks and not t.composite]
    manifest: dict[str, Any] = {
        "seed": seed, "package": PACKAGE, "revisions": len(project.revisions), "models": len(project.tables),
        "merges": sum(r.is_merge for r in project.revisions),
        "branch_points": sum(sum(r.index in o.parents for o in project.revisions) > 1 for r in project.revisions),
        "heads": heads, "order": [r.id for r in project.revisions],
        "model_modules": [f"{PACKAGE}.models.{m}" for m in MODULES if m in by_module],
        "model_files": [f"{PACKAGE}/models/{m}.py" for m in MODULES if m in by_module],
        "grid_table": f"public.{root_tables[0].name}", "row_pk": "1",
        "seeded_tables": [t.name for t in root_tables],
        "enum_tables": sum(t.enum_values is not None for t in project.tables),
        "jsonb_tables": sum(t.jsonb for t in project.tables),
        "composite_tables": sum(t.composite for t in project.tables),
        "foreign_keys": sum(len(t.fks) for t in project.tables),
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def generate(out: Path, revisions: int = 200, models: int = 200, seed: int = 11) -> dict[str, Any]:
    """Plan and write a project; return its manifest."""
    project = plan(revisions, models, seed)
    return write(project, out, seed)


def recreate_database(url: str) -> None:
    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    name = parsed.database or ""
    server = parsed.set(database="postgres", drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def apply(out: Path, url: str, pending: int, rows: int = 5000) -> dict[str, Any]:
    """Recreate the database, upgrade it with the Alembic CLI to ``pending`` revisions before head,
    give the root tables created by then some rows; record current/pending in the manifest."""
    manifest = json.loads((out / MANIFEST).read_text())
    order: list[str] = manifest["order"]
    pending = max(0, min(pending, 6, len(order) - 2))  # the tail is linear for its last 6 revisions at most
    current = order[len(order) - 1 - pending]
    recreate_database(url)
    alembic = Path(sys.executable).parent / "alembic"
    env = {**os.environ, "DATABASE_URL": url}
    subprocess.run([str(alembic), "-c", str(out / "alembic.ini"), "upgrade", current], cwd=out, env=env, check=True,
                   capture_output=True)
    import psycopg
    from psycopg import sql

    applied = set(order[:len(order) - pending])
    libpq = url.replace("postgresql+psycopg://", "postgresql://")
    project = plan(manifest["revisions"], manifest["models"], manifest["seed"])
    seeded: list[str] = []
    with psycopg.connect(libpq, autocommit=True) as conn:
        for t in project.tables:
            if t.name not in manifest["seeded_tables"] or project.revisions[t.rev].id not in applied:
                continue
            cols, values = ["name", "amount"], ["'row ' || g", "(g %% 1000) / 7.0"]
            if t.enum_values:
                cols.append("status")
                values.append(f"(ARRAY{t.enum_values!r})[1 + g %% {len(t.enum_values)}]::{t.name}_status")
            if t.jsonb:
                cols.append("payload")
                values.append("jsonb_build_object('n', g, 'tags', jsonb_build_array('a', 'b'))")
            n = rows if not seeded else 100
            conn.execute(sql.SQL("INSERT INTO {} ({}) SELECT {} FROM generate_series(1, %s) g").format(
                sql.Identifier(t.name), sql.SQL(", ").join(map(sql.Identifier, cols)), sql.SQL(", ".join(values))), (n,))
            seeded.append(t.name)
        conn.execute("ANALYZE")
    manifest.update(current=current, pending=order[len(order) - pending:], database=url, seeded_tables=seeded,
                    grid_table=f"public.{seeded[0]}")
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--revisions", type=int, default=200)
    parser.add_argument("--models", type=int, default=200)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--database", help="postgresql URL of a database to drop, recreate and upgrade")
    parser.add_argument("--pending", type=int, default=5, help="revisions left pending (at most 6)")
    args = parser.parse_args()
    out = (args.out or default_out()).resolve()
    manifest = generate(out, args.revisions, args.models, args.seed)
    if args.database:
        manifest = apply(out, args.database, args.pending)
    shown = {k: v for k, v in manifest.items() if k not in ("order", "seeded_tables", "model_files", "model_modules")}
    print(json.dumps({"out": str(out), **shown}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
