"""CSV import into a table: upload, column mapping, validation of every row, then one transaction.

The steps (the HTML views and the API call the same functions):

1. **Upload** (``databrowser.importer_upload``): the file streams into the internal DB in pieces of
   256 KB (``ImportChunk`` rows; nothing from the request names a path), refused past
   ``PGADMIN_IMPORT_MAX_MB``; big files are sent in 4 MB pieces, each of which may reach another
   instance. ``new_job`` sniffs the delimiter and the NULL style on the first 64 KB, reads the
   header and a few sample rows, and proposes a mapping.
2. **Mapping** (``auto_mapping``): each CSV column goes to the table column of the same name,
   case, spaces, dashes and underscores ignored; the sample values are read with the row form's
   own fields (``databrowser.forms.field_for``) and a column whose samples do not fit its type is
   flagged. The user edits it; ``check_mapping`` refuses what cannot work (a required column left
   out, a column fed twice, an upsert without the key).
3. **Validation** (``start_validation``): a background job runs ``importer_validate.run`` without
   writing — every row checked against the types and constraints, the failing rows listed with
   the reason (line, column, message), then rolled back.
4. **Import** (``do_import_csv``, after the user confirmed): the same run with ``write=True``:
   all rows in one transaction, or none; audited with the count.

Jobs are rows of the internal DB (``databrowser.models.ImportJob``, ``databrowser.importer_jobs``):
with several instances on one internal PostgreSQL database, any instance serves any step, and the
pages and the API poll the row (``as_dict()``). The process running a validation or an import writes
its progress and a heartbeat into the row every half second; if it dies, its target transaction
rolls back and the housekeeping pass of a live instance marks the job failed. Each user runs one
import at a time; jobs and their files are deleted after a day. The CSV is read back from its
pieces by the stdlib ``csv`` module as a stream (one piece in memory: memory stays flat for any size).
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import logging
import re
import threading
from pathlib import Path
from typing import Any

from django import forms as djforms
from django.db import DatabaseError, connections, transaction
from django.utils import timezone
from sqlalchemy import Connection

from core import audit
from core.exceptions import AppError, AuditUnavailable, BadRequest, Conflict
from databrowser import actions, forms, query
from databrowser.importer_jobs import Beat, fail_stale, forget_old, get_job, this_process, wait
from databrowser.importer_upload import (
    CHUNK_MAX,
    UPLOADING,
    UploadHandler,
    adopt_upload,
    append_chunk,
    forget_file,
    max_bytes,
    open_file,
    save_text,
    too_big,
)
from databrowser.importer_validate import MAX_ERRORS, Outcome, Plan, RowError, run
from databrowser.models import ImportJob
from databrowser.query import ColumnInfo, TableInfo

SNIFF_BYTES = 64 * 1024
SAMPLE_ROWS = 5
DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
NULL_STYLES = {"empty": "an empty cell is NULL", "marker": "\\N is NULL, an empty cell is an empty string"}
MODES = {"insert": "insert new rows", "upsert": "insert, or update the row with the same primary key"}
csv.field_size_limit(64 * 1024 * 1024)  # one cell may be a big JSON document


def _open_text(job: ImportJob, counter: list[int] | None = None) -> io.TextIOWrapper:
    return io.TextIOWrapper(open_file(job.id, counter), encoding="utf-8-sig", errors="strict", newline="")


def _head(job_id: str) -> bytes:
    with open_file(job_id) as fh:
        return fh.read(SNIFF_BYTES)


def _not_utf8(exc: UnicodeDecodeError) -> BadRequest:
    return BadRequest("The file is not UTF-8 text.", code="not_utf8",
                      hint="Save it as CSV UTF-8 (in a spreadsheet: “CSV UTF-8”), then upload it again.")


def _sniff(file_id: str) -> tuple[str, str, list[str], list[list[str]]]:
    """Delimiter, NULL style, header and sample rows from the head of the file."""
    head = _head(file_id)
    try:
        text = codecs.getincrementaldecoder("utf-8-sig")().decode(head, final=False)
    except UnicodeDecodeError as exc:
        raise _not_utf8(exc) from exc
    if not text.strip():
        raise BadRequest("The file is empty.", code="empty_file", hint="Upload a CSV with a header line and rows.")
    try:
        delimiter = csv.Sniffer().sniff(text.split("\n", 1)[0], delimiters="".join(DELIMITERS)).delimiter
    except csv.Error:
        delimiter = ","
    try:
        rows = list(_head_rows(text, delimiter))
    except csv.Error as exc:
        raise BadRequest(f"The CSV cannot be read: {exc}.", code="invalid_csv",
                         hint="Check the quoting of the first lines.") from None
    if not rows or not any(h.strip() for h in rows[0]):
        raise BadRequest("The first line names no column.", code="no_header",
                         hint="The first line of the file must name the columns, e.g. id,name.")
    null_style = "marker" if any("\\N" in r for r in rows[1:]) else "empty"
    return delimiter, null_style, rows[0], rows[1:SAMPLE_ROWS + 1]


def _head_rows(text: str, delimiter: str) -> list[list[str]]:
    complete = text if len(text) < SNIFF_BYTES // 2 else text[: text.rfind("\n") + 1] or text
    out = []
    for row in csv.reader(io.StringIO(complete, newline=""), delimiter=delimiter):
        if row:
            out.append(row)
        if len(out) > SAMPLE_ROWS:
            break
    return out


def insertable(info: TableInfo) -> list[ColumnInfo]:
    """The columns an import may fill (not GENERATED ALWAYS identities, not generated columns)."""
    return [c for c in info.columns if not c.identity_always and info.table.c[c.name].computed is None]


def _norm(name: str) -> str:
    return re.sub(r"[\s_\-]+", "", name).casefold()


def auto_mapping(info: TableInfo, headers: list[str]) -> list[str | None]:
    """Each header to the column of the same name (exact first, then ignoring case, spaces,
    dashes and underscores); each column is fed at most once."""
    cols = insertable(info)
    taken: set[str] = set()
    out: list[str | None] = []
    for h in headers:
        exact = [c.name for c in cols if c.name == h and c.name not in taken]
        loose = [c.name for c in cols if _norm(c.name) == _norm(h) and c.name not in taken]
        pick = next(iter(exact or loose), None)
        if pick:
            taken.add(pick)
        out.append(pick)
    return out


def type_notes(info: TableInfo, job: ImportJob) -> dict[str, str]:
    """Per mapped column, a doubt about its type when sample values do not read as it (the row
    form's own fields decide); the validation is what counts, this only guides the mapping."""
    notes: dict[str, str] = {}
    for idx, name in enumerate(job.mapping):
        if not name:
            continue
        col = info.column(name)
        if col.kind in ("text", "other", "bool", "array", "interval"):  # PostgreSQL reads more spellings than a form
            continue
        field = forms.field_for(col, creating=True, fk_url=None)
        bad = []
        for sample in job.samples:
            value = sample[idx] if idx < len(sample) else ""
            if value in ("", "\\N"):
                continue
            try:
                field.clean(value)
            except djforms.ValidationError:
                bad.append(value)
        if bad:
            notes[name] = f"{len(bad)} of {len(job.samples)} sample values do not read as {col.type_label} (e.g. {bad[0][:30]!r})"
    return notes


def new_job(request: Any, info: TableInfo, file_id: str, file_name: str) -> ImportJob:
    """Make an uploaded file (``file_id``, from ``importer_upload``) an import of ``info`` by this
    user on the request's target (step 2: the mapping)."""
    actions.require_writer(request, "data.import", info)
    forget_old()
    job = ImportJob.objects.filter(pk=file_id, state=UPLOADING).first()
    if job is None:
        raise BadRequest("The file is gone.", code="no_file", hint="Upload it again.")
    try:
        delimiter, null_style, headers, samples = _sniff(job.id)
    except AppError:
        job.delete()
        raise
    headers = [h.strip() or f"column {i + 1}" for i, h in enumerate(headers)]
    job.user_id, job.table, job.target_name = request.user.pk, info.ref.slug, info.on.name if info.on else ""
    job.file_name = Path(file_name or "pasted.csv").name[:200]
    job.delimiter, job.null_style, job.headers, job.samples = delimiter, null_style, headers, samples
    job.mapping = auto_mapping(info, headers)
    job.notes = type_notes(info, job)
    job.state, job.created_at = "mapping", timezone.now()
    job.save()
    return job


# --- mapping ---------------------------------------------------------------------------------

def set_options(info: TableInfo, job: ImportJob, *, mapping: list[str | None] | None, mode: str | None,
                delimiter: str | None, null_style: str | None) -> None:
    """Apply the user's mapping step (a new delimiter re-reads the header and the samples)."""
    if job.running:
        raise Conflict("This import is running; its mapping cannot change now.", hint="Wait for it to finish.")
    if delimiter and delimiter != job.delimiter:
        if delimiter not in DELIMITERS:
            raise BadRequest(f"Unknown delimiter {delimiter!r}.", hint="Use a comma, a semicolon, a tab or a pipe.")
        text = _head(job.id).decode("utf-8-sig", errors="replace")
        try:
            rows = _head_rows(text, delimiter)
        except csv.Error as exc:
            raise BadRequest(f"The CSV cannot be read with this delimiter: {exc}.", code="invalid_csv",
                             hint="Choose another delimiter.") from None
        if not rows:
            raise BadRequest("The first line names no column.", code="no_header", hint="Check the file.")
        job.delimiter, job.headers, job.samples = delimiter, rows[0], rows[1:SAMPLE_ROWS + 1]
        job.mapping = auto_mapping(info, job.headers)
    elif mapping is not None:
        if len(mapping) != len(job.headers):
            raise BadRequest(f"The mapping has {len(mapping)} entries; the file has {len(job.headers)} columns.",
                             hint="Give one target column (or none) per CSV column.")
        names = {c.name for c in insertable(info)}
        for m in mapping:
            if m and m not in names:
                raise BadRequest(f"{info.ref} has no column {m!r} an import can fill.",
                                 hint="Columns: " + ", ".join(sorted(names)[:30]))
        job.mapping = [m or None for m in mapping]
    if mode:
        if mode not in MODES:
            raise BadRequest(f"Unknown mode {mode!r}.", hint="Use insert or upsert.")
        job.mode = mode
    if null_style:
        if null_style not in NULL_STYLES:
            raise BadRequest(f"Unknown NULL style {null_style!r}.", hint="Use empty or marker.")
        job.null_style = null_style
    job.notes = type_notes(info, job)
    fields = ("delimiter", "headers", "samples", "mapping", "mode", "null_style", "notes")
    saved = ImportJob.objects.filter(pk=job.pk).exclude(state__in=ImportJob.RUNNING).update(
        **{f: getattr(job, f) for f in fields})
    if not saved:  # started meanwhile (by another request, maybe on another instance)
        raise Conflict("This import is running; its mapping cannot change now.", hint="Wait for it to finish.")


def back_to_mapping(job: ImportJob) -> None:
    """The mapping step again (the user's mapping cannot work)."""
    job.state = "mapping"
    ImportJob.objects.filter(pk=job.pk).exclude(state__in=ImportJob.RUNNING).update(state="mapping")


def mapping_from_json(job: ImportJob, raw: Any) -> list[str | None]:
    """The API's mapping: {"csv header": "column" | null} (headers not named keep the proposal)."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise BadRequest("mapping is not valid JSON.", hint='Send {"CSV header": "column", …}.') from None
    if not isinstance(raw, dict):
        raise BadRequest("mapping must be an object.", hint='Send {"CSV header": "column", …}.')
    if any(v is not None and not isinstance(v, str) for v in raw.values()):
        raise BadRequest("Each mapping value is a column name or null.", hint='Send {"CSV header": "column", …}.')
    unknown = [k for k in raw if k not in job.headers]
    if unknown:
        raise BadRequest(f"The file has no column {unknown[0]!r}.", hint="Headers: " + ", ".join(job.headers[:30]))
    return [raw[h] if h in raw else m for h, m in zip(job.headers, job.mapping, strict=True)]


def check_mapping(info: TableInfo, job: ImportJob) -> list[str]:
    """What makes this mapping unusable, in words (empty: fine)."""
    problems = []
    chosen = [m for m in job.mapping if m]
    if not chosen:
        problems.append("No column is mapped: choose the table column of at least one CSV column.")
    for name in sorted({m for m in chosen if chosen.count(m) > 1}):
        problems.append(f"{name} is fed by more than one CSV column.")
    for col in insertable(info):
        if not col.nullable and not col.has_default and col.name not in chosen:
            problems.append(f"{col.name} is required (NOT NULL, no default) but no CSV column feeds it.")
    if job.mode == "upsert":
        missing = [k for k in info.pk if k not in chosen]
        if missing:
            problems.append(f"An upsert matches rows by the primary key: map {', '.join(missing)}.")
    return problems


# --- running ---------------------------------------------------------------------------------

def _plan(info: TableInfo, job: ImportJob) -> Plan:
    pairs = [(i, info.column(m)) for i, m in enumerate(job.mapping) if m]
    return Plan(info=info, columns=[c for _, c in pairs], cells=[i for i, _ in pairs],
                null_marker="\\N", empty_is_null=job.null_style == "empty", upsert=job.mode == "upsert")


def _records(job: ImportJob, out: Outcome, counter: list[int]) -> Any:
    """(line number, cells) of each data row; a row of the wrong width is recorded and yields None."""
    width = len(job.headers)
    with _open_text(job, counter) as fh:
        reader = csv.reader(fh, delimiter=job.delimiter)
        next(reader, None)
        line = reader.line_num
        for rec in reader:
            start, line = line + 1, reader.line_num
            if not rec:
                yield start, None
            elif len(rec) != width:
                out.add(RowError(start, "", f"has {len(rec)} cells; the header has {width}"))
                yield start, None
            elif any("\x00" in cell for cell in rec):
                out.add(RowError(start, "", "contains a NUL (0x00) character, which PostgreSQL text cannot hold"))
                yield start, None
            else:
                yield start, rec


def _work(request: Any, info: TableInfo, job_id: str, write: bool) -> None:
    job = ImportJob.objects.get(pk=job_id)  # this thread's own copy (the request's may be read again meanwhile)
    counter = [0]
    out = Outcome()
    beat = Beat(job)  # progress and heartbeat into the row, read by the pages on any instance
    beat.start()

    def progress(phase: str, rows: int) -> None:
        job.phase, job.rows = phase, rows
        share = counter[0] / job.size if job.size else 1.0
        job.progress = min(0.99, share * (0.85 if write else 0.95) if phase == "reading" else
                           0.9 if phase.startswith("checking") else 0.95)

    audited: audit.AuditedWrite | None = None
    refused = False

    def before_commit(conn: Connection) -> None:  # the entry is written inside the import's transaction
        assert audited is not None
        audited.record(conn, after=_summary(job, out.rows, out.written),
                       message=f"{out.written} row(s) {job.mode}ed from {job.file_name}")

    try:
        with audit.audited_write(request, "data.import", info.ref.slug) as audited:
            run(_plan(info, job), _records(job, out, counter), write=write, out=out, progress=progress,
                before_commit=before_commit if write else None)
        job.rows, job.errors, job.truncated = out.rows, [e.as_dict() for e in out.errors], out.truncated
        job.would_update, job.written = out.would_update, out.written
        if out.errors:
            job.state = "invalid"
            more = " (validation stopped there)" if out.truncated else ""
            job.message = f"{len(out.errors)}{'+' if out.truncated else ''} row(s) cannot be imported{more}; nothing was written."
            job.hint = "Fix these rows in the file (or the mapping), upload it again, and validate."
        elif write:
            job.state = "done"
            job.message = f"{out.written:,} row(s) {'imported or updated' if job.mode == 'upsert' else 'imported'}."
        else:
            job.state = "valid"
            job.message = f"All {out.rows:,} row(s) are valid." + (
                f" {out.would_update:,} of them will update existing rows." if job.mode == "upsert" else "")
    except UnicodeDecodeError as exc:
        job.state, job.message, job.hint = "failed", _not_utf8(exc).message, _not_utf8(exc).hint
    except csv.Error as exc:
        job.state, job.message = "failed", f"The CSV cannot be read: {exc} (near line {job.rows + 1})."
        job.hint = "Check the quoting around that line."
    except AppError as exc:
        job.state, job.message, job.hint = "failed", exc.message, exc.hint
        refused = isinstance(exc, AuditUnavailable)
    except Exception as exc:  # noqa: BLE001 - the job reports it; the page must not hang
        job.state, job.message, job.hint = "failed", f"The import stopped: {type(exc).__name__}.", "See the server log."
        logging.getLogger(__name__).exception("import %s failed", job.id)
    finally:
        job.progress = 1.0
        job.phase = ""
        beat.stop()
        _finish(request, info, job, write and job.state != "done" and (audited is None or audited.entry is None)
                and not refused)


def _finish(request: Any, info: TableInfo, job: ImportJob, audit_failure: bool) -> None:
    """The outcome into the job's row (read by the pages on any instance), the failure audited."""
    try:
        if audit_failure:
            _audit_failure(request, info, job)
        if job.state == "done":
            query.invalidate(info.ref)
            forget_file(job.id)  # imported: the copy has no further use
        job.save(update_fields=["state", "phase", "progress", "rows", "errors", "truncated", "would_update",
                                "written", "message", "hint"])
    except DatabaseError:  # the internal DB is away: the row keeps "running" until housekeeping fails it
        logging.getLogger(__name__).exception("the outcome of import %s could not be saved", job.id)
    finally:
        connections.close_all()  # this thread's internal-DB connection


def _summary(job: ImportJob, rows: int, written: int) -> dict[str, Any]:
    return {"file": job.file_name, "mode": job.mode, "rows": rows, "written": written,
            "columns": [m for m in job.mapping if m]}


def _audit_failure(request: Any, info: TableInfo, job: ImportJob) -> None:
    """An import that wrote nothing (a success is audited inside its transaction, by ``_work``)."""
    try:
        audit.record(request, "data.import", info.ref.slug, after=_summary(job, job.rows, job.written),
                     outcome="failed", message=job.message + (" First: " + "; ".join(
                         f"line {e['row']} {e['column']}: {e['message']}" for e in job.errors[:3]) if job.errors else ""))
    except DatabaseError:  # the thread must still finish its clean-up; nothing was written anyway
        logging.getLogger(__name__).exception("the failed import %s could not be audited", job.id)


def _start(request: Any, info: TableInfo, job: ImportJob, write: bool) -> None:
    fail_stale(user_id=job.user_id)  # a job whose server died does not block its user
    with transaction.atomic():  # the user's jobs locked (PostgreSQL): one start at a time, on any instance
        mine = ImportJob.objects.select_for_update().filter(user=job.user_id)
        states = dict(mine.values_list("pk", "state"))
        if states.get(job.pk) in ImportJob.RUNNING:
            raise Conflict("This import is already running.", hint="Wait for it to finish.")
        if states.get(job.pk) != job.state:  # e.g. imported meanwhile through another request or instance
            raise Conflict("This import changed meanwhile.", code="import_changed", hint="Reload it and look again.")
        if any(state in ImportJob.RUNNING for state in states.values()):
            raise Conflict("You already have an import running.", code="import_running",
                           hint="Wait for it to finish, then start this one.")
        problems = check_mapping(info, job)
        if problems:
            raise BadRequest(problems[0], code="invalid_mapping", hint="Change the mapping, then validate again.",
                             detail={"problems": problems})
        job.state = "importing" if write else "validating"
        job.errors, job.truncated, job.message, job.hint, job.progress, job.phase = [], False, "", "", 0.0, ""
        job.rows = job.written = job.would_update = 0
        job.instance, job.heartbeat_at = this_process(), timezone.now()
        job.save(update_fields=["state", "errors", "truncated", "message", "hint", "progress", "phase", "rows",
                                "written", "would_update", "instance", "heartbeat_at"])
    threading.Thread(target=_work, args=(request, info, job.pk, write), daemon=True, name=f"import-{job.id[:8]}").start()


def start_validation(request: Any, info: TableInfo, job: ImportJob) -> None:
    """Check every row without writing (a background job; poll ``job.as_dict()``)."""
    actions.require_writer(request, "data.import", info)
    _start(request, info, job, write=False)


def do_import_csv(request: Any, info: TableInfo, job: ImportJob, *, confirmed: bool = False) -> None:
    """Write the file into the table in one transaction (all rows or none), once the user saw the
    validation (``confirmed``: an API client that asked for the write up front skips that step);
    the rows are checked again in that transaction. Audited with the count."""
    actions.require_writer(request, "data.import", info)
    if job.state != "valid" and not (confirmed and job.state in ("mapping", "invalid", "failed")):
        raise Conflict("Validate the file before importing it.", code="not_validated",
                       hint="Check the mapping and press Validate; the import is offered once every row is valid.")
    if job.state == "done":
        raise Conflict("This file was imported already.", code="already_imported",
                       hint="Upload it again to import it a second time.")
    _start(request, info, job, write=True)


__all__ = ["CHUNK_MAX", "MAX_ERRORS", "ImportJob", "UploadHandler", "adopt_upload", "append_chunk", "auto_mapping",
           "back_to_mapping", "check_mapping", "do_import_csv", "get_job", "max_bytes", "new_job", "save_text",
           "set_options", "start_validation", "too_big", "wait"]
