"""Write a generated project of N models (shared by the tests and bench/modelmap_bench.py).

The shape of a real mid-size codebase: models spread over modules of a package, each model with a
few typed columns, a foreign key (two for every third model) to an earlier model with relationships
on both sides, a many-to-many association table every tenth model, and a second schema.
"""

from __future__ import annotations

from pathlib import Path

PER_MODULE = 10


def generate(root: Path, count: int = 200, package: str = "gen_app") -> dict[str, int]:
    """Create ``root/package/models/*.py``; return the counts it promises (models, tables, relationships)."""
    models_dir = root / package / "models"
    models_dir.mkdir(parents=True, exist_ok=True)
    (root / package / "__init__.py").write_text("")
    (models_dir / "__init__.py").write_text("")
    (models_dir / "base.py").write_text(
        "from sqlalchemy.orm import DeclarativeBase\n\n\nclass Base(DeclarativeBase):\n    pass\n")
    relationships = 0
    association_tables = 0
    for start in range(0, count, PER_MODULE):
        lines = ["from __future__ import annotations", "", "from datetime import datetime", "",
                 "from sqlalchemy import Column, ForeignKey, String, Table, func",
                 "from sqlalchemy.orm import Mapped, mapped_column, relationship", "",
                 f"from {package}.models.base import Base", "", ""]
        for i in range(start, min(start + PER_MODULE, count)):
            schema = "archive" if i % 7 == 6 else None
            table_args = f'    __table_args__ = {{"schema": "{schema}"}}\n' if schema else ""
            body = [f"class Model{i:03d}(Base):", f'    __tablename__ = "table_{i:03d}"', table_args.rstrip("\n"),
                    "    id: Mapped[int] = mapped_column(primary_key=True)",
                    "    name: Mapped[str] = mapped_column(String(50), index=True)",
                    "    note: Mapped[str | None] = mapped_column(String(200))",
                    "    created_at: Mapped[datetime] = mapped_column(server_default=func.now())"]
            body = [b for b in body if b]
            parents = [j for j in ((i - 1) if i else None, (i // 2) if i % 3 == 0 and i > 1 else None) if j is not None]
            for n, parent in enumerate(dict.fromkeys(parents)):
                parent_table = f"{'archive.' if parent % 7 == 6 else ''}table_{parent:03d}"
                ondelete = "CASCADE" if n == 0 else "SET NULL"
                body.append(f'    parent{n}_id: Mapped[int | None] = mapped_column(ForeignKey("{parent_table}.id", '
                            f'ondelete="{ondelete}"))')
                body.append(f'    parent{n}: Mapped[Model{parent:03d} | None] = relationship('
                            f'back_populates="children{n}_of_{i:03d}", foreign_keys=[parent{n}_id])')
                relationships += 2
            lines += body + ["", ""]
            # The reverse sides live on the parent class, added after both exist (same or earlier module).
            for n, parent in enumerate(dict.fromkeys(parents)):
                lines.append(f"from {package}.models.m{parent // PER_MODULE:02d} import Model{parent:03d}  # noqa: E402")
                lines.append(f"Model{parent:03d}.children{n}_of_{i:03d} = relationship(Model{i:03d}, "
                             f"back_populates='parent{n}', foreign_keys=[Model{i:03d}.parent{n}_id], "
                             f"cascade='all, delete-orphan', passive_deletes=True)")
            if i % 10 == 9:
                other = i - 5
                lines += ["", f"link_{i:03d} = Table(", f'    "link_{i:03d}", Base.metadata,',
                          f'    Column("a_id", ForeignKey("{"archive." if i % 7 == 6 else ""}table_{i:03d}.id", '
                          'ondelete="CASCADE"), primary_key=True),',
                          f'    Column("b_id", ForeignKey("{"archive." if other % 7 == 6 else ""}table_{other:03d}.id", '
                          'ondelete="CASCADE"), primary_key=True),', ")",
                          f"Model{i:03d}.linked = relationship(Model{other:03d}, secondary=link_{i:03d})"]
                relationships += 1
                association_tables += 1
            lines += ["", ""]
        (models_dir / f"m{start // PER_MODULE:02d}.py").write_text("\n".join(lines).rstrip() + "\n")
    return {"models": count, "tables": count + association_tables, "relationships": relationships}
