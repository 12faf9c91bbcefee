"""Checkpoints written beside the file they replace, synced, then renamed over it.

Lightning's ``TorchCheckpointIO`` writes through an fsspec transaction: the bytes go to a temporary
file in ``$TMPDIR`` and are then *moved* over the target. With the run folder on another file
system than ``$TMPDIR`` (scratch vs node-local /tmp, the usual cluster layout) that move is a copy
into the old ``last.ckpt``: when the disk fills (or the process is killed) part-way, the only
resumable checkpoint is left cut short.

:class:`AtomicCheckpointIO` writes ``.<name>.partial-<pid>`` in the checkpoint's own folder,
``fsync``s it, and ``os.replace``s it over the target (atomic on one file system), then syncs the
folder. The previous checkpoint is whole until the new one is: a full disk is an ``OSError``
naming the file, with the previous one intact; a kill leaves a ``.partial-<pid>`` file, removed by
the next save once that process is gone. The price: room for the old and the new file at once.
Paths that are not local files (``s3://``...) keep
Lightning's own writer.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

from runtime.processes import pid_alive

PARTIAL_MARK = ".partial-"


def _remove_stale_partials(folder: Path, name: str) -> None:
    """``.<name>.partial-<pid>`` files of processes that no longer run (killed during a save)."""
    for stale in folder.glob(f".{name}{PARTIAL_MARK}*"):
        pid = stale.name.rsplit("-", 1)[-1]
        if pid.isdigit() and int(pid) != os.getpid() and not pid_alive(int(pid)):
            stale.unlink(missing_ok=True)


def atomic_torch_save(obj, path: str | Path) -> None:
    """``torch.save(obj, path)`` that never leaves ``path`` cut short: a partial file beside it,
    fsync, rename. On failure the partial file is removed and ``path`` is as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_partials(path.parent, path.name)
    buffer = io.BytesIO()
    torch.save(obj, buffer)  # serialised first: a failure here touches no file
    partial = path.parent / f".{path.name}{PARTIAL_MARK}{os.getpid()}"
    try:
        with open(partial, "wb") as f:
            f.write(buffer.getbuffer())
            f.flush()
            os.fsync(f.fileno())
        os.replace(partial, path)
    except OSError as err:
        partial.unlink(missing_ok=True)
        kept = f"the previous {path.name} is unchanged" if path.exists() else f"no {path.name} was written"
        raise OSError(err.errno, f"could not write the checkpoint {path} ({len(buffer.getbuffer())} bytes): "
                                 f"{err.strerror}; {kept}") from err
    except BaseException:  # KeyboardInterrupt, SIGTERM: the partial file must not stay
        partial.unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)  # the rename itself survives a crash
    finally:
        os.close(folder)


class AtomicCheckpointIO(TorchCheckpointIO):
    """``TorchCheckpointIO`` whose local saves go through :func:`atomic_torch_save`."""

    def save_checkpoint(self, checkpoint: dict, path, storage_options=None) -> None:
        if storage_options is not None or "://" in str(path):
            return super().save_checkpoint(checkpoint, path, storage_options)
        atomic_torch_save(checkpoint, path)


def use_atomic_checkpoints(trainer) -> bool:
    """Give ``trainer``'s strategy :class:`AtomicCheckpointIO` when it has Lightning's default writer
    (a plugin the user chose is left alone); returns whether it did."""
    if type(trainer.strategy.checkpoint_io) is not TorchCheckpointIO:
        return False
    trainer.strategy.checkpoint_io = AtomicCheckpointIO()
    return True
