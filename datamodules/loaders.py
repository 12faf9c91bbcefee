"""Batches served in an order that a restart reproduces, for :class:`datamodules.algonauts.AlgonautsDataModule`.

The training order and the repetition draws follow (seed, epoch, video), never a process's random
generator (:mod:`datamodules.sampling`): the same batches whatever ``num_workers`` is, and a run
resumed from a checkpoint (even one a SLURM requeue saved part-way through an epoch) continues
with the batches the interrupted run would have drawn. Evaluation on several devices splits the
videos without the repeats Lightning's default sampler pads with.
"""

from __future__ import annotations

import os

import torch
from pytorch_lightning.overrides.distributed import UnrepeatedDistributedSampler
from torch.utils.data import DataLoader

from datamodules.dataset import ClipDataset
from datamodules.sampling import EpochOrderSampler
from runtime.lightning_overrides import (
    batches_done_before_restart,
    epoch_batches_done,
    epochs_processed,
)


class EpochOrderLoaders:
    """The loader-building half of a LightningDataModule whose ``hparams`` hold ``seed``,
    ``batch_size`` and ``num_workers``; it saves and restores the epoch a resumed run trains first."""

    _resumed_epoch: int = 0

    @property
    def draw_seed(self) -> int:
        """Seed of the training order and the repetition subsets: ``seed`` mixed with the run's
        ``seed_everything`` (Lightning's ``PL_GLOBAL_SEED``), so other run seeds also see other orders."""
        return int(self.hparams.seed) * 1_000_003 + int(os.environ.get("PL_GLOBAL_SEED", 0))

    def _training_epoch(self) -> int:
        """The epoch the next pass over the training data serves (what Lightning passes to ``set_epoch``).

        A resumed run creates its first training iterator (and its workers fetch ahead from it)
        before Lightning restores its loop counters: that pass takes the epoch the checkpoint
        recorded (:meth:`state_dict`).
        """
        return max(self._resumed_epoch, epochs_processed(self.trainer))

    def state_dict(self) -> dict:
        """Saved in checkpoints: the epoch a run resumed from this checkpoint trains first (the next
        one once this epoch's training batches are done; this one again from a mid-epoch checkpoint)."""
        if self.trainer is None:
            return {}
        # current_epoch counts finished epochs; it moves on only after the end-of-epoch checkpoints.
        return {"next_training_epoch": self.trainer.current_epoch + int(epoch_batches_done(self.trainer))}

    def load_state_dict(self, state_dict: dict) -> None:
        self._resumed_epoch = int(state_dict.get("next_training_epoch", 0))

    def _positions_trained(self) -> int:
        """This rank's positions already trained on in the epoch a resumed run is part-way through
        (a checkpoint saved at a batch end by a SLURM requeue); 0 at the start of an epoch."""
        return batches_done_before_restart(self.trainer) * self.hparams.batch_size

    def _pin_memory(self) -> bool:
        """``data.pin_memory``, or (None) whether the trainer runs on a GPU (no trainer: whether one is here)."""
        setting = self.hparams.get("pin_memory")
        if setting is not None:
            return bool(setting)
        if self.trainer is not None:
            return self.trainer.strategy.root_device.type == "cuda"
        return torch.cuda.is_available()

    def _loader(self, dataset: ClipDataset, shuffle: bool, evaluation: bool = False) -> DataLoader:
        sampler = None
        trainer = self.trainer
        world_size, rank = (trainer.world_size, trainer.global_rank) if trainer is not None else (1, 0)
        if shuffle:
            # The order and the draws follow (seed, epoch, video), never a process's generator.
            epoch_of = self._training_epoch if trainer is not None else None  # else set_epoch's value
            skip_of = self._positions_trained if trainer is not None else None
            sampler = EpochOrderSampler(dataset, self.draw_seed, epoch_of, world_size, rank, skip_of)
        elif evaluation and world_size > 1:
            # Lightning's default distributed sampler pads with repeated videos, which would
            # count them twice in the correlation; this one splits the videos without repeats.
            sampler = UnrepeatedDistributedSampler(dataset, num_replicas=world_size, rank=rank, shuffle=False)
        # Its own generator: creating an iterator draws the workers' base seed, which must not
        # move torch's global generator by an amount that depends on the number of workers.
        return DataLoader(dataset, batch_size=self.hparams.batch_size, sampler=sampler,
                          num_workers=self.hparams.num_workers, pin_memory=self._pin_memory(),
                          persistent_workers=self.hparams.num_workers > 0, drop_last=False,
                          generator=torch.Generator().manual_seed(self.draw_seed))
