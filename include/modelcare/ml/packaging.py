"""Reproducible archives: the same files and installed versions always give the same bytes.

Used for the SageMaker training source (``training.build_source_tarball``) and the model/serving
packages (``serving.package``). Written by hand because the standard library's tarfile and gzip
stamp times and owners; pinning them is all it takes.
"""

from __future__ import annotations

import gzip
import io
import logging
import tarfile
from collections.abc import Iterable
from pathlib import PurePosixPath

log = logging.getLogger(__name__)

REPRODUCIBLE_MTIME = 315532800  # 1980-01-01T00:00:00Z, as in reproducible builds


def pinned_requirements(names: Iterable[str], what: str) -> bytes:
    """``requirements.txt`` pinning this environment's versions of ``names`` (missing ones are left out)."""
    from importlib.metadata import PackageNotFoundError, version

    lines = []
    for name in names:
        try:
            lines.append(f"{name}=={version(name)}")
        except PackageNotFoundError:
            log.warning("%s: %s is not installed here; requirements.txt leaves it out", what, name)
    return ("\n".join(lines) + "\n").encode()


def _normalise(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.mtime = REPRODUCIBLE_MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def deterministic_tar_gz(files: dict[str, bytes]) -> bytes:
    """tar.gz of ``{posix path: content}``: sorted entries with their directories, fixed times and owners,
    modes 0755/0644, and a gzip header without time or name."""
    directories = sorted({str(parent) for name in files for parent in PurePosixPath(name).parents} - {"."})
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for directory in directories:
            info = _normalise(tarfile.TarInfo(directory))
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for name in sorted(files):
            info = _normalise(tarfile.TarInfo(name))
            info.size, info.mode = len(files[name]), 0o644
            tar.addfile(info, io.BytesIO(files[name]))
    packed = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=packed, mtime=0) as gz:
        gz.write(raw.getvalue())
    return packed.getvalue()
