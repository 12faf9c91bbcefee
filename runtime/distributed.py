"""The few collectives the system needs under DDP; each is a no-op in a single process.

Every function here is a collective: under DDP, every rank must call it, in the same order,
or the ranks wait on each other for good. That is why the system calls them from hooks
that run on every rank the same number of times (``training_step`` with Lightning's
distributed sampler, which gives every rank the same number of batches; ``on_fit_start``),
never from code that only rank 0 runs, and never from ``validation_step`` (the validation
sampler gives ranks unequal numbers of batches so that no video counts twice).
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_autograd
from torch import nn


def world_size() -> int:
    """Processes in the default group; 1 outside ``torch.distributed``."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def gather_rows(tensor: torch.Tensor) -> torch.Tensor:
    """Every rank's rows, concatenated in rank order; gradients flow back to each rank's own rows.

    ``(n_local, ...)`` -> ``(n_global, ...)``; ranks may hold different numbers of rows (they are
    padded for the transfer and the padding is dropped). The backward pass sums, onto each rank's
    rows, the gradients that every rank's copy of the gathered tensor received. When every rank
    computes the same loss from the gathered rows, rank k's rows therefore get ``N`` times the
    gradient of that loss, and DDP's averaging of the parameters' gradients over the ``N`` ranks
    turns that back into exactly the gradient one process would get on the whole batch.
    """
    n_ranks = world_size()
    if n_ranks == 1:
        return tensor
    count = torch.tensor([tensor.shape[0]], device=tensor.device)
    counts = [torch.zeros_like(count) for _ in range(n_ranks)]
    dist.all_gather(counts, count)
    counts = [int(c) for c in counts]
    most = max(counts)
    if tensor.shape[0] < most:
        pad = tensor.new_zeros((most - tensor.shape[0], *tensor.shape[1:]))
        tensor = torch.cat([tensor, pad])
    with warnings.catch_warnings():  # its replacement has no autograd support yet (torch 2.x)
        warnings.filterwarnings("ignore", message=".*all_gather is deprecated")
        parts = dist_autograd.all_gather(tensor)
    return torch.cat([part[:c] for part, c in zip(parts, counts, strict=True)])


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """``obj`` as rank ``src`` holds it, on every rank (a small picklable object)."""
    if world_size() == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


@torch.no_grad()
def broadcast_module(module: nn.Module, src: int = 0) -> None:
    """Overwrite ``module``'s parameters and buffers on every rank with rank ``src``'s, in place.

    What DDP does once when it wraps a model; needed again when rank ``src`` alone changed
    weights after the wrap (the ridge solution loaded into the heads).
    """
    if world_size() == 1:
        return
    for tensor in module.state_dict().values():
        dist.broadcast(tensor, src=src)
