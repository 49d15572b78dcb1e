"""The file side of a CSV import: where an upload goes, how big it may be, pieces of big files.

An upload streams into ``<data dir>/imports/<random>.csv`` (a name the tool makes; nothing from the
request names a path), refused past ``PGADMIN_IMPORT_MAX_MB`` while it streams: ``UploadHandler``
for a multipart body, ``save_text`` for pasted text, ``append_chunk``/``adopt_upload`` for a file
sent in pieces (under daphne a request body is queued whole in memory before the application reads
it, so the page's script and API clients send big files 4 MB at a time).
"""

from __future__ import annotations

import re
import threading
import uuid
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler, StopUpload

from core.exceptions import BadRequest, Conflict, NotFound
from databrowser import actions
from databrowser.query import TableInfo

_lock = threading.Lock()


def imports_dir() -> Path:
    path = Path(settings.DATA_DIR) / "imports"
    path.mkdir(mode=0o700, exist_ok=True)
    return path


def max_bytes() -> int:
    return int(settings.IMPORT_MAX_MB) * 1024 * 1024


def too_big() -> BadRequest:
    return BadRequest(f"The file is larger than {settings.IMPORT_MAX_MB} MB, the import limit.", code="file_too_large",
                      status=413, hint="Split the file, or raise PGADMIN_IMPORT_MAX_MB.")


# --- upload ----------------------------------------------------------------------------------

class UploadHandler(FileUploadHandler):
    """Streams the uploaded file straight into the imports folder, under a name of our own, and
    stops past the size limit (nothing is kept in memory, nothing lands elsewhere)."""

    def __init__(self, request: Any = None) -> None:
        super().__init__(request)
        self.path: Path | None = None
        self.exceeded = False
        self._fh: Any = None
        self._size = 0

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        if self.field_name != "file" or self.path is not None:
            raise StopUpload(connection_reset=False)  # one file, in the field "file"
        self.path = imports_dir() / f"{uuid.uuid4().hex}.csv"
        self._fh = open(self.path, "wb")  # noqa: SIM115 - closed in file_complete / discard

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        self._size += len(raw_data)
        if self._size > max_bytes():
            self.exceeded = True
            self.discard()
            raise StopUpload(connection_reset=True)
        self._fh.write(raw_data)
        return None

    def file_complete(self, file_size: int) -> UploadedFile | None:
        if self._fh is None:
            return None
        self._fh.close()
        return UploadedFile(file=None, name=self.file_name, content_type=self.content_type, size=self._size)

    def discard(self) -> None:
        """Remove the file (a refused or failed request)."""
        if self._fh is not None and not self._fh.closed:
            self._fh.close()
        if self.path is not None:
            self.path.unlink(missing_ok=True)
            self.path = None


def save_text(text: str) -> Path:
    """Pasted CSV text, written to a file like an upload."""
    data = text.encode("utf-8")
    if len(data) > max_bytes():
        raise too_big()
    path = imports_dir() / f"{uuid.uuid4().hex}.csv"
    path.write_bytes(data)
    return path


# Chunked upload: under daphne a request body is queued whole in memory before the app reads it,
# so a big file comes in pieces (the page's script and API clients), each appended to the file.
CHUNK_MAX = 4 * 1024 * 1024
_UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")
_uploads: dict[str, tuple[int, str]] = {}  # upload id -> (user id, table slug)


def append_chunk(request: Any, info: TableInfo, upload_id: str, offset: int, stream: Any) -> tuple[str, int]:
    """Append one piece (the request body, read in blocks) to an upload; a new upload without
    ``upload_id``. ``offset`` must equal the bytes received so far (a retried piece is refused)."""
    actions.require_writer(request, "data.import", info)
    if not upload_id:
        upload_id = uuid.uuid4().hex
        with _lock:
            _uploads[upload_id] = (request.user.pk, info.ref.slug)
        (imports_dir() / f"{upload_id}.part").touch()
    path = _upload_path(request, info, upload_id)
    size = path.stat().st_size
    if offset != size:
        raise Conflict(f"This upload has {size} bytes; the piece starts at {offset}.", code="bad_offset",
                       hint=f"Send the piece that starts at byte {size}.", detail={"size": size})
    received = 0
    with open(path, "ab") as fh:
        while block := stream.read(64 * 1024):
            received += len(block)
            if received > CHUNK_MAX or size + received > max_bytes():
                fh.truncate(size)
                raise too_big() if size + received > max_bytes() else BadRequest(
                    f"A piece may hold at most {CHUNK_MAX // (1024 * 1024)} MB.", code="chunk_too_large",
                    hint="Send smaller pieces.")
            fh.write(block)
    return upload_id, size + received


def _upload_path(request: Any, info: TableInfo, upload_id: str) -> Path:
    with _lock:
        owner = _uploads.get(upload_id) if _UPLOAD_ID.match(upload_id or "") else None
    if owner != (request.user.pk, info.ref.slug):
        raise NotFound("No such upload.", hint="Start the upload again.")
    return imports_dir() / f"{upload_id}.part"


def adopt_upload(request: Any, info: TableInfo, upload_id: str) -> Path:
    """The finished upload as the file of a new job."""
    path = _upload_path(request, info, upload_id)
    with _lock:
        _uploads.pop(upload_id, None)
    final = path.with_suffix(".csv")
    path.rename(final)
    return final
