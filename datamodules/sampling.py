"""The training order and every item's random draws, as functions of (seed, epoch, video) alone.

A DataLoader's usual randomness comes from the processes' generators: ``RandomSampler`` seeds
its permutation from torch's global generator, and each worker process draws from its own
generator, seeded when the workers start. That makes what a run sees depend on what should not
matter: the number of workers (persistent workers are seeded once per run, a single process
draws from the main generator at every epoch) and whether the run was stopped and resumed (new
workers, new seeds). Here an epoch's order is a permutation seeded by ``(seed, epoch)`` and an
item's draws (the repetition subset) by ``(seed, epoch, video)``, so a run sees the same batches
with 0 or 8 workers, on one device or several, resumed or not.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sized

import numpy as np
from torch.utils.data import DistributedSampler

_UINT64 = 2**64


def draw_rng(seed: int, *keys: int) -> np.random.Generator:
    """A generator determined by ``seed`` and ``keys`` (e.g. epoch, video) alone, in any process."""
    return np.random.default_rng([int(seed) % _UINT64, *(int(k) % _UINT64 for k in keys)])


class EpochOrderSampler(DistributedSampler):
    """Training positions in an order drawn from ``(seed, epoch)``, each tagged with its epoch.

    Yields ``(position, epoch)`` pairs, which :class:`datamodules.dataset.ClipDataset` reads as
    "item ``position``, with the draws of ``epoch``": the epoch travels with the index to the
    worker processes, so their own generators are never used.

    Parameters
    ----------
    dataset : the dataset (only its length is used)
    seed : the order's seed
    epoch_of : called at the start of each pass over the data for the epoch it serves; default
        the value of the last ``set_epoch`` call (Lightning calls it before each epoch). The data
        module passes the trainer's epoch counter: Lightning creates a resumed run's first
        iterator, and its worker processes fetch ahead from it, before calling ``set_epoch``.
    skip_of : called with ``epoch_of``; the number of this rank's first positions to leave out
        (those a resumed run had already trained on in a part-way epoch). Default none.
    num_replicas, rank : under DDP, each rank takes every ``num_replicas``-th position of the
        same permutation (padded by wrapping round, as ``DistributedSampler`` does). As a
        ``DistributedSampler`` it is left in place by Lightning instead of being wrapped.
    """

    def __init__(self, dataset: Sized, seed: int, epoch_of: Callable[[], int] | None = None,
                 num_replicas: int = 1, rank: int = 0, skip_of: Callable[[], int] | None = None):
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed, drop_last=False)
        self.epoch_of = epoch_of
        self.skip_of = skip_of

    def order(self, epoch: int) -> np.ndarray:
        """This rank's positions for ``epoch``, int64 array of shape (len(self),)."""
        n = len(self.dataset)
        order = draw_rng(self.seed, epoch).permutation(n)
        if self.total_size > n:  # pad so every rank gets the same number of positions
            order = np.resize(order, self.total_size)
        return order[self.rank:self.total_size:self.num_replicas]

    def __iter__(self) -> Iterator[tuple[int, int]]:
        epoch = int(self.epoch_of()) if self.epoch_of is not None else self.epoch
        # A run resumed from a mid-epoch checkpoint (a SLURM requeue) goes on after the
        # positions this rank had already trained on in that epoch.
        skip = int(self.skip_of()) if self.skip_of is not None else 0
        return iter([(int(i), epoch) for i in self.order(epoch)[skip:]])
