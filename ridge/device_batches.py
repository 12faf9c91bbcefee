"""How many targets (voxels) a ridge fit takes at once, sized from the memory free on its device,
and the exact arithmetic its solves need there.

On a GPU the CV products and the refit of a batch of targets live on the device together; the
batch is as large as half the free device memory allows (``torch.cuda.mem_get_info`` plus what
PyTorch's allocator holds cached), so 161k whole-brain voxels (or a million) go through in a few
batches without running out of memory. On a CPU the batch keeps its old default,
:data:`CPU_TARGET_BATCH`, unless the available RAM (``MemAvailable``) is smaller.

The solves must not run under autocast (``--trainer.precision bf16-mixed`` would turn the float32
CV products into bfloat16: a 1% error and other penalties chosen) nor with TF32 matrix products
(``torch.set_float32_matmul_precision("high")``: 10-bit mantissas); :func:`exact_arithmetic`
turns both off around a fit.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import torch

#: Targets per batch on a CPU (the solver's default before batches were sized).
CPU_TARGET_BATCH = 20000
#: Share of the free memory a batch may plan for: the estimate below leaves out the allocator's
#: rounding and fragmentation.
MEMORY_FRACTION = 0.5


def available_bytes(device: torch.device) -> int:
    """Bytes free for new tensors on ``device``: the driver's free memory plus what PyTorch's
    caching allocator holds unused on a GPU; ``MemAvailable`` of ``/proc/meminfo`` on a CPU
    (``os.sysconf`` where that file does not exist)."""
    device = torch.device(device)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device))
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def bytes_per_target(n_videos: int, n_features: int, n_alphas: int, n_folds: int,
                     dtype: torch.dtype = torch.float32) -> int:
    """Peak bytes one target adds to a batch of :class:`ridge.solver.RidgeCV`'s fit.

    Its centred column and copies (4 ``n_videos``), a fold's predictions for every penalty with
    their products in the correlation (3 ``n_alphas * n_val``), the eigenbasis projections of
    the refit (3 ``r``, ``r = min(n_videos, n_features)``) and its coefficients (2
    ``n_features``), in ``dtype``; plus the float64 CV scores (2 ``n_alphas``).
    """
    itemsize = torch.empty((), dtype=dtype).element_size()
    n_val = -(-n_videos // n_folds)
    rank = min(n_videos, n_features)
    return itemsize * (4 * n_videos + 3 * n_alphas * n_val + 3 * rank + 2 * n_features) + 16 * n_alphas


def target_batch_size(device, n_targets: int, n_videos: int, n_features: int, n_alphas: int, n_folds: int,
                      dtype: torch.dtype = torch.float32, free: int | None = None) -> int:
    """Targets per batch: what :data:`MEMORY_FRACTION` of the free memory holds, at least 1 and at
    most ``n_targets``; on a CPU also at most :data:`CPU_TARGET_BATCH`.

    ``free`` : bytes available, default :func:`available_bytes` of ``device`` (tests force it).
    """
    device = torch.device(device)
    free = available_bytes(device) if free is None else int(free)
    per_target = bytes_per_target(n_videos, n_features, n_alphas, n_folds, dtype)
    size = int(MEMORY_FRACTION * free) // per_target
    if device.type == "cpu":
        size = min(size, CPU_TARGET_BATCH)
    return max(1, min(size, n_targets))


def target_batches(n_targets: int, batch_size: int) -> list[slice]:
    """Consecutive column slices of at most ``batch_size`` targets covering ``range(n_targets)``."""
    return [slice(start, min(start + batch_size, n_targets)) for start in range(0, n_targets, batch_size)]


@contextlib.contextmanager
def exact_arithmetic(device) -> Iterator[None]:
    """No autocast on ``device``'s type and no TF32 matrix products inside (restored after)."""
    device = torch.device(device)
    tf32 = torch.backends.cuda.matmul.allow_tf32
    try:
        torch.backends.cuda.matmul.allow_tf32 = False
        with torch.autocast(device.type, enabled=False):
            yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = tf32
