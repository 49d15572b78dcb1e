"""The file side of a CSV import: the file in the internal DB, in pieces, and how big it may be.

The file of an import is stored in the internal database as ``ImportChunk`` rows of at most
``PIECE`` bytes (``databrowser.models``; the same code on SQLite and PostgreSQL), written while
the upload streams, so that any instance sharing the internal DB serves any step of the import
(several instances, no sticky sessions). Nothing from the request names a path or a row: the
file's id is made here. The size limit ``PGADMIN_IMPORT_MAX_MB`` is enforced while it streams:
``UploadHandler`` for a multipart body (it buffers up to one stored piece), ``save_text`` for pasted
text, ``append_chunk``/``adopt_upload`` for a file sent in pieces (under daphne a request body is
queued whole in memory before the application reads it, so the page's script and API clients send
big files ``CHUNK_MAX`` = 4 MB at a time, and each piece may reach another instance; it is read and
stored ``PIECE`` = 256 KB at a time). ``ChunkReader`` reads the file back as a stream, one stored
piece in memory at a time. Stored pieces are smaller than sent ones because buffers of a few MB tend
to stay in the process's heap (one per thread): with 4 MB rows the server's peak memory growth
during ``bench/import_bench.py`` was 26 MB, with 1 MB 18 MB, with 256 KB 13 MB.
"""

from __future__ import annotations

import io
import re
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.db import IntegrityError, transaction
from django.db.models import Max

from core.exceptions import BadRequest, Conflict, NotFound
from databrowser import actions
from databrowser.models import ImportChunk, ImportJob
from databrowser.query import TableInfo

CHUNK_MAX = 4 * 1024 * 1024  # the largest piece a client may send
PIECE = 256 * 1024  # the largest stored piece (an ImportChunk row)
UPLOADING = "uploading"
_UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")


def max_bytes() -> int:
    return int(settings.IMPORT_MAX_MB) * 1024 * 1024


def too_big() -> BadRequest:
    return BadRequest(f"The file is larger than {settings.IMPORT_MAX_MB} MB, the import limit.", code="file_too_large",
                      status=413, hint="Split the file, or raise PGADMIN_IMPORT_MAX_MB.")


def _store(job_id: str, seq: int, data: bytes) -> None:
    ImportChunk.objects.create(job_id=job_id, seq=seq, data=data)


# --- upload ----------------------------------------------------------------------------------

class UploadHandler(FileUploadHandler):
    """Streams the uploaded file into the internal DB, one piece of up to ``PIECE`` at a time,
    and stops past the size limit (at most one piece in memory, nothing lands on disk)."""

    def __init__(self, request: Any = None) -> None:
        super().__init__(request)
        self.job_id: str | None = None  # the file's row, an ImportJob still "uploading"
        self.exceeded = False
        self.size = 0
        self._buffer = bytearray()
        self._seq = 0

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        if self.field_name != "file" or self.job_id is not None:
            raise StopUpload(connection_reset=False)  # one file, in the field "file"
        self.job_id = ImportJob.objects.create(state=UPLOADING).id  # its owner is named by importer.new_job

    def _flush(self, limit: int) -> None:
        while len(self._buffer) >= limit and self._buffer:
            assert self.job_id is not None
            _store(self.job_id, self._seq, bytes(self._buffer[:PIECE]))
            del self._buffer[:PIECE]
            self._seq += 1

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        self.size += len(raw_data)
        if self.size > max_bytes():
            self.exceeded = True
            self.discard()
            raise StopUpload(connection_reset=True)
        self._buffer += raw_data
        self._flush(PIECE)
        return None

    def file_complete(self, file_size: int) -> UploadedFile | None:
        if self.job_id is None:
            return None
        self._flush(1)
        ImportJob.objects.filter(pk=self.job_id).update(size=self.size)
        return UploadedFile(file=None, name=self.file_name, content_type=self.content_type, size=self.size)

    def discard(self) -> None:
        """Forget the file (a refused or failed request)."""
        self._buffer.clear()
        if self.job_id is not None:
            ImportJob.objects.filter(pk=self.job_id, state=UPLOADING).delete()
            self.job_id = None


