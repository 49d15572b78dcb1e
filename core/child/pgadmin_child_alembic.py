"""Alembic tasks run in the child process (the user's env.py and revision files run only here).

Tasks (``alembic.<name>``), each ``func(payload) -> json-able result``:

- ``history``: the full revision graph as Alembic's ``ScriptDirectory`` sees it.
- ``sql``: the offline (``--sql``) SQL of an upgrade or downgrade range; a failure of env.py in
  offline mode is reported as ``{"ok": False, "error", "hint", "traceback"}``, never raised.
- ``upgrade`` / ``downgrade``: a real run through ``alembic.command``. Before env.py runs, an
  SQLAlchemy ``connect`` listener is installed on every pool: it reports which server, database
  and user env.py actually connected to, and refuses the connection (so the run stops before the
  first migration) when that is not the tool's target. Each revision's start, end, duration and
  SQL statements are emitted live as events; a failure returns the error and the traceback.

Payload keys (built by ``core.project.resolve_alembic``): ``alembic_ini`` and/or ``script_location``
(absolute), ``alembic_section`` (``-n``), ``x_args`` (``-x``), ``version_locations``, ``url_option``,
``target_url`` (passed as ``sqlalchemy.url``; the runner also sets ``$DATABASE_URL``), ``expect`` (the
target's identity). The child runs in the ini's folder, as the CLI does; every path it returns is absolute.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import time
import traceback
from typing import TYPE_CHECKING, Any

import pgadmin_compat as compat
from pgadmin_child_common import describe_import_error, emit  # noqa: I001  (takes over stdout first)
from pgadmin_child_runlock import guarded  # the run lock held by this child, and the server-death watchdog

if TYPE_CHECKING:  # the result shapes (pgadmin_protocol); annotations only
    from pgadmin_protocol import HistoryResult, HistoryRevision, SqlResult, VersionTable

_CREATE_DATE = re.compile(r"^\s*Create Date:\s*(.+?)\s*$", re.MULTILINE)
MAX_SQL_CHARS = 4000
# The library's own catalogue reads (Alembic's has_table, SQLAlchemy's first-connect checks): reads of
# pg_catalog / information_schema and the dialect's SHOW / current_schema() / version() probes. They are
# counted in the log, not printed: a raw "%(table_name)s" query says nothing about the migration.
INTERNAL_QUERY = re.compile(
    r"^\s*(?:select\s+pg_catalog\.version\(\)|select\s+current_schema\(\)|show\s+\w+"
    r"|select\b(?:(?!\b(?:insert|update|delete|create|alter|drop)\b).)*\b(?:pg_catalog|information_schema)\.)",
    re.IGNORECASE | re.DOTALL)


class _LineStream(io.TextIOBase):
    """A text stream that forwards each complete line as an ``emit("log", ...)`` event."""

    def __init__(self, kind: str = "log") -> None:
        self.kind = kind
        self._buf = ""

    def write(self, text: str) -> int:  # type: ignore[override]
        self._buf += text
        while "\n" in self._buf:
            line, self._buf = self._buf.split("\n", 1)
            if line.strip():
                emit(self.kind, line=line)
        return len(text)

    def flush(self) -> None:
        if self._buf.strip():
            emit(self.kind, line=self._buf)
        self._buf = ""


def _config(payload: dict[str, Any], *, output_buffer: Any = None, stdout: Any = None) -> Any:
    """An Alembic Config for the project: from its ini (named section) or built in code."""
    from alembic.config import Config

    x_args = [str(x) for x in payload.get("x_args") or []]
    cmd_opts = argparse.Namespace(x=x_args) if x_args else None
    kwargs: dict[str, Any] = {"output_buffer": output_buffer, "cmd_opts": cmd_opts}
    if stdout is not None:
        kwargs["stdout"] = stdout
    ini = payload.get("alembic_ini")
    if ini:
        cfg = Config(ini, ini_section=payload.get("alembic_section") or "alembic", **kwargs)
        if payload.get("script_location"):  # PGADMIN_ALEMBIC_SCRIPT_LOCATION wins over the ini's
            cfg.set_main_option("script_location", str(payload["script_location"]))
    else:
        location = payload.get("script_location")  # resolved by the server (core.project.resolve_alembic)
        if not location:
            raise RuntimeError("no alembic.ini and no PGADMIN_ALEMBIC_SCRIPT_LOCATION: set PGADMIN_ALEMBIC_CONFIG or "
                               "PGADMIN_ALEMBIC_SCRIPT_LOCATION")
        cfg = Config(**kwargs)
        cfg.set_main_option("script_location", location)
    if payload.get("version_locations"):  # PGADMIN_ALEMBIC_VERSION_LOCATIONS: what a wrapper command sets in code
        cfg.set_main_option("version_locations", _join_paths(cfg, [str(p) for p in payload["version_locations"]]))
    url = payload.get("target_url")
    if url:
        url = compat.project_url(str(url))  # SQLAlchemy 1.4 has no psycopg 3 dialect
        escaped = str(url).replace("%", "%%")  # configparser interpolation
        cfg.set_main_option("sqlalchemy.url", escaped)
        # An env.py that reads its URL from its own ini option (config.get_main_option("app_db_url")):
        # PGADMIN_ALEMBIC_URL_OPTION names that option and it gets the target URL too.
        option = str(payload.get("url_option") or "").strip()
        if option and option != "sqlalchemy.url":
            cfg.set_main_option(option, escaped)
    _record_connections(cfg)
    return cfg


config_for = _config
_connect_recorder: list[bool] = []


def _record_connections(cfg: Any) -> None:
    """Remember where env.py tries to connect and where env.py is: a connection failure's hint names both."""
    import pgadmin_child_common as common

    location = cfg.get_main_option("script_location") or ""
    if location and ":" not in location.split(os.sep)[0]:
        common.ENV_PY["path"] = os.path.join(os.path.abspath(location), "env.py")
    if _connect_recorder:
        return
    try:
        from sqlalchemy import event
        from sqlalchemy.engine import Engine
    except ImportError:
        return

    def do_connect(dialect: Any, _rec: Any, cargs: Any, cparams: dict[str, Any]) -> None:
        host = cparams.get("host") or "local socket"
        database = cparams.get("dbname") or cparams.get("database") or ""
        common.CONNECT_ATTEMPTS.append(f"{host}:{cparams.get('port') or ''}/{database} as {cparams.get('user') or ''}")

    event.listen(Engine, "do_connect", do_connect)
    _connect_recorder.append(True)


