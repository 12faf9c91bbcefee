"""Room on disk for a file whose size is known before it is written.

The clip cache is written through a memory map: on a full disk the kernel answers a page
write with SIGBUS and the process dies with exit code 135 and no message. The features cache
fails half-written with ``OSError: 19200 requested and 9184 written``, naming nothing. Both
sizes are known in advance, so both are checked first (:func:`ensure_free_space`), and the
clip cache's file is reserved in full (:func:`reserve`, ``posix_fallocate``) before any page is
mapped, so a disk that fills up meanwhile gives an error, not a signal.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path


class DiskFullError(OSError):
    """Not enough free space for a file of known size; the message names the path and the sizes."""


def _nearest_existing(path: Path) -> Path:
    path = Path(path).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _gb(n: int) -> str:
    return f"{n / 1e9:.3f} GB ({n:,} bytes)"


def ensure_free_space(path: str | Path, needed: int, what: str, setting: str) -> None:
    """Raise :class:`DiskFullError` unless the file system holding ``path`` has ``needed`` bytes free.

    ``what`` names the file (``"the clip cache"``), ``setting`` the option that moves it elsewhere.
    """
    free = shutil.disk_usage(_nearest_existing(Path(path).parent)).free
    if free < needed:
        raise DiskFullError(errno.ENOSPC, f"{path}: {what} needs {_gb(needed)}, but only {_gb(free)} are free "
                                          f"there; free some space or set {setting} to a disk with room")


def reserve(path: str | Path, size: int, what: str, setting: str) -> None:
    """Allocate ``size`` bytes of ``path``'s blocks now (``posix_fallocate``), so writing through a
    memory map later cannot hit a full disk."""
    if not hasattr(os, "posix_fallocate"):
        return
    fd = os.open(path, os.O_RDWR)
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as err:
        if err.errno in (errno.EOPNOTSUPP, errno.EINVAL):  # file systems without fallocate
            return
        raise DiskFullError(err.errno, f"{path}: could not reserve {_gb(size)} for {what} ({err.strerror}); free "
                                       f"some space or set {setting} to a disk with room") from err
    finally:
        os.close(fd)
