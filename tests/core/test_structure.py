"""Structure rules of the code base, checked by reading the sources (``ast``), not by importing them.

1. No import cycles between the modules of the project's packages. Imports inside functions count
   as much as those at module level: a lazy import hides a cycle from Python, not from a reader.
   ``if TYPE_CHECKING:`` blocks do not count (they never run). ``KNOWN_CYCLES`` listed the cycles that
   existed when this rule came in, with a reason each; it is empty now and may only stay so (an entry
   that no longer matches a cycle fails too).
2. An app imports nothing of another app but its public modules (``PUBLIC``): a feature app's ``services``
   (and ``signals``), ``pgadmin_site``'s leaf helpers (``entry``, ``env``, ``proxies``). ``core`` is the
   foundation: every app may import any core module, and core itself imports feature apps only through
   their public modules. ``pgadmin_site`` (URL map, ASGI) also loads each app's entry points
   (``ENTRY_POINTS``: ``urls``, ``api_urls``, ``routing``). Imports inside functions count, as do the
   ``include("app.urls")`` strings of a URL map; ``TYPE_CHECKING`` blocks do not.
3. ``migrations_ui`` imports no other feature app at all: the data browser and the SQL console react to
   its Django signals (``core.signals``), the model map offers its files through ``core.deps``.
4. No Python module over ``MAX_LINES`` lines (``TOO_LONG`` lists accepted exceptions with reasons).

Plain Python, no import-linter; it needs no database, so it runs in ``make test`` and alone in ``make lint``.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("core", "databrowser", "sqlconsole", "modelmap", "migrations_ui", "pgadmin_site")
FEATURE_APPS = ("databrowser", "sqlconsole", "modelmap", "migrations_ui")
MAX_LINES = 600
# Rule 2: what another app may import of each app (``core``: everything, it is the foundation). A name
# is a module's last part; the bare package (an empty ``__init__``) may always be imported.
PUBLIC: dict[str, tuple[str, ...]] = {
    **{app: ("services", "signals") for app in FEATURE_APPS},
    # the site's helpers that import no app: the trusted-proxy rule (core.audit reads a client IP with it)
    # and the entry points' settings hand-over (core.runner gives the project its environment back)
    "pgadmin_site": ("entry", "env", "proxies"),
}
# Rule 2: what pgadmin_site's URL map and ASGI application load of every app, besides its public modules.
ENTRY_POINTS = ("urls", "api_urls", "routing")
# Not the server's code: run by the user's interpreter in a child process, never imported by the server.
SKIP = ("core/child/",)

# Each entry: the modules of one strongly connected component of the import graph, and why it is accepted.
# Empty: the last one (core's foundation: audit, exceptions, reader_role, roles, target) went when the DRF
# handler, the request context, the role facts and the reader's stored credentials got modules of their own.
KNOWN_CYCLES: dict[frozenset[str], str] = {}

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
    """Every module name an import statement anywhere in ``tree`` may load (TYPE_CHECKING blocks left out),
    and the modules named by ``include("…")`` (Django imports them for the URL map)."""
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
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "include"
              and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            found.add(node.args[0].value)
        stack.extend(ast.iter_child_nodes(node))
    return found


def graph_of(sources: dict[str, tuple[str, bool]]) -> dict[str, set[str]]:
    """Module -> the modules of ``sources`` (name -> (source text, is a package)) it imports."""
    graph: dict[str, set[str]] = {}
    for name, (text, is_package) in sources.items():
        targets = _imports(ast.parse(text, filename=name), name, is_package)
        graph[name] = {t for t in targets if t in sources and t != name}
    return graph


def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports (an import of ``a.b.c`` also loads ``a`` and ``a.b``: not
    counted, the packages' ``__init__`` files are empty or import nothing of the project)."""
    return graph_of({name: (path.read_text(), path.name == "__init__.py") for name, path in modules().items()})


def _allowed(app: str, imported: str) -> bool:
    """May a module of ``app`` import ``imported`` (a module of another app)? Rule 2."""
    owner, _, rest = imported.partition(".")
    if owner == "core" or not rest:  # the foundation, or a bare package (empty __init__)
        return True
    if rest in PUBLIC.get(owner, ()):
        return True
    return app == "pgadmin_site" and rest in ENTRY_POINTS


def layering_violations(graph: dict[str, set[str]]) -> list[str]:
    """One sentence per import of another app's internal module: the importer, the import, the rule."""
    found = []
    for module in sorted(graph):
        app = module.split(".")[0]
        for imported in sorted(graph[module]):
            owner = imported.split(".")[0]
            if owner != app and not _allowed(app, imported):
                public = ", ".join(f"{owner}.{name}" for name in PUBLIC.get(owner, ()))
                extra = f" (and the entry points {', '.join(ENTRY_POINTS)})" if app == "pgadmin_site" else ""
                fix = f"add a function to {owner}.services or move" if owner in FEATURE_APPS else "move"
                found.append(f"{module} imports {imported}: an app imports only another app's public modules "
                             f"({public}{extra}); {fix} the helper into core (docs/architecture.md, Structure rules)")
    return found


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


def test_the_layering_check_catches_an_import_of_another_apps_internals() -> None:
    sources = {
        "databrowser": ("", True),
        "databrowser.refs": ("", False),
        "databrowser.urls": ("", False),
        "databrowser.services": ("from databrowser.refs import TableRef\n", False),
        "sqlconsole.catalog": ("def url():\n    from databrowser.refs import TableRef\n", False),  # lazy: counts
        "sqlconsole.services": ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                                "    from databrowser.refs import TableRef\nfrom databrowser import services\n", False),
        "core.views": ("from databrowser import refs\nimport databrowser.services\n", False),
        "pgadmin_site.urls": ('from django.urls import include\nurls = [include("databrowser.urls")]\n'
                              'from core import views\n', False),
        "pgadmin_site.asgi": ("from databrowser.refs import TableRef\n", False),
        "modelmap.services": ("from pgadmin_site import urls\nimport databrowser.urls\n", False),
    }
    found = layering_violations(graph_of(sources))
    assert [line.split(":")[0] for line in found] == [
        "core.views imports databrowser.refs",
        "modelmap.services imports databrowser.urls",  # an entry point for the site only
        "modelmap.services imports pgadmin_site.urls",
        "pgadmin_site.asgi imports databrowser.refs",
        "sqlconsole.catalog imports databrowser.refs",
    ], found
    assert "an app imports only another app's public modules (databrowser.services, databrowser.signals)" in found[0]


def test_apps_import_only_each_others_public_modules() -> None:
    found = layering_violations(import_graph())
    assert not found, "\n".join(found)


def test_the_public_modules_named_exist() -> None:
    mods = modules()
    assert all(f"{app}.{name}" in mods for app, names in PUBLIC.items() for name in names
               if name != "signals"), PUBLIC  # signals: none of the feature apps has its own yet (core.signals)


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
