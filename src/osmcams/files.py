"""Atomic file writes: a temporary file beside the target, renamed into place on success."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from osmcams.errors import LockedError, UsageError


def check_target(target: str | os.PathLike[str], overwrite: bool = False) -> Path:
    """`target` as a Path, refused when it exists (unless `overwrite`) or has no directory."""
    target = Path(target)
    if target.is_dir():
        raise UsageError(f"{target} is a directory; give a file name")
    if target.exists() and not overwrite:
        raise UsageError(f"{target} exists; add --overwrite to replace it")
    if not target.parent.is_dir():
        raise UsageError(f"{target.parent} is not a directory")
    return target


@contextmanager
def atomic_path(target: str | os.PathLike[str], overwrite: bool = False) -> Iterator[Path]:
    """A temporary path beside `target` that replaces it only if the block succeeds."""
    target = check_target(target, overwrite)
    # The temporary file keeps the target's extension: GDAL frowns on a GeoPackage without it.
    try:
        fd, name = tempfile.mkstemp(
            prefix=f".{target.stem}.", suffix=f".tmp{target.suffix}", dir=target.parent
        )
    except OSError as e:
        raise UsageError(f"cannot write in {target.parent}: {e.strerror}") from e
    os.close(fd)
    temp = Path(name)
    try:
        yield temp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temp, 0o666 & ~umask)  # as an ordinary new file would be
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)


@contextmanager
def atomic_open(target: str | os.PathLike[str], overwrite: bool = False) -> Iterator[IO[str]]:
    """A text file that appears at `target` only once it is complete."""
    with atomic_path(target, overwrite) as temp, open(temp, "w", encoding="utf-8", newline="") as f:
        yield f
        f.flush()
        os.fsync(f.fileno())


@contextmanager
def exclusive_lock(target: Path, what: str) -> Iterator[None]:
    """Hold `.<target>.lock` while the block runs; LockedError if another run holds it.

    The lock file stays: removing it would let a third run lock a file no one else sees.
    """
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        yield
        return
    lock = target.with_name(f".{target.name}.lock")
    with open(lock, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as e:
            raise LockedError(f"another osmcams run is {what} ({lock} is locked)") from e
        yield