def _join_paths(cfg: Any, paths: list[str]) -> str:
    """Paths joined with the separator this Alembic will split ``version_locations`` on."""
    sep = cfg.get_main_option("path_separator") or cfg.get_main_option("version_path_separator")
    chars = {"space": " ", "newline": "\n", "os": os.pathsep, ";": ";", ":": ":"}
    return (chars.get(sep, sep) if sep else " ").join(paths)  # the legacy split is on spaces and commas


_REVISION_FILE = re.compile(r"^revision\s*(?::\s*str\s*)?=", re.MULTILINE)


def stray_revision_files(script_dir: str, limit: int = 50) -> list[str]:
    """Revision files below the script directory (e.g. ``versions/<dialect>/``) that Alembic did not load."""
    found: list[str] = []
    for dirpath, dirs, files in os.walk(script_dir):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__" and not d.startswith("."))
        for name in sorted(files):
            if not name.endswith(".py") or name in ("env.py", "__init__.py"):
                continue
            path = os.path.join(dirpath, name)
            try:
                with open(path, encoding="utf-8", errors="replace") as fh:
                    head = fh.read(20000)
            except OSError:
                continue
            if _REVISION_FILE.search(head) and "down_revision" in head:
                found.append(os.path.abspath(path))
                if len(found) >= limit:
                    return found
    return found


