"""The reference answers, computed by Alembic and SQLAlchemy inside a compat project's own venv.

Executed as a script by that venv's python (never imported by the tests' process, which has
other versions of everything): ``python in_venv.py TASK JSON`` prints one JSON document.

- ``graph``: Alembic's ScriptDirectory for the ini (revisions, parents, heads, merges);
- ``command``: what ``alembic -c INI [-n SECTION] upgrade|downgrade TARGET`` does, with the target
  URL written into the URL option first (the ini in the wheel names some other database) — the
  same ``alembic.command`` functions the CLI calls;
- ``prepare``: a project's own first step before Alembic (a snippet run with ``url``);
- ``models``: ``sqlalchemy.inspect()`` of every mapper of the given Base, after importing it;
- ``drift``: Alembic's ``compare_metadata`` of that Base's metadata against the database at ``url``.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
import traceback


def config(spec: dict) -> object:
    from alembic.config import Config

    cfg = Config(spec["ini"], ini_section=spec.get("section") or "alembic")
    if spec.get("url"):
        cfg.set_main_option(spec.get("url_option") or "sqlalchemy.url", spec["url"].replace("%", "%%"))
    return cfg


def graph(spec: dict) -> dict:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(config(spec))
    revisions = {sc.revision: {"down": sorted(sc._versioned_down_revisions), "is_head": sc.is_head,
                               "is_merge": sc.is_merge_point, "branch_labels": sorted(sc.branch_labels)}
                 for sc in script.walk_revisions()}
    return {"heads": sorted(script.get_heads()), "revisions": revisions}


def command(spec: dict) -> dict:
    from alembic import command as alembic_command

    started = time.monotonic()
    try:
        getattr(alembic_command, spec["command"])(config(spec), spec["target"])
    except Exception as exc:  # noqa: BLE001 - reported as data, like the CLI's own exit
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc(),
                "seconds": time.monotonic() - started}
    return {"ok": True, "seconds": time.monotonic() - started}


def prepare(spec: dict) -> dict:
    """What the project's own command does before Alembic runs (e.g. mlflow creates its initial tables)."""
    exec(spec["code"], {"url": spec["url"]})  # noqa: S102 - our own snippet from tests/compat/conftest.py
    return {"ok": True}


def models(spec: dict) -> dict:
    from sqlalchemy import Column, inspect
    from sqlalchemy.orm import configure_mappers

    module, _, attr = spec["base"].partition(":")
    owner = getattr(importlib.import_module(module), attr)
    configure_mappers()
    out = {}
    for mapper in owner.registry.mappers:
        m = inspect(mapper.class_)
        # a column_property of an SQL expression (a Label, a scalar subquery) is not a table column:
        # the tool lists it with the model's other computed properties
        mapped = [p for p in m.column_attrs if isinstance(p.columns[0], Column)]
        out[mapper.class_.__name__] = {
            "table": m.local_table.fullname,
            "columns": sorted(prop.key for prop in mapped),
            "expressions": sorted(prop.key for prop in m.column_attrs if prop not in mapped),
            "primary_key": sorted(c.name for c in m.primary_key),
            "relationships": sorted((rel.key, rel.mapper.class_.__name__) for rel in m.relationships),
        }
    return out


def drift(spec: dict) -> dict:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import create_engine

    module, _, attr = spec["base"].partition(":")
    owner = getattr(importlib.import_module(module), attr)
    engine = create_engine(spec["url"])
    try:
        with engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn), owner.metadata)
    finally:
        engine.dispose()
    out = []
    for d in diffs:
        d = d[0] if isinstance(d, list) else d
        column = d[3].name if d[0] in ("add_column", "remove_column") else None
        table = d[2] if d[0] in ("add_column", "remove_column") else getattr(d[1], "name", None)
        out.append([d[0], table, column])
    return {"differences": sorted(out, key=str)}


if __name__ == "__main__":
    task, raw = sys.argv[1], sys.argv[2]
    print(json.dumps({"graph": graph, "command": command, "models": models, "prepare": prepare,
                      "drift": drift}[task](json.loads(raw))))
