"""Structure rules of the code base, checked by reading the sources (``ast``), not by importing them.

1. No import cycles between the modules of the project's packages. Imports inside functions count
   as much as those at module level: a lazy import hides a cycle from Python, not from a reader.
   ``if TYPE_CHECKING:`` blocks do not count (they never run). Cycles that existed when this rule
   came in are listed in ``KNOWN_CYCLES`` with a reason each; the list may only shrink (an entry
   that no longer matches a cycle fails too, so it is removed when fixed).
2. ``migrations_ui`` imports no other feature app: the data browser and the SQL console react to
   its Django signals (``core.signals``), the model map offers its files through ``core.deps``.
3. No Python module over ``MAX_LINES`` lines (``TOO_LONG`` lists accepted exceptions with reasons).

Plain Python, no import-linter; it needs no database, so it runs in ``make test`` and alone in ``make lint``.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("core", "databrowser", "sqlconsole", "modelmap", "migrations_ui", "pgadmin_site")
FEATURE_APPS = ("databrowser", "sqlconsole", "modelmap", "migrations_ui")
MAX_LINES = 600
# Not the server's code: run by the user's interpreter in a child process, never imported by the server.
SKIP = ("core/child/",)

# Each entry: the modules of one strongly connected component of the import graph, and why it is accepted.
KNOWN_CYCLES: dict[frozenset[str], str] = {
    frozenset({"core.audit", "core.catalog", "core.catalog.fingerprint", "core.exceptions", "core.reader_role",
               "core.roles", "core.target"}):
        "core's foundation knots through lazy imports: exceptions translates driver errors with target's "
        "translate_error, target reads the reader role's credentials and audits the target switch, roles audit "
        "refusals and audit asks roles. Issue 14 item 2/3 (core/catalog.py, a Target value) untangles it.",
    frozenset({"core.serializers", "core.tokens"}):
        "tokens.py serializes a new token with core.serializers (lazy), which imports tokens for its fields; "
        "the serializer belongs in tokens' callers (issue 14 item 4, DRF serializers).",
    frozenset({"core.runner", "core.worker"}):
        "the runner hands a task to a warm worker (lazy import of core.worker), the worker reuses the runner's "
        "environment helpers; the helpers could move to a module of their own.",
    frozenset({"databrowser.query", "databrowser.search"}):
        "search builds on query's pages, and query's page delegates a search term to search (lazy import).",
}

# path -> reason; a module listed here may exceed MAX_LINES.
TOO_LONG: dict[str, str] = {}


def modules() -> dict[str, Path]:
    """Dotted name -> file, for every module of the project packages (migrations and child scripts left out)."""
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if any(rel.startswith(s) for s in SKIP) or "/migrations/" in rel:
                continue
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, name: str, is_package: bool) -> set[str]:
    """Every module name an import statement anywhere in ``tree`` may load (TYPE_CHECKING blocks left out)."""
    found: set[str] = set()
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolved against this module's package
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            found.add(source)
            found.update(f"{source}.{alias.name}" for alias in node.names)  # `from pkg import submodule`
        stack.extend(ast.iter_child_nodes(node))
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports (an import of ``a.b.c`` also loads ``a`` and ``a.b``: not
    counted, the packages' ``__init__`` files are empty or import nothing of the project)."""
    mods = modules()
    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        targets = _imports(tree, name, path.name == "__init__.py")
        graph[name] = {t for t in targets if t in mods and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[frozenset[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(frozenset(component))
    return found


def test_the_cycle_finder_finds_a_cycle_through_a_lazy_import() -> None:
    tree = ast.parse("import b\ndef f():\n    from c import x\n")
    assert _imports(tree, "a", False) == {"b", "c", "c.x"}
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [frozenset({"a", "b", "c"})]
    typed = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import b\n")
    assert "b" not in _imports(typed, "a", False)


def test_no_import_cycles_between_project_modules() -> None:
    found = set(cycles(import_graph()))
    new = [sorted(c) for c in found if c not in KNOWN_CYCLES]
    gone = [sorted(c) for c in KNOWN_CYCLES if c not in found]
    assert not new, f"import cycles (imports inside functions count too): {new}"
    assert not gone, f"these allowed cycles are gone (or changed): update KNOWN_CYCLES: {gone}"


def test_migrations_ui_imports_no_other_feature_app() -> None:
    graph = import_graph()
    others = {
        (module, imported) for module, imports in graph.items() if module.startswith("migrations_ui")
        for imported in imports if imported.split(".")[0] in FEATURE_APPS and not imported.startswith("migrations_ui")}
    assert not others, sorted(others)


def test_the_run_machinery_is_in_no_cycle() -> None:
    """The cycle issue 14 named (databrowser -> modelmap -> migrations_ui -> databrowser) and runs <-> backups."""
    found = cycles(import_graph())
    assert not [c for c in found if any(m.startswith("migrations_ui") for m in c)], found


def test_no_module_over_600_lines() -> None:
    long = {}
    for path in sorted(ROOT.glob("**/*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith((".venv/", "node_modules/", "tests/fixtures/", "examples/")) or "/." in "/" + rel:
            continue
        count = len(path.read_text(errors="replace").splitlines())
        if count > MAX_LINES and rel not in TOO_LONG:
            long[rel] = count
    stale = [rel for rel in TOO_LONG if not (ROOT / rel).exists()
             or len((ROOT / rel).read_text().splitlines()) <= MAX_LINES]
    assert not long, f"modules over {MAX_LINES} lines: {long}"
    assert not stale, f"no longer too long (remove from TOO_LONG): {stale}"
