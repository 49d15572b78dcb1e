"""The data dir is private: folders 0700, files 0600, for everything the tool writes there.

The data dir holds the internal SQLite (sessions, password hashes, token hashes), the secret
key, ``pg_dump`` backups, run logs and the embedded PostgreSQL cluster: nothing in it may be
readable by another OS user. ``make_private`` sets the process umask to 0o077 first, so that
every file created afterwards by this process and its children (SQLite journals and WAL files,
``pg_dump`` output, ``initdb``) is born private, then repairs what an older version (or a
copy, an unpacked backup) left group- or world-readable.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

PRIVATE_UMASK = 0o077


def make_private(data_dir: Path) -> int:
    """Set the umask, create ``data_dir`` 0700 and strip group/other bits below it.

    Returns how many entries were repaired. Only group/other bits are removed (an executable
    keeps its owner's x bit); symlinks are not followed and entries owned by another user or
    vanishing meanwhile (a running PostgreSQL deletes temporary files) are skipped.
    """
    os.umask(PRIVATE_UMASK)
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    repaired = _restrict(data_dir)
    for root, dirs, files in os.walk(data_dir):
        for name in dirs + files:
            repaired += _restrict(Path(root) / name)
    return repaired


def _restrict(path: Path) -> int:
    try:
        info = path.lstat()
        if not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
            return 0  # sockets, symlinks, fifos: the 0700 folders above them are the barrier
        if info.st_mode & 0o077 == 0 or info.st_uid != os.getuid():
            return 0
        os.chmod(path, stat.S_IMODE(info.st_mode) & 0o700)
        return 1
    except (FileNotFoundError, PermissionError):
        return 0
