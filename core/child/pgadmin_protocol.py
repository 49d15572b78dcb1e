"""The protocol between the server and its child processes: one module both sides import.

The child side runs in the project's own interpreter (``import pgadmin_protocol``, this folder is its
``sys.path[0]``); the server imports it as ``core.child.pgadmin_protocol`` (``core/child`` has no
``__init__.py`` on purpose: it is a namespace portion of ``core``, and the child never sees a package).
Hence: standard library only, Python 3.9 syntax (``from __future__ import annotations``, ``typing``
TypedDicts, no ``match``, no ``X | Y`` outside annotations).

Wire format: JSON lines. The server writes one :class:`Request` per line on the child's stdin (the
one-shot runner reads a bare payload instead); the child writes events on its protocol stream, each a
JSON object with ``event`` (its kind) and, in the warm worker, ``id`` (the request it belongs to).
A warm worker's first line is ``hello`` (:class:`Hello`): the server refuses a worker whose
``protocol`` differs from :data:`PROTOCOL_VERSION`. A request ends with one ``result`` or ``error``
event. Other kinds (``log``, ``info``, ``sql``, ``revision_start``…) are progress for ``on_event``.

The results' shapes are the TypedDicts below (typed where the child builds them, read by the server):
structured facts, never ``repr()`` text the server would parse.
"""

# ruff: noqa: UP006, UP007, UP035, UP045  (Python 3.9 syntax on purpose: the child runs in the project's interpreter)
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, TypedDict, Union

PROTOCOL_VERSION = 1

# Tasks that change the database: each runs in a fresh one-shot child (never in a warm worker), so
# that a run never uses a stale import and its run lock lives and dies with its own process.
RUN_TASKS = frozenset({"alembic.upgrade", "alembic.downgrade", "alembic.stamp", "alembic.dryrun"})

# Event kinds: the two that end a request, the worker's first line, the server's own for stderr.
RESULT, ERROR, HELLO = "result", "error", "hello"
STDERR, STDERR_END = "stderr", "stderr_end"


class ProtocolError(ValueError):
    """A line that is not a well-formed message of this protocol."""


# --- envelopes ------------------------------------------------------------------------------

@dataclass
class Request:
    """One task for a warm worker: ``payload`` as the one-shot runner reads it on stdin."""

    id: int
    task: str
    payload: Dict[str, Any] = field(default_factory=dict)
    cwd: Optional[str] = None  # where the CLI would run (the one-shot child's working directory)

    def encode(self) -> str:
        return json.dumps({"id": self.id, "task": self.task, "payload": self.payload, "cwd": self.cwd}) + "\n"

    @classmethod
    def decode(cls, line: str) -> Request:
        data = _object(line)
        if not isinstance(data.get("id"), int) or not isinstance(data.get("task"), str):
            raise ProtocolError("a request needs an integer id and a task name")
        payload = data.get("payload")
        payload = {} if payload is None else payload
        if not isinstance(payload, dict):
            raise ProtocolError("a request's payload must be an object")
        cwd = data.get("cwd")
        return cls(id=data["id"], task=data["task"], payload=payload, cwd=cwd if isinstance(cwd, str) else None)


class Event(TypedDict, total=False):
    """Any event on the protocol stream; ``event`` is always there (see :func:`decode_event`)."""

    event: str
    id: Optional[int]
    line: str
    result: Any
    error: str
    hint: str
    traceback: str
    module: str
    where: str


class Hello(TypedDict):
    """The first line of a warm worker: who speaks, and with which versions of what.

    ``stderr_mark``: the worker writes it, followed by the request id, on stderr at the end of each
    request, so that the server knows it has read all of that request's stderr (the two pipes are read
    independently) and hands no line to the wrong request.
    """

    event: str
    protocol: int
    pid: int
    python: str
    alembic: Optional[str]
    sqlalchemy: Optional[str]
    stderr_mark: str


def encode_event(event: str, request_id: Optional[int] = None, **data: Any) -> str:
    """One event as a JSON line (``default=str``: a stray Decimal or Path never breaks the stream)."""
    message: Dict[str, Any] = {"event": event, **data}
    if request_id is not None:
        message["id"] = request_id
    return json.dumps(message, default=str) + "\n"


