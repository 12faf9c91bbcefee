"""A torch Dataset of sampled clips and every selected subject's targets."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from datamodules.sampling import draw_rng

REPETITION_MODES = ("mean", "random_subset")


class ClipDataset(Dataset):
    """Videos by index, each with all subjects' and regions' responses.

    Parameters
    ----------
    clips : indexable, ``clips[video] -> uint8 array (num_frames, 3, size, size)``
        Usually a :class:`datamodules.clip_cache.ClipCache`.
    video_indices : sequence of int
        Which videos (positions in the sorted release) this dataset serves.
    responses : array of shape (n_train, n_repetitions, n_voxels_total), optional
        Measured responses; None for videos without fMRI (prediction).
    repetitions : "mean" or "random_subset"
        The target is the mean over repetitions, or (augmentation) the mean over a
        random non-empty subset of them, drawn from ``(seed, epoch, video)``: a new
        subset every epoch, the same one whichever process (worker) reads the item.
    seed : the repetition subsets' seed.

    ``dataset[i]`` is position ``i`` with epoch 0's draws; ``dataset[i, epoch]`` (what
    :class:`datamodules.sampling.EpochOrderSampler` yields) with that epoch's. Items are
    dicts: ``video`` uint8 tensor (num_frames, 3, size, size), ``index`` int64 (the
    video's position in the release), and ``targets`` float32 (n_voxels_total,) when
    responses are given. NaN repetitions (missing measurements) are ignored in the mean.
    """

    def __init__(self, clips, video_indices: Sequence[int], responses: np.ndarray | None = None,
                 repetitions: str = "mean", seed: int = 0):
        if repetitions not in REPETITION_MODES:
            raise ValueError(f"repetitions must be one of {REPETITION_MODES}, got {repetitions!r}")
        self.clips = clips
        self.video_indices = np.asarray(video_indices, dtype=np.int64)
        self.repetitions = repetitions
        self.seed = seed
        self.responses = responses
        self.mean_responses = None
        if responses is not None:
            if self.video_indices.size and self.video_indices.max() >= responses.shape[0]:
                raise ValueError(f"video index {self.video_indices.max()} has no fMRI "
                                 f"(only {responses.shape[0]} train videos)")
            if repetitions == "mean":
                self.mean_responses = mean_over_repetitions(responses)

    def __len__(self) -> int:
        return len(self.video_indices)

    def __getitem__(self, key: int | tuple[int, int]) -> dict:
        i, epoch = key if isinstance(key, tuple) else (key, 0)
        video = int(self.video_indices[i])
        item = {"video": torch.from_numpy(np.array(self.clips[video])), "index": torch.tensor(video)}
        if self.mean_responses is not None:
            item["targets"] = torch.from_numpy(self.mean_responses[video])
        elif self.responses is not None:
            keep = repetition_subset(self.responses.shape[1], draw_rng(self.seed, epoch, video))
            item["targets"] = torch.from_numpy(mean_over_repetitions(self.responses[video][keep][None])[0])
        return item


def repetition_subset(n_reps: int, rng: np.random.Generator) -> np.ndarray:
    """A random non-empty subset of ``n_reps`` repetitions, bool array of shape (n_reps,): each is
    kept with probability 1/2, and one drawn at random is always kept."""
    keep = rng.random(n_reps) < 0.5
    keep[rng.integers(n_reps)] = True
    return keep


def mean_over_repetitions(responses: np.ndarray) -> np.ndarray:
    """Mean over axis 1 of ``(n_videos, n_reps, n_voxels)``, ignoring NaN; all-NaN gives NaN."""
    if hasattr(responses, "repetition_means"):  # memory-mapped stack: datamodules/sources/stacked.py
        return responses.repetition_means()
    if not np.isnan(responses).any():
        return responses.mean(axis=1, dtype=np.float64).astype(np.float32)
    counts = (~np.isnan(responses)).sum(axis=1)
    sums = np.nansum(responses, axis=1, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (sums / counts).astype(np.float32)
