"""Whether the voxel heads can be trained where the run trains, said before the first step.

A linear read-out per voxel has ``n_features x n_voxels`` weights: for the whole-brain BOLD Moments
release (1.08M voxels over ten subjects) and 1280 features that is 5.5 GB of float32 weights, and
training them with AdamW adds their gradients and two moment estimates: 22 GB in all, more than a
24 GB GPU holds beside the backbone. :func:`check_heads_fit` compares that need with the memory free
on the training device (:func:`ridge.device_batches.available_bytes`) and refuses the run in one
line that says what to do instead, rather than letting it die of an out-of-memory error mid-way.
"""

from __future__ import annotations

import torch

from lightning_modules.settings import SettingsError
from ridge.device_batches import available_bytes

#: float32 copies AdamW keeps per trainable head weight: the weight, its gradient, exp_avg, exp_avg_sq.
COPIES_ON_DEVICE = 4


class HeadsTooLargeError(SettingsError):
    """The voxel heads' weights, gradients and Adam states would not fit the training device."""


def heads_bytes(n_weights: int, device: torch.device, bytes_per_weight: int = 4) -> int:
    """Bytes training ``n_weights`` head weights still needs on ``device``: all four copies on a GPU
    (the weights move there), the three new ones on a CPU (the weights are already in its memory)."""
    copies = COPIES_ON_DEVICE if torch.device(device).type == "cuda" else COPIES_ON_DEVICE - 1
    return copies * n_weights * bytes_per_weight


def check_heads_fit(n_weights: int, n_voxels: int, device, free: int | None = None) -> None:
    """Raise :class:`HeadsTooLargeError` when training ``n_weights`` head weights (for ``n_voxels``
    voxels) would need more than the ``free`` bytes of ``device`` (default: what it has free now)."""
    device = torch.device(device)
    need = heads_bytes(n_weights, device)
    free = available_bytes(device) if free is None else int(free)
    if need <= free:
        return
    gib = 2**30
    raise HeadsTooLargeError(
        f"the voxel heads ({n_voxels:,} voxels, {n_weights:,} weights) need {need / gib:.1f} GiB on {device} "
        f"for their weights, gradients and AdamW states, but {free / gib:.1f} GiB is free: train on fewer "
        "voxels (--data.track mini --data.rois BMDgeneral, or other --data.rois / fewer --data.subjects), "
        "use a lower-dimensional read-out (a backbone or layer with fewer features), fit only the closed-form "
        "ridge map of every voxel (--model.ridge.only true: no gradients, no Adam states), or a device with "
        "more memory")


def check_model_heads(model) -> None:
    """:func:`check_heads_fit` for :class:`lightning_modules.system.EncodingModel` ``model`` on its
    trainer's device (nothing to check for a ridge-only run: it takes no gradient step)."""
    if model.settings.ridge.only or model._trainer is None:
        return
    n_weights = sum(p.numel() for p in model.model.head_parameters())
    check_heads_fit(n_weights, model.layout.n_voxels, model.trainer.strategy.root_device)
