"""One ``predict.py`` at a time per output folder: claimed with an exclusive lock, as training
claims its run folder (:mod:`run_folder.claim`).

Two exports into the same ``--output_dir`` at once shared the shard folder
(``OUT/.prediction_shards``): one could merge the other's rows and exit 0 with a manifest naming
its own checkpoint. :func:`claim_output_dir` takes an exclusive ``flock`` on ``OUT/.predict.lock``
(holding the pid) for the whole run, in the first process only (the other ranks of a multi-device
run share its claim); a second export is refused at once, naming the folder and the holder. The
kernel releases the lock when the process ends, killed or not; the lock file is removed on exit.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

LOCK_NAME = ".predict.lock"


class OutputInUseError(RuntimeError):
    """Another live ``predict.py`` is writing into this output folder."""


def _lock(lock: Path, out: Path):
    """``lock`` opened and exclusively locked; the file locked must still be the one at ``lock``
    (a previous holder unlinks it on exit: a lock on the unlinked file would hold nothing)."""
    while True:
        handle = open(lock, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise OutputInUseError(
                f"{out} is being written by another predict.py (pid {holder}): two exports into one folder "
                "would mix their predictions; choose another --output_dir, or wait for it to end") from None
        try:
            if os.fstat(handle.fileno()).st_ino == os.stat(lock).st_ino:
                return handle
        except FileNotFoundError:
            pass
        handle.close()


@contextlib.contextmanager
def claim_output_dir(out: Path, first_process: bool = True):
    """Hold ``out`` for this export (``first_process``; other ranks pass False and hold nothing).

    Creates ``out`` if needed; a folder it created and that stays empty is removed on exit."""
    if not first_process:
        yield
        return
    out = Path(out)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    lock = out / LOCK_NAME
    handle = _lock(lock, out)
    try:
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        try:
            yield
        finally:
            lock.unlink(missing_ok=True)  # still ours: unlinked before the lock is released
            if created:
                with contextlib.suppress(OSError):
                    out.rmdir()  # only if nothing was written
    finally:
        handle.close()