def save_text(text: str) -> str:
    """Pasted CSV text, stored like an upload; the file's id."""
    data = text.encode("utf-8")
    if len(data) > max_bytes():
        raise too_big()
    with transaction.atomic():
        job = ImportJob.objects.create(state=UPLOADING, size=len(data))
        for seq, start in enumerate(range(0, len(data), PIECE)):
            _store(job.id, seq, data[start:start + PIECE])
    return job.id


def append_chunk(request: Any, info: TableInfo, upload_id: str, offset: int, stream: Any) -> tuple[str, int]:
    """Store one piece (the request body, read and stored ``PIECE`` at a time) of an upload; a new upload
    without ``upload_id``. ``offset`` must equal the bytes received so far (a retried piece is
    refused); a refused piece leaves the upload as it was (one transaction)."""
    actions.require_writer(request, "data.import", info)
    if not upload_id:
        upload_id = ImportJob.objects.create(state=UPLOADING, user_id=request.user.pk, table=info.ref.slug).id
    try:
        with transaction.atomic():  # one piece at a time per upload, whichever instance receives it
            job = _upload_row(request, info, upload_id, lock=True)
            if offset != job.size:
                raise Conflict(f"This upload has {job.size} bytes; the piece starts at {offset}.", code="bad_offset",
                               hint=f"Send the piece that starts at byte {job.size}.", detail={"size": job.size})
            last = job.chunks.aggregate(last=Max("seq"))["last"]
            seq, received = 0 if last is None else last + 1, 0
            while block := stream.read(PIECE):
                received += len(block)
                if received > CHUNK_MAX:
                    raise BadRequest(f"A piece may hold at most {CHUNK_MAX // (1024 * 1024)} MB.",
                                     code="chunk_too_large", hint="Send smaller pieces.")
                if job.size + received > max_bytes():
                    raise too_big()
                _store(job.id, seq, block)
                seq += 1
            job.size += received
            ImportJob.objects.filter(pk=job.pk).update(size=job.size)
    except IntegrityError:  # the same piece stored concurrently by another request
        raise Conflict("Another piece of this upload arrived at the same time.", code="bad_offset",
                       hint="Send the pieces one after the other.") from None
    return upload_id, job.size


def _upload_row(request: Any, info: TableInfo, upload_id: str, lock: bool = False) -> ImportJob:
    rows = ImportJob.objects.select_for_update() if lock else ImportJob.objects
    job = rows.filter(pk=upload_id, state=UPLOADING, user_id=request.user.pk,
                      table=info.ref.slug).first() if _UPLOAD_ID.match(upload_id or "") else None
    if job is None:
        raise NotFound("No such upload.", hint="Start the upload again.")
    return job


def adopt_upload(request: Any, info: TableInfo, upload_id: str) -> str:
    """The finished upload (of this user, for this table) as the file of a new job: its id."""
    return _upload_row(request, info, upload_id).id


class ChunkReader(io.RawIOBase):
    """The file of an import as a binary stream: one stored piece in memory at a time, fetched in
    order; ``counter[0]`` counts the bytes read (the progress of a run)."""

    def __init__(self, job_id: str, counter: list[int] | None = None) -> None:
        self.job_id, self.counter = job_id, counter
        self._seq = -1
        self._piece = memoryview(b"")
        self._pos = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while self._pos >= len(self._piece):
            found = (ImportChunk.objects.filter(job_id=self.job_id, seq__gt=self._seq).order_by("seq")
                     .values_list("seq", "data").first())
            if found is None:
                return 0
            self._seq, self._piece, self._pos = found[0], memoryview(bytes(found[1])), 0
        n = min(len(buffer), len(self._piece) - self._pos)
        buffer[:n] = self._piece[self._pos:self._pos + n]
        self._pos += n
        if self.counter is not None:
            self.counter[0] += n
        return n


def open_file(job_id: str, counter: list[int] | None = None) -> io.BufferedReader:
    """The stored file of an import as a buffered binary stream."""
    return io.BufferedReader(ChunkReader(job_id, counter), buffer_size=256 * 1024)


def forget_file(job_id: str) -> None:
    """Delete the stored file of a job (imported: the copy has no further use)."""
    ImportChunk.objects.filter(job_id=job_id).delete()