def decode_event(line: str) -> Optional[Event]:
    """An event, or None for a line that is not one (the server skips it; user output never lands here)."""
    try:
        data = _object(line)
    except ProtocolError:
        return None
    if not isinstance(data.get("event"), str):
        return None
    return data  # type: ignore[return-value]  # checked: an object with a string "event"


def check_hello(event: Optional[Event]) -> Hello:
    """The hello line, validated; ProtocolError names what the server got instead."""
    if event is None or event.get("event") != HELLO:
        raise ProtocolError(f"the worker's first line was not a hello: {event!r:.200}")
    raw: Dict[str, Any] = dict(event)
    if not isinstance(raw.get("protocol"), int):
        raise ProtocolError("the worker's hello carries no protocol version")
    return {"event": HELLO, "protocol": raw["protocol"], "pid": int(raw.get("pid") or 0),
            "python": str(raw.get("python") or "?"), "alembic": raw.get("alembic"), "sqlalchemy": raw.get("sqlalchemy"),
            "stderr_mark": str(raw.get("stderr_mark") or "")}


def _object(line: str) -> Dict[str, Any]:
    try:
        data = json.loads(line)
    except (TypeError, ValueError) as exc:
        raise ProtocolError(f"not JSON: {line[:120]!r}") from exc
    if not isinstance(data, dict):
        raise ProtocolError(f"not a JSON object: {line[:120]!r}")
    return data


# --- shared result pieces -------------------------------------------------------------------

class ErrorInfo(TypedDict):
    """An import or configuration failure in plain words (``describe_import_error``)."""

    module: str
    error: str
    hint: str
    where: str


class Failure(TypedDict, total=False):
    """A task that failed as data (``ok`` false), not as an ``error`` event."""

    ok: bool
    error: str
    hint: str
    where: str
    traceback: str
    code: str


class VersionTable(TypedDict):
    name: str
    schema: Optional[str]


# --- alembic.history ------------------------------------------------------------------------

class HistoryRevision(TypedDict):
    revision: str
    down_revisions: List[str]
    depends_on: List[str]
    branch_labels: List[str]
    doc: str
    longdoc: str
    create_date: Optional[str]
    module_path: str
    is_head: bool
    is_base: bool
    is_branch_point: bool
    is_merge: bool


class HistoryResult(TypedDict, total=False):
    ok: bool
    script_location: str
    env_py: str
    heads: List[str]
    bases: List[str]
    revisions: List[HistoryRevision]
    version_table: VersionTable
    version_tables: List[VersionTable]
    stray_revision_files: List[str]
    error: str
    hint: str
    where: str
    traceback: str


# --- alembic.sql ----------------------------------------------------------------------------

class SqlResult(TypedDict, total=False):
    ok: bool
    range: str
    sql: str
    steps: List[str]
    ran_revision: bool
    own_sql: str
    offline_unavailable: bool
    error: str
    hint: str
    where: str
    traceback: str


# --- models.inspect: types and defaults as structured facts -----------------------------------

class EnumInfo(TypedDict):
    values: List[str]  # every value the database stores, never cut
    name: Optional[str]
    native: bool
    python_enum: Optional[str]


class TypeInfo(TypedDict):
    name: str
    decorator: Optional[str]
    sql: str
    python: Optional[str]
    length: Optional[int]
    precision: Optional[int]
    scale: Optional[int]
    timezone: Optional[bool]
    enum: Optional[EnumInfo]
    item: Optional[TypeInfo]


class DefaultInfo(TypedDict):
    """A Python-side default: ``kind`` is scalar | sql | callable | sequence; ``value`` what is stored."""

    kind: str
    value: Any
    text: str
    python_type: Optional[str]


class ForeignKeyInfo(TypedDict):
    target: str
    table: str
    column: str
    ondelete: Optional[str]
    onupdate: Optional[str]
    constraint: Optional[str]


