"""The child code runs in the project's interpreter, which may be Python 3.9: its modules must parse
and run there (the machine has only 3.11, so this reads the source as 3.9 would)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CHILD = sorted((Path(__file__).resolve().parents[2] / "core" / "child").glob("*.py"))


def union_outside_annotations(tree: ast.AST) -> list[int]:
    """Lines where ``X | Y`` of types is evaluated at run time (isinstance/issubclass), a TypeError on 3.9."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") in ("isinstance", "issubclass"):
            if any(isinstance(a, ast.BinOp) and isinstance(a.op, ast.BitOr) for a in node.args[1:]):
                found.append(node.lineno)
    return found


@pytest.mark.parametrize("path", CHILD, ids=[p.name for p in CHILD])
def test_a_child_module_is_python_3_9_code(path: Path):
    source = path.read_text()
    tree = ast.parse(source, filename=str(path), feature_version=(3, 9))  # match/case, except* … fail here
    assert union_outside_annotations(tree) == []
    if any(isinstance(n, ast.AnnAssign | ast.FunctionDef) for n in ast.walk(tree)):
        # annotations may use 3.10 syntax only when they are never evaluated
        assert "from __future__ import annotations" in source