def capture_version_tables(payload: dict[str, Any], env_py: str) -> list[VersionTable]:
    """Every ``(version_table, version_table_schema)`` env.py passes to ``context.configure``.

    env.py runs in offline mode with ``run_migrations`` stubbed out (nothing is emitted or executed), so a
    schema-per-tenant env.py that loops over its schemas shows each of them. When env.py cannot run
    offline, the literal arguments of its configure() call (read with ``ast``) stand in.
    """
    import signal

    from alembic import command

    if payload.get("version_table"):  # PGADMIN_ALEMBIC_VERSION_TABLE: the deployment decided, env.py need not run
        schema, _, name = str(payload["version_table"]).rpartition(".")
        return [{"name": name, "schema": schema or None}]
    seen: list[dict[str, Any]] = []

    def too_slow(_signum: int, _frame: Any) -> None:
        raise TimeoutError("env.py took too long in offline mode")

    # A slow or hanging env.py (an import that connects somewhere) must not cost the graph its page.
    previous = signal.signal(signal.SIGALRM, too_slow)
    signal.alarm(int(payload.get("capture_budget_s") or 15))

    def configure(kwargs: dict[str, Any]) -> None:
        seen.append({"name": kwargs.get("version_table") or "alembic_version",
                     "schema": kwargs.get("version_table_schema") or None})

    undo = [compat.wrap_environment_configure(configure), compat.skip_environment_run_migrations()]
    try:
        command.upgrade(_config({k: v for k, v in payload.items() if k != "target_url"} | {
            "target_url": payload.get("target_url") or "postgresql://offline/offline"},
            output_buffer=io.StringIO()), "heads", sql=True)
    except BaseException as exc:  # noqa: BLE001 - env.py may not run offline: fall back to reading it
        emit("info", line=f"env.py did not run offline ({type(exc).__name__}): version table read from its source")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        for put_back in reversed(undo):
            put_back()
    unique = [dict(t) for t in dict.fromkeys(tuple(sorted(d.items())) for d in seen)]
    return unique or [_static_version_table(env_py)]  # type: ignore[return-value]  # {name, schema} dicts


def _create_date(doc: str | None) -> str | None:
    match = _CREATE_DATE.search(doc or "")
    return match.group(1) if match else None


_ALEMBIC_HINT = "Run the same alembic command by hand in the ini's folder to see the full error."


def _failure(where: str, exc: BaseException) -> dict[str, Any]:
    """A failure as data; the hint is chosen by the exception's type (see ``pgadmin_child_common.hint_for``)."""
    info = describe_import_error(where, exc, default_hint=_ALEMBIC_HINT)
    return {"ok": False, "error": info["error"], "hint": info["hint"], "where": info["where"],
            "traceback": traceback.format_exc()}


failure = _failure


# --- history ------------------------------------------------------------------------------

def task_history(payload: dict[str, Any]) -> HistoryResult | dict[str, Any]:
    """Every revision with its edges and flags, newest first (Alembic's walk order)."""
    from alembic.script import ScriptDirectory

    try:
        script = ScriptDirectory.from_config(_config(payload))
        scripts = list(script.walk_revisions())
        heads = list(script.get_heads())
        bases = list(script.get_bases())
    except BaseException as exc:  # noqa: BLE001 - a broken revision file is a report, not a crash
        return _failure("alembic script directory", exc)
    revisions: list[HistoryRevision] = []
    for sc in scripts:
        module_doc = getattr(sc.module, "__doc__", None)
        revisions.append({
            "revision": sc.revision,
            "down_revisions": compat.down_revisions(sc),
            "depends_on": compat.resolved_dependencies(sc),
            "branch_labels": sorted(sc.branch_labels or ()),
            "doc": (sc.doc or "").strip(),
            "longdoc": (sc.longdoc or "").strip(),
            "create_date": _create_date(module_doc),
            "module_path": os.path.abspath(sc.path),
            "is_head": bool(sc.is_head),
            "is_base": bool(sc.is_base),
            "is_branch_point": bool(sc.is_branch_point),
            "is_merge": bool(sc.is_merge_point),
        })
    location = os.path.abspath(script.dir)  # the child runs in the ini's folder; the server needs no cwd
    env_py = os.path.join(location, "env.py")
    tables = capture_version_tables(payload, env_py)
    return {"ok": True, "script_location": location, "env_py": env_py, "heads": heads, "bases": bases,
            "revisions": revisions, "version_table": tables[0], "version_tables": tables,
            "stray_revision_files": [] if revisions else stray_revision_files(location)}


