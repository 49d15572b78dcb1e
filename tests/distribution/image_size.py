"""The Docker image's expected size: the base image's published size plus the layers the
Dockerfile adds, measured on the reproduced virtualenv (docs/docker.md shows the arithmetic).

The runtime stage adds three layers: the ``useradd``/``mkdir`` one (a few kB: ``--no-log-init``
keeps the sparse lastlog file out), ``COPY --from=build /opt/venv`` (measured here: the tar of
the venv, as the layer stores it, and its gzip, as a registry stores it) and nothing from apt
(the runtime stage installs no Debian package; nodejs, npm and binutils stay in the build stage).

    python -m tests.distribution.image_size VENV [LEVEL]   prints the table

Registries store layers gzipped at level 6 (docs/docker.md's figure); the test measures at level 1,
four times faster and a little larger, so its budget check errs on the safe side.
"""

from __future__ import annotations

import gzip
import io
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

BASE_IMAGE = "python:3.12-slim"
# Published figures for linux/amd64, not measured here (no Docker engine): Docker Hub lists the
# compressed size of the tag; `docker images` shows the unpacked one after a pull. Both move a
# little with each Debian/Python patch release; update them when the tag's listing changes.
BASE_COMPRESSED_MB = 42.0
BASE_UNPACKED_MB = 130.0
USER_LAYER_MB = 0.1
APT_RUNTIME_MB = 0.0
REQUIREMENT_MB = 200.0


class _Counter(io.RawIOBase):
    """A write-only sink that counts bytes (the layer is measured, never kept)."""

    def __init__(self) -> None:
        self.count = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.count += len(data)
        return len(data)


@dataclass(frozen=True)
class Estimate:
    venv_tar: int
    venv_gzip: int

    @property
    def unpacked_mb(self) -> float:
        return BASE_UNPACKED_MB + USER_LAYER_MB + APT_RUNTIME_MB + self.venv_tar / 1e6

    @property
    def compressed_mb(self) -> float:
        return BASE_COMPRESSED_MB + USER_LAYER_MB + APT_RUNTIME_MB + self.venv_gzip / 1e6

    def table(self) -> str:
        rows = [
            ("layer", "unpacked MB", "compressed MB"),
            (f"{BASE_IMAGE} (published)", f"{BASE_UNPACKED_MB:.1f}", f"{BASE_COMPRESSED_MB:.1f}"),
            ("useradd + mkdir /data /app", f"{USER_LAYER_MB:.1f}", f"{USER_LAYER_MB:.1f}"),
            ("apt-get in the runtime stage", f"{APT_RUNTIME_MB:.1f}", f"{APT_RUNTIME_MB:.1f}"),
            ("/opt/venv (measured: tar, tar.gz)", f"{self.venv_tar / 1e6:.1f}", f"{self.venv_gzip / 1e6:.1f}"),
            ("total", f"{self.unpacked_mb:.1f}", f"{self.compressed_mb:.1f}"),
        ]
        return "\n".join(f"{a:<38} {b:>12} {c:>14}" for a, b, c in rows)


def layer_sizes(folder: Path, level: int = 6, arcname: str = "opt/venv") -> tuple[int, int]:
    """(tar bytes, gzip bytes at ``level``) of ``folder`` archived as one image layer."""
    raw, packed = _Counter(), _Counter()
    with gzip.GzipFile(fileobj=packed, mode="wb", compresslevel=level, mtime=0) as gz:
        tee = _Tee(raw, gz)
        with tarfile.open(fileobj=tee, mode="w|") as tar:  # type: ignore[call-overload]
            tar.add(str(folder), arcname=arcname)
    return raw.count, packed.count


class _Tee(io.RawIOBase):
    def __init__(self, *sinks: io.RawIOBase | gzip.GzipFile) -> None:
        self.sinks = sinks

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        for sink in self.sinks:
            sink.write(data)
        return len(data)


def estimate(venv: Path, level: int = 6) -> Estimate:
    tar_bytes, gzip_bytes = layer_sizes(venv, level)
    return Estimate(venv_tar=tar_bytes, venv_gzip=gzip_bytes)


if __name__ == "__main__":
    print(estimate(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 6).table())
