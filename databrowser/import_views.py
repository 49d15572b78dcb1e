"""HTML pages of the CSV import: upload, mapping, validation report, confirm, progress, result.

Thin views over ``databrowser.importer``: one page per job whose body is the partial of the
job's step. Everything works without JavaScript (forms, and a ``<noscript>`` refresh while a
job runs); ``static/databrowser/import.js`` polls the status for a live progress bar instead.
The upload view swaps in the importer's upload handler (the file streams into the internal DB,
size-limited) before Django reads the body, hence the csrf_exempt/csrf_protect pair Django
documents for that case: CSRF is still checked, once the handler is in place.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.exceptions import BadRequest
from core.roles import require
from databrowser import importer
from databrowser.query import TableInfo
from databrowser.views import _info

INLINE_WAIT_S = 2.0  # a small file's validation finishes before the redirect: no progress page


def _job_url(info: TableInfo, job: importer.ImportJob) -> str:
    return reverse("data-import-job", args=[info.ref.slug, job.id])


def _page(request: HttpRequest, info: TableInfo, job: importer.ImportJob | None, status: int = 200,
          problems: list[str] | None = None) -> HttpResponse:
    columns = importer.insertable(info)
    context: dict[str, Any] = {"info": info, "job": job, "problems": problems or [],
                               "max_mb": importer.max_bytes() // (1024 * 1024), "columns": columns,
                               "delimiters": importer.DELIMITERS.items(), "null_styles": importer.NULL_STYLES.items(),
                               "modes": importer.MODES.items(), "max_errors": importer.MAX_ERRORS}
    if job is not None:
        context["rows"] = [{"index": i, "header": h, "column": m, "note": job.notes.get(m or "", ""),
                            "samples": [s[i] if i < len(s) else "" for s in job.samples[:3]]}
                           for i, (h, m) in enumerate(zip(job.headers, job.mapping, strict=True))]
        context["required"] = [c.name for c in columns if not c.nullable and not c.has_default]
        context["status_url"] = reverse("data-import-status", args=[info.ref.slug, job.id])
        context["percent"] = int(job.progress * 100)
    return render(request, "databrowser/import.html", context, status=status)


@csrf_exempt
@require_http_methods(["GET", "POST"])
def upload(request: HttpRequest, tref: str) -> HttpResponse:
    """Step 1: a file (or pasted text) becomes an import job, then the mapping step."""
    handler = importer.UploadHandler(request)
    if request.method == "POST":
        request.upload_handlers = [handler]
    try:
        return _upload(request, tref, handler)
    except BaseException:
        handler.discard()
        raise


@csrf_protect
def _upload(request: HttpRequest, tref: str, handler: importer.UploadHandler) -> HttpResponse:
    info = _info(request, tref)
    require(request.user, "write_rows")  # viewers and read-only mode: refused (and audited) at once
    if request.method == "GET":
        return _page(request, info, None)
    try:
        text = request.POST.get("text", "")
        request.FILES.get("file")
    except RequestDataTooBig:
        raise BadRequest("The pasted text is too long to send in a form.", code="paste_too_large",
                         hint="Upload it as a file instead.") from None
    if handler.exceeded:
        raise importer.too_big()
    if handler.job_id is not None and handler.size:
        file_id, name = handler.job_id, handler.file_name or "upload.csv"
    elif request.POST.get("upload"):  # sent in pieces by the page's script
        handler.discard()
        file_id, name = importer.adopt_upload(request, info, request.POST["upload"]), request.POST.get("name", "")
    elif text.strip():
        handler.discard()
        file_id, name = importer.save_text(text), "pasted.csv"
    else:
        handler.discard()
        raise BadRequest("Choose a CSV file or paste CSV text.", code="no_file",
                         hint="The first line must name the columns.")
    job = importer.new_job(request, info, file_id, name)
    return redirect(_job_url(info, job))


@require_http_methods(["GET", "POST"])
def job_page(request: HttpRequest, tref: str, job_id: str) -> HttpResponse:
    """Step 2 (GET: the mapping; POST: save it and validate), then the report of the run."""
    info = _info(request, tref)
    require(request.user, "write_rows")
    job = importer.get_job(request, job_id, info)
    if request.method == "GET":
        return _page(request, info, job)
    mapping = [request.POST.get(f"map{i}") or None for i in range(len(job.headers))]
    delimiter = request.POST.get("delimiter") or None
    new_delimiter = bool(delimiter) and delimiter != job.delimiter
    importer.set_options(info, job, mapping=mapping, mode=request.POST.get("mode"),
                         delimiter=delimiter, null_style=request.POST.get("null_style"))
    if new_delimiter or request.POST.get("step") == "remap":
        return redirect(_job_url(info, job))
    problems = importer.check_mapping(info, job)
    if problems:
        importer.back_to_mapping(job)
        return _page(request, info, job, status=400, problems=problems)
    importer.start_validation(request, info, job)
    importer.wait(job, INLINE_WAIT_S)
    return redirect(_job_url(info, job))


@require_POST
def run_import(request: HttpRequest, tref: str, job_id: str) -> HttpResponse:
    """Step 3, after the user confirmed: write every row in one transaction."""
    info = _info(request, tref)
    job = importer.get_job(request, job_id, info)
    importer.do_import_csv(request, info, job)
    importer.wait(job, INLINE_WAIT_S)
    if job.state == "done":
        messages.success(request, job.message)
    return redirect(_job_url(info, job))


@require_GET
def status(request: HttpRequest, tref: str, job_id: str) -> JsonResponse:
    """The job as JSON, for the progress bar."""
    info = _info(request, tref)
    job = importer.get_job(request, job_id, info)
    return JsonResponse(job.as_dict())


@require_POST
def upload_chunk(request: HttpRequest, tref: str) -> JsonResponse:
    """One piece of a file sent in pieces (``?upload=<id>&offset=<bytes so far>``, raw body)."""
    info = _info(request, tref)
    offset = request.GET.get("offset", "0")
    if not offset.isdigit():
        raise BadRequest("offset must be a byte count.", hint="Send ?offset=<bytes already sent>.")
    upload_id, size = importer.append_chunk(request, info, request.GET.get("upload", ""), int(offset), request)
    return JsonResponse({"upload": upload_id, "size": size})