def _static_version_table(env_py: str) -> dict[str, str | None]:
    """``version_table`` / ``version_table_schema`` given as literals to configure() in env.py."""
    import ast

    found: dict[str, str | None] = {"name": "alembic_version", "schema": None}
    try:
        with open(env_py, encoding="utf-8") as fh:
            tree = ast.parse(fh.read())
    except (OSError, SyntaxError):
        return found
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "configure":
            for kw in node.keywords:
                if kw.arg in ("version_table", "version_table_schema") and isinstance(kw.value, ast.Constant) \
                        and isinstance(kw.value.value, str):
                    found["name" if kw.arg == "version_table" else "schema"] = kw.value.value
    return found


# --- offline SQL --------------------------------------------------------------------------

def _install_segment_recorder(buf: io.StringIO, segments: list[dict[str, Any]]) -> None:
    """Cut the offline output per revision: what each revision's upgrade()/downgrade() printed."""
    def wrap(fn: Any, revision: Any, is_upgrade: bool) -> Any:
        def recorded(*args: Any, **kwargs: Any) -> Any:
            start = buf.tell()
            try:
                return fn(*args, **kwargs)
            finally:
                segments.append({"revision": revision.revision, "direction": "upgrade" if is_upgrade else "downgrade",
                                 "sql": buf.getvalue()[start:]})

        return recorded

    compat.wrap_revision_steps(wrap)


def task_sql(payload: dict[str, Any]) -> SqlResult | dict[str, Any]:
    """``alembic upgrade|downgrade --sql from:to`` captured into a string.

    With ``revision`` in the payload, ``own_sql`` is only what that revision's function printed (a merge
    revision's preview must not show its other parents' revisions), and ``ran_revision`` says whether env.py
    ran it at all: an env.py that returns early in offline mode gives an empty output that is *not* a
    successful preview.
    """
    from alembic import command

    direction = payload.get("direction", "upgrade")
    start, end = payload.get("start"), payload.get("end") or "heads"
    if direction not in ("upgrade", "downgrade", "stamp"):
        return {"ok": False, "error": f"unknown direction {direction!r}", "hint": "", "traceback": ""}
    rng = f"{start}:{end}" if start and direction != "stamp" else str(end)
    buf = io.StringIO()
    segments: list[dict[str, Any]] = []
    _install_segment_recorder(buf, segments)
    try:
        cfg = _config(payload, output_buffer=buf)
        getattr(command, direction)(cfg, rng, sql=True)
    except BaseException as exc:  # noqa: BLE001
        from pgadmin_child_common import project_frame

        result = _failure("env.py (offline mode)", exc)
        frame = project_frame(exc)
        # env.py itself refused offline mode (it raised before or around run_migrations): the project has no
        # offline SQL, which is a fact about the project, not a broken revision.
        in_env = not isinstance(exc, (ModuleNotFoundError, SyntaxError)) and (
            result["hint"] == _ALEMBIC_HINT or (frame is not None and os.path.basename(frame[0]) == "env.py"))
        if in_env:
            result["error"] = f"Offline SQL is not available for this project: env.py failed in offline mode ({result['error']})"
            result["hint"] = ("Use the dry run: it runs the migrations online in a transaction that is always rolled "
                              "back. " + ("" if result["hint"] == _ALEMBIC_HINT else result["hint"])).strip()
        return {**result, "range": rng, "sql": buf.getvalue(), "offline_unavailable": in_env,
                "steps": [s["revision"] for s in segments]}
    out: dict[str, Any] = {"ok": True, "range": rng, "sql": buf.getvalue(), "steps": [s["revision"] for s in segments]}
    wanted = payload.get("revision")
    if wanted:
        own = [s for s in segments if s["revision"] == wanted and s["direction"] == direction]
        out["ran_revision"] = bool(own)
        out["own_sql"] = own[0]["sql"] if own else ""
    if not segments and direction != "stamp":
        out["ran_revision"] = False
    return out


