"""A clip cache being built: the partial array and one status byte per row, so a build resumes.

``<stem>.npy.partial`` holds the array being filled (uint8, the cache's shape) and ``<stem>.rows``
one byte per row, 1 once that row's data is flushed. The rows file is written last and removed
first: without it no row counts as done. The array's blocks are reserved before any row is written
(:func:`datamodules.disk_space.reserve`): a memory map writing onto a full disk would otherwise
kill the process with SIGBUS and no message.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from datamodules.disk_space import ensure_free_space, reserve

_WHAT = "the clip cache"
_HEADER = 128  # np.lib.format's header for these shapes, rounded up


def open_partial(partial: Path, rows: Path, shape: tuple, setting: str) -> tuple[np.ndarray, np.ndarray]:
    """``(memmap uint8 of shape, row status uint8 (shape[0],))``: the interrupted build's when its
    files are consistent with ``shape``, else new ones (after checking the free space). ``setting``
    names the option that moves the cache, for the disk-full error."""
    n_rows = shape[0]
    if partial.is_file() and rows.is_file() and rows.stat().st_size == n_rows:
        try:
            mm = np.lib.format.open_memmap(partial, mode="r+")
            if mm.shape == shape and mm.dtype == np.uint8:
                reserve(partial, partial.stat().st_size, _WHAT, setting)  # may be sparse
                return mm, np.frombuffer(rows.read_bytes(), np.uint8).copy()
        except ValueError:
            pass
    rows.unlink(missing_ok=True)  # rows file last: without it nothing counts as done
    ensure_free_space(partial, _HEADER + int(np.prod(shape)) + n_rows, _WHAT, setting)
    mm = np.lib.format.open_memmap(partial, mode="w+", dtype=np.uint8, shape=shape)
    try:
        reserve(partial, partial.stat().st_size, _WHAT, setting)
        rows.write_bytes(bytes(n_rows))
    except OSError:
        del mm
        partial.unlink(missing_ok=True)
        rows.unlink(missing_ok=True)
        raise
    return mm, np.zeros(n_rows, np.uint8)
