"""The typed, versioned protocol between the server and its children (core/child/pgadmin_protocol.py).

One module, imported by the server as ``core.child.pgadmin_protocol`` and by the child (in the project's
own interpreter, maybe Python 3.9) as ``pgadmin_protocol``. A worker that speaks another version is
refused with a clear error; results carry structured facts that the TypedDicts describe.
"""

from __future__ import annotations

import ast
import shutil
import sys
import textwrap
from pathlib import Path
from typing import Any, get_type_hints

import pytest

from core import worker
from core.child import pgadmin_protocol as protocol
from core.runner import RunnerError, run_task
from tests.conftest import FIXTURES, REPO

CHILD = REPO / "core" / "child"


# --- envelopes ------------------------------------------------------------------------------

def test_a_request_survives_the_wire_unchanged():
    request = protocol.Request(7, "models.inspect", {"alembic_ini": "/p/alembic.ini", "x_args": ["a=1"]}, "/p")
    line = request.encode()
    assert line.endswith("\n") and line.count("\n") == 1
    assert protocol.Request.decode(line) == request


@pytest.mark.parametrize("line", ['{"task": "probe"}', '{"id": "1", "task": "probe"}', '{"id": 1}',
                                  '{"id": 1, "task": "probe", "payload": []}', "[1]", "not json"])
def test_a_malformed_request_is_refused_with_what_is_wrong(line):
    with pytest.raises(protocol.ProtocolError):
        protocol.Request.decode(line)


def test_events_carry_their_request_and_anything_else_on_the_stream_is_not_an_event():
    from decimal import Decimal

    line = protocol.encode_event("result", 3, result={"price": Decimal("1.50")})
    assert protocol.decode_event(line) == {"event": "result", "id": 3, "result": {"price": "1.50"}}
    assert "id" not in (protocol.decode_event(protocol.encode_event("log", line="x")) or {})
    for stray in ("hello world", '{"no": "event"}', '"result"', "", '{"event": 5}'):
        assert protocol.decode_event(stray) is None


def test_a_hello_is_checked_before_it_is_trusted():
    hello = protocol.check_hello(protocol.decode_event(protocol.encode_event(
        "hello", protocol=protocol.PROTOCOL_VERSION, pid=12, python="3.9.18", alembic="1.13.0", sqlalchemy="1.4.52",
        stderr_mark="M")))
    assert hello == {"event": "hello", "protocol": protocol.PROTOCOL_VERSION, "pid": 12, "python": "3.9.18",
                     "alembic": "1.13.0", "sqlalchemy": "1.4.52", "stderr_mark": "M"}
    for bad in (None, {"event": "result"}, {"event": "hello", "protocol": "1"}):
        with pytest.raises(protocol.ProtocolError):
            protocol.check_hello(bad)  # type: ignore[arg-type]


# --- both sides import the same module, and it runs on the project's Python -----------------

@pytest.mark.parametrize("name", ["pgadmin_protocol.py", "pgadmin_worker.py"])
def test_the_protocol_and_the_worker_are_python_3_9_and_standard_library_only(name):
    source = (CHILD / name).read_text()
    tree = ast.parse(source, feature_version=(3, 9))  # raises on 3.10+ syntax (match, parenthesised with…)
    assert "from __future__ import annotations" in source  # annotations are never evaluated on 3.9
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            imported.add(node.module.split(".")[0])
    ours = {n for n in imported if n.startswith("pgadmin_")}
    lazily = {"sqlalchemy"}  # the worker imports the user's SQLAlchemy inside functions, when it is there
    assert imported - ours - lazily <= set(sys.stdlib_module_names), imported - ours


def test_the_server_imports_the_childs_protocol_and_the_childs_folder_shadows_nothing():
    assert Path(protocol.__file__).resolve() == CHILD / "pgadmin_protocol.py"
    assert not (CHILD / "__init__.py").exists()  # a namespace portion of core: the child never sees a package
    # The child runs with this folder as sys.path[0]: every module in it carries the pgadmin_ prefix, so it
    # cannot stand in for a standard module or one of the user's.
    names = sorted(p.stem for p in CHILD.glob("*.py"))
    assert names and all(n.startswith("pgadmin_") for n in names), names
    assert not set(names) & set(sys.stdlib_module_names)


# --- the handshake --------------------------------------------------------------------------

@pytest.fixture
def fake_worker(tmp_path, settings, monkeypatch):
    """Point the pool at a stand-in child script; returns a function that writes that script."""
    settings.PROJECT_DIR = tmp_path
    settings.WORKER_PROCESSES = 2
    worker.pool().shutdown()

    def write(body: str) -> Path:
        script = tmp_path / "fake_worker.py"
        script.write_text(textwrap.dedent(body))
        monkeypatch.setattr(worker, "WORKER_SCRIPT", script)
        return script

    yield write
    worker.pool().shutdown()