# --- online runs --------------------------------------------------------------------------

_IDENTITY_SQL = (
    "SELECT current_database(), current_user, pg_postmaster_start_time()::text, "
    "(SELECT oid FROM pg_database WHERE datname = current_database())::bigint, "
    "host(inet_server_addr()), inet_server_port(), pg_backend_pid()"
)


class WrongDatabase(RuntimeError):
    """env.py connected to a database that is not the tool's target."""


def _install_connect_guard(expect: dict[str, Any] | None, lock_timeout: str | None = None) -> None:
    """Check every new DB-API connection (any engine env.py builds) against the tool's target."""
    from sqlalchemy import event
    from sqlalchemy.pool import Pool

    seen: list[tuple[Any, ...]] = []

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(_IDENTITY_SQL)
            full = tuple(cursor.fetchone())
            row, backend_pid = full[:6], full[6]
            if lock_timeout:
                cursor.execute(f"SET lock_timeout = '{int(lock_timeout)}ms'")  # an int: nothing to quote
        finally:
            cursor.close()
        if lock_timeout:
            dbapi_connection.commit()  # keep the session setting
        else:
            dbapi_connection.rollback()  # leave no transaction open behind SQLAlchemy's back
        database, user, started, oid, host, port = row
        where = f"{host or 'local socket'}:{port or ''}/{database} as {user}"
        emit("backend", pid=backend_pid)  # so that a cancelled run can terminate its server backends
        if row not in seen:
            seen.append(row)
            emit("connected", database=database, user=user, server_started=started, db_oid=oid,
                 host=host, port=port, line=f"env.py connected to {where}")
        if expect and (str(expect.get("server_started")) != str(started) or int(expect.get("db_oid", -1)) != int(oid)
                       or expect.get("database") != database):
            raise WrongDatabase(
                f"env.py connected to {where}, which is not the tool's target "
                f"({expect.get('label') or expect.get('database')}); stopped before the first migration."
            )

    event.listen(Pool, "connect", on_connect)


def _install_statement_log(skipped: list[int]) -> None:
    """Forward every SQL statement any engine executes (before it runs), except the library's own
    catalogue reads (``INTERNAL_QUERY``), which are counted in ``skipped[0]``."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    def before(_conn: Any, _cursor: Any, statement: str, _params: Any, _context: Any, executemany: bool) -> None:
        text = statement.strip()
        if INTERNAL_QUERY.match(text):
            skipped[0] += 1
            return
        if len(text) > MAX_SQL_CHARS:
            text = text[:MAX_SQL_CHARS] + " …"
        emit("sql", line=text, executemany=executemany)

    event.listen(Engine, "before_cursor_execute", before)


def _install_step_timer(steps: list[dict[str, Any]]) -> None:
    """Wrap each revision's upgrade()/downgrade() to report its start, end and duration."""
    def wrap(fn: Any, revision: Any, is_upgrade: bool) -> Any:
        rev = revision.revision
        down = compat.down_revisions(revision)
        verb = "upgrade" if is_upgrade else "downgrade"

        def timed(*args: Any, **kwargs: Any) -> Any:
            record = {"revision": rev, "direction": verb, "down_revisions": down, "doc": (revision.doc or "").strip(),
                      "status": "running"}
            steps.append(record)
            frm, to = (", ".join(down) or "base", rev) if is_upgrade else (rev, ", ".join(down) or "base")
            emit("revision_start", revision=rev, direction=verb,
                 line=f"Running {verb} {frm} -> {to}, {record['doc']}")
            started = time.perf_counter()
            try:
                out = fn(*args, **kwargs)
            except BaseException as exc:
                record.update(status="failed", duration_ms=round((time.perf_counter() - started) * 1000, 1))
                emit("revision_failed", revision=rev, direction=verb, duration_ms=record["duration_ms"],
                     line=f"{verb} {rev} failed after {record['duration_ms']} ms: {type(exc).__name__}: {exc}")
                raise
            record.update(status="done", duration_ms=round((time.perf_counter() - started) * 1000, 1))
            emit("revision_end", revision=rev, direction=verb, duration_ms=record["duration_ms"],
                 line=f"{verb} {rev} done in {record['duration_ms']} ms")
            return out

        return timed  # (compat keeps the function's name: Alembic logs it, "Running upgrade ...")

    compat.wrap_revision_steps(wrap)


