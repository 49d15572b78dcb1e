"""Every setting the tool reads is documented where users look for it.

A maintainer adds ``env_int("PGADMIN_SOMETHING", …)`` and forgets the README: users then meet a
behaviour they cannot find or change. This test reads the tool's own source for ``PGADMIN_*``
names and checks each appears in the README or a page under docs/.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APPS = ["core", "pgadmin_site", "migrations_ui", "databrowser", "modelmap", "sqlconsole"]
# Names built from a prefix (``"PGADMIN_ALEMBIC_" + key``) or only in messages about the prefix itself.
_NAME = re.compile(r"\bPGADMIN_[A-Z][A-Z0-9_]*[A-Z0-9]\b")


def _names_in_source() -> set[str]:
    names: set[str] = set()
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" in path.parts and path.parent.name == "migrations":
                continue
            names.update(_NAME.findall(path.read_text(encoding="utf-8")))
    return names


def _documented() -> str:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    return "\n".join(p.read_text(encoding="utf-8") for p in pages)


def test_every_setting_the_tool_reads_is_documented():
    docs = _documented()
    names = _names_in_source()
    assert "PGADMIN_DATABASE_URL" in names  # the scan itself works
    missing = sorted(n for n in names if n not in docs)
    assert not missing, f"settings read by the tool but documented nowhere (README.md or docs/*.md): {missing}"