class ColumnInfo(TypedDict, total=False):
    name: str
    type: str  # for display only; the facts are in type_info
    sql_type: str
    python_type: Optional[str]
    type_info: TypeInfo
    primary_key: bool
    nullable: bool
    unique: bool
    index: bool
    server_default: Optional[str]
    default: Optional[DefaultInfo]
    autoincrement: Union[bool, str]
    comment: Optional[str]
    foreign_keys: List[ForeignKeyInfo]
    # on a model's columns only:
    attr: str
    table: Optional[str]
    deferred: bool
    inherited: bool
    kind: str
    error: str


class ConstraintInfo(TypedDict, total=False):
    kind: str
    name: Optional[str]
    columns: List[str]
    sqltext: str
    references: List[str]
    ondelete: Optional[str]
    onupdate: Optional[str]


class IndexInfo(TypedDict):
    name: Optional[str]
    columns: List[str]
    unique: bool


class TableInfo(TypedDict, total=False):
    id: str
    schema: Optional[str]
    name: str
    comment: Optional[str]
    columns: List[ColumnInfo]
    primary_key: List[str]
    constraints: List[ConstraintInfo]
    indexes: List[IndexInfo]
    models: List[str]
    mapped: bool
    association: bool


class RelationshipInfo(TypedDict):
    name: str
    kind: str
    target: str
    target_table: Optional[str]
    direction: Optional[str]  # 1:N | N:1 | 1:1 | N:M (None when SQLAlchemy could not configure it)
    sqla_direction: Optional[str]
    uselist: Optional[bool]
    secondary: Optional[str]
    back_populates: Optional[str]
    backref: Optional[str]
    reverse: List[str]
    cascade: List[str]
    cascade_label: str
    lazy: str
    passive_deletes: Union[bool, str]
    viewonly: bool
    order_by: List[str]
    foreign_keys: List[str]
    local_remote_pairs: List[List[str]]
    primaryjoin: Optional[str]
    ondelete: List[str]
    error: Optional[str]


class PropertyError(TypedDict):
    property: str
    kind: str
    error: str
    where: str
    hint: str
    caused_by: Optional[str]


class InheritanceInfo(TypedDict):
    parent: Optional[str]
    kind: Optional[str]  # joined | single | concrete
    polymorphic_identity: Union[str, int, None]
    polymorphic_on: Optional[str]
    children: List[str]


class ModelInfo(TypedDict, total=False):
    name: str
    qualname: str
    module: str
    key: str
    doc: str
    table: Optional[str]
    sqlmodel: bool
    imperative: bool
    mixins: List[str]
    inheritance: Optional[InheritanceInfo]
    columns: List[ColumnInfo]
    relationships: List[RelationshipInfo]
    properties: List[Dict[str, Any]]  # one shape per property kind (expression, hybrid_property…)
    errors: List[PropertyError]
    partial: bool
    error: Optional[str]


class InspectResult(TypedDict):
    found_by: Optional[str]
    base: Optional[str]
    sqlalchemy_version: str
    python: str
    models: List[ModelInfo]
    partial: int
    tables: List[TableInfo]
    errors: List[Dict[str, Any]]
    # the project's own files the model import loaded: the model map's cache depends on them (core/deps.py)
    project_files: List[str]


# --- drift.compare --------------------------------------------------------------------------

class DriftDifference(TypedDict):
    kind: str
    schema: Optional[str]
    table: str
    column: Optional[str]
    detail: str


class DriftResult(TypedDict, total=False):
    ok: bool
    error: Optional[Dict[str, str]]
    differences: List[DriftDifference]
    script: str
    fallback: Optional[Dict[str, Any]]
    traceback: str


# --- probe ----------------------------------------------------------------------------------

class ModelsSummary(TypedDict):
    found_by: Optional[str]
    base: Optional[str]
    count: int
    tables: int
    classes: List[str]
    errors: List[Dict[str, Any]]
    property_errors: List[Dict[str, Any]]
    partial: int
    partial_models: List[str]
    project_files: List[str]


class ProbeResult(TypedDict):
    alembic: Optional[Dict[str, Any]]
    models: ModelsSummary