def _install_configure_spy(seen: dict[str, Any]) -> None:
    """Record how env.py configures the context (transaction mode, version table)."""
    def configure(kwargs: dict[str, Any]) -> None:
        seen["transaction_per_migration"] = bool(kwargs.get("transaction_per_migration", False))
        seen["version_table"] = kwargs.get("version_table", "alembic_version")
        seen["version_table_schema"] = kwargs.get("version_table_schema")
        table = {"name": seen["version_table"], "schema": seen["version_table_schema"]}
        if table not in seen.setdefault("version_tables", []):  # one per tenant schema when env.py loops
            seen["version_tables"].append(table)
        mode = "one transaction per migration" if seen["transaction_per_migration"] else "one transaction for the whole run"
        emit("info", line=f"env.py runs {mode} (transactional DDL on PostgreSQL); version table "
                          f"{seen['version_table_schema'] + '.' if seen['version_table_schema'] else ''}{seen['version_table']}",
             **{k: seen[k] for k in ("transaction_per_migration", "version_table", "version_table_schema")})

    compat.wrap_environment_configure(configure)


def _run(payload: dict[str, Any], direction: str) -> dict[str, Any]:
    from alembic import command

    emit("pid", pid=os.getpid(), line=f"child process {os.getpid()} started")
    if payload.get("target_url"):
        os.environ["DATABASE_URL"] = compat.project_url(str(payload["target_url"]))
    steps: list[dict[str, Any]] = []
    context_seen: dict[str, Any] = {}
    _install_connect_guard(payload.get("expect"))
    skipped = [0]
    _install_statement_log(skipped)
    _install_step_timer(steps)
    _install_configure_spy(context_seen)
    target = str(payload.get("target") or ("-1" if direction == "downgrade" else "heads"))
    out = _LineStream()
    started = time.perf_counter()
    try:
        cfg = _config(payload, stdout=out)
        getattr(command, direction)(cfg, target)
    except BaseException as exc:  # noqa: BLE001 - the server needs the error, not a dead child
        out.flush()
        result = _failure(f"alembic {direction} {target}", exc)
        if isinstance(exc, WrongDatabase):
            result.update(error=str(exc), hint="Make env.py use $DATABASE_URL or sqlalchemy.url, or point the "
                                                "tool's DATABASE_URL at the database env.py uses.",
                          code="wrong_database")
        return {**result, "steps": steps, "context": context_seen,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1)}
    out.flush()
    if skipped[0]:
        emit("info", line=f"{skipped[0]} catalogue quer{'y' if skipped[0] == 1 else 'ies'} of Alembic and SQLAlchemy "
                          "(table checks, server settings) ran and are not shown")
    return {"ok": True, "steps": steps, "context": context_seen,
            "duration_ms": round((time.perf_counter() - started) * 1000, 1)}


def task_upgrade(payload: dict[str, Any]) -> dict[str, Any]:
    return guarded(payload, _run, "upgrade")


def task_downgrade(payload: dict[str, Any]) -> dict[str, Any]:
    return guarded(payload, _run, "downgrade")


def task_stamp(payload: dict[str, Any]) -> dict[str, Any]:
    """Set the version table without running migrations (env.py runs, with the same guard)."""
    return guarded(payload, _run, "stamp")


# --- dry run (pgadmin_child_dryrun.py) -------------------------------------------------------

from pgadmin_child_dryrun import task_dryrun  # noqa: E402  (it uses the helpers above)

TASKS = {"dryrun": lambda payload: guarded(payload, task_dryrun),
         "history": task_history, "sql": task_sql, "upgrade": task_upgrade, "downgrade": task_downgrade,
         "stamp": task_stamp}