def test_a_worker_speaking_another_protocol_version_is_refused_with_both_versions_named(fake_worker):
    fake_worker("""
        import json, sys
        print(json.dumps({"event": "hello", "protocol": 999, "pid": 1, "python": "3.9.0"}), flush=True)
        sys.stdin.read()
    """)
    with pytest.raises(RunnerError) as caught:
        run_task("models.inspect", {}, timeout=20)
    assert caught.value.message == f"The project worker speaks protocol 999, the server {protocol.PROTOCOL_VERSION}."
    assert "restart the server" in caught.value.hint
    assert worker.pool().workers() == []  # not kept for the next request


def test_a_worker_that_does_not_introduce_itself_is_refused(fake_worker):
    fake_worker("""
        import sys
        print("Welcome to my project!", flush=True)
        print('{"event": "result", "result": {}}', flush=True)
        sys.stdin.read()
    """)
    with pytest.raises(RunnerError) as caught:
        run_task("models.inspect", {}, timeout=20)
    assert "did not introduce itself" in caught.value.message and "first line was not a hello" in caught.value.message


def test_a_worker_that_dies_at_start_says_so_with_its_last_words(fake_worker):
    fake_worker("""
        import sys
        sys.stderr.write("ImportError: the project's interpreter is broken\\n")
        sys.exit(3)
    """)
    with pytest.raises(RunnerError) as caught:
        run_task("models.inspect", {}, timeout=20)
    assert "exited at start (code 3)" in caught.value.message
    assert "the project's interpreter is broken" in caught.value.message


# --- typed results: structured facts, every one of them ------------------------------------

def _keys(typed: Any) -> set[str]:
    return set(get_type_hints(typed))


def test_model_results_carry_structured_types_and_defaults_as_the_typed_dicts_say(tmp_path, settings):
    root = tmp_path / "shop"
    shutil.copytree(FIXTURES / "worker_project", root)
    settings.PROJECT_DIR = root
    settings.WORKER_PROCESSES = 2
    try:
        result = run_task("models.inspect", {"alembic_ini": str(root / "alembic.ini"), "extra_paths": [str(root)]})
    finally:
        worker.pool().shutdown()
    assert _keys(protocol.InspectResult) == set(result)
    orders = next(t for t in result["tables"] if t["name"] == "orders")
    assert set(orders) <= _keys(protocol.TableInfo)
    columns = {c["name"]: c for c in orders["columns"]}
    for column in columns.values():
        assert set(column) <= _keys(protocol.ColumnInfo)
        assert set(column["type_info"]) == _keys(protocol.TypeInfo)
    status = columns["status"]
    assert status["type_info"]["enum"]["values"] == ["new", "paid", "shipped", "cancelled", "refunded", "lost",
                                                     "returned", "held", "archived"]  # all nine, not cut at eight
    assert set(status["type_info"]["enum"]) == _keys(protocol.EnumInfo)
    assert status["default"] == {"kind": "scalar", "value": "new", "text": "Status.new", "python_type": "Status"}
    assert set(status["default"]) == _keys(protocol.DefaultInfo)
    total = columns["total"]["type_info"]
    assert (total["name"], total["precision"], total["scale"]) == ("Numeric", 12, 2)
    assert columns["customer_id"]["foreign_keys"][0]["ondelete"] == "CASCADE"
    order = next(m for m in result["models"] if m["name"] == "Order")
    assert set(order) <= _keys(protocol.ModelInfo)
    [customer] = order["relationships"]
    assert set(customer) == _keys(protocol.RelationshipInfo) and customer["direction"] == "N:1"


def test_history_results_are_what_the_typed_dict_says(tmp_path, settings):
    root = tmp_path / "shop"
    shutil.copytree(FIXTURES / "worker_project", root)
    settings.PROJECT_DIR = root
    settings.WORKER_PROCESSES = 2
    payload = {"alembic_ini": str(root / "alembic.ini"), "cwd": str(root), "target_url": "postgresql://offline/x"}
    try:
        result = run_task("alembic.history", payload)
    finally:
        worker.pool().shutdown()
    assert set(result) <= _keys(protocol.HistoryResult) and result["ok"]
    assert [r["revision"] for r in result["revisions"]] == ["w2_orders", "w1_customers"]
    assert all(set(r) == _keys(protocol.HistoryRevision) for r in result["revisions"])
    assert result["version_tables"] == [{"name": "alembic_version", "schema": None}]
