"""Out of device memory: say which settings to lower instead of only "CUDA out of memory".

``explain_out_of_memory`` wraps training (``train.py``) and prediction (``predict.py``). A
``torch.cuda.OutOfMemoryError``, or a ``RuntimeError`` whose message says "out of memory" (other
back ends, cuDNN/cuBLAS allocation failures), is re-raised as :class:`DeviceOutOfMemoryError`
with the settings that set the memory footprint, their current values where known, and the
original error chained (``raise ... from``) so nothing of it is lost.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


class DeviceOutOfMemoryError(RuntimeError):
    """The device ran out of memory; the message lists what to lower."""


def is_out_of_memory(err: BaseException) -> bool:
    return isinstance(err, torch.cuda.OutOfMemoryError) or (
        isinstance(err, RuntimeError) and "out of memory" in str(err).lower())


#: (setting, what it changes) for training; the memory footprint scales with the first three.
TRAIN_SETTINGS = (
    ("data.batch_size", "videos per step; keep the effective batch with trainer.accumulate_grad_batches"),
    ("data.num_frames", "frames per clip, each a full backbone pass"),
    ("data.image_size", "the input resolution (linked to model.image_size); memory grows with its square"),
    ("data.subjects / data.rois", "voxels per head batch: the heads map to every selected voxel in one matmul "
                                  "(no chunking setting), so fewer subjects or regions shrink them"),
    ("trainer.precision", "bf16-mixed halves activation memory on GPUs that support it"),
    ("model.optimisation.freeze_backbone_epochs", "a frozen backbone stores no activations for backward (-1: always)"),
)
PREDICT_SETTINGS = (
    ("--batch_size", "videos per forward pass"),
    ("--precision", "bf16-mixed halves activation memory"),
    ("--devices / --strategy ddp", "spread the videos over more devices"),
)


def advice(stage: str, settings, current: dict | None = None) -> str:
    """The message: what ran out, then one line per setting, with its value when given."""
    current = current or {}
    lines = [f"out of device memory during {stage}. Lower one of these settings and run again:"]
    for name, why in settings:
        value = f" (now {current[name]})" if name in current else ""
        lines.append(f"  {name}{value}: {why}")
    return "\n".join(lines)


@contextmanager
def explain_out_of_memory(stage: str, settings=TRAIN_SETTINGS, current=None) -> Iterator[None]:
    """Re-raise an out-of-memory error inside the block as :class:`DeviceOutOfMemoryError`.

    ``current`` is a dict of the settings' values, or a callable returning one (called only
    on failure, when the objects holding them exist).
    """
    try:
        yield
    except DeviceOutOfMemoryError:
        raise
    except (torch.cuda.OutOfMemoryError, RuntimeError) as err:
        if not is_out_of_memory(err):
            raise
        values = current() if callable(current) else current
        raise DeviceOutOfMemoryError(advice(stage, settings, values) + f"\n(original error: {err})") from err
