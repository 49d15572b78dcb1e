"""The reader role's stored credentials: ``reader-role.json`` in the data dir (0600 in 0700).

Apart from ``core.reader_role`` (which creates the role and imports ``core.target``) because
``core.target`` reads them here for every engine: it imports nothing of the project, so no cycle.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from django.conf import settings
from sqlalchemy.engine import URL

STORE_NAME = "reader-role.json"

_cache: dict[str, tuple[float, Any]] = {}


def store_path() -> Path:
    return Path(settings.DATA_DIR) / STORE_NAME


def _target_key(url: URL) -> str:
    socket_dir = url.query.get("host")  # a Unix-socket directory (what core.target.socket_dir reads)
    host = url.host or (socket_dir if isinstance(socket_dir, str) else None) or "local"
    return f"{host}:{url.port or 5432}/{url.database or ''}"


def stored_url(for_target: URL) -> str | None:
    """The stored reader URL when it was made for this target's server and database."""
    path = store_path()
    try:
        mtime = path.stat().st_mtime
    except OSError:
        return None
    cached = _cache.get("store")
    if cached is None or cached[0] != mtime:
        try:
            cached = (mtime, json.loads(path.read_text()))
        except (OSError, ValueError):
            return None
        _cache["store"] = cached
    data = cached[1]
    if not isinstance(data, dict) or data.get("target") != _target_key(for_target):
        return None
    url = data.get("url")
    return url if isinstance(url, str) and url else None


def write(for_target: URL, reader: URL, data_dir: Path | None = None) -> Path:
    """Write the reader's URL to the data dir, readable by this OS user only (0600 in 0700)."""
    path = (Path(data_dir) / STORE_NAME) if data_dir is not None else store_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    body = json.dumps({"target": _target_key(for_target), "role": reader.username,
                       "url": reader.render_as_string(hide_password=False)}, indent=2)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(body)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    forget()
    return path


def forget() -> None:
    """Drop the cached file contents (read again at the next call)."""
    _cache.clear()
