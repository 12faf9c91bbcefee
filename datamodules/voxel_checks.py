"""Degenerate voxels, counted once when the data is set up.

Training copes with each kind (see ``lightning_modules/loss.py`` and ``metrics.py``);
counting them tells the user how much of their data is degenerate, and where:

- *missing*: NaN in at least one repetition of some train video. The repetition mean
  ignores NaN repetitions, so only the next kind leaves a hole in the target.
- *unmeasured*: NaN in every repetition of at least one video, so that video's target
  is NaN. The loss and the metrics skip such entries voxel by voxel.
- *constant*: zero variance of the repetition mean over the training videos (or fewer
  than two measured ones). Its r is 0 and its noise ceiling 0, so it is left out of the
  noise-normalised score; it cannot be learned, but it cannot turn anything NaN either.

Non-finite values are a different matter: one Inf in one repetition (or a float16 file that
overflowed, or finite values near 3e38 whose squares overflow float32 sums) turns a voxel's
loss, ridge fit and score into NaN. :func:`check_finite` stops them as each file is read,
naming the file, video, repetition and voxel, or masks them as missing (NaN) on request.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scoring.layout import TargetLayout

log = logging.getLogger(__name__)

NON_FINITE = ("raise", "mask")
#: Largest magnitude accepted in a response file: squares and sums over a thousand videos stay far
#: inside float32 (3.4e38); fMRI responses (z-scores, percent signal change, raw BOLD) are far below it.
MAX_ABS_RESPONSE = 1e15


class NonFiniteResponseError(ValueError):
    """A response file holds infinite or float32-overflowing values."""


def check_finite(train: np.ndarray, path: Path, policy: str = "raise") -> np.ndarray:
    """Refuse (``policy="raise"``) or mask as NaN (``"mask"``) infinite values and values beyond
    :data:`MAX_ABS_RESPONSE` in ``train`` of shape (n_videos, n_repetitions, n_voxels), from ``path``.

    Returns ``train`` itself when clean, else (mask) a copy with those entries NaN.
    """
    if policy not in NON_FINITE:
        raise ValueError(f"non_finite must be one of {NON_FINITE}, got {policy!r}")
    if not np.issubdtype(train.dtype, np.floating):
        train = train.astype(np.float64)  # integer responses: only the magnitude can be out of range
    with np.errstate(invalid="ignore"):
        bad = np.isinf(train) | (np.abs(train) > MAX_ABS_RESPONSE)
    if not bad.any():
        return train
    where = np.argwhere(bad)
    video, rep, voxel = (int(i) for i in where[0])
    voxels = np.unique(where[:, 2])
    region = f"{path.parent.name}/{path.stem}"
    shown = ", ".join(map(str, voxels[:10].tolist())) + (" ..." if voxels.size > 10 else "")
    what = (f"{path}: {int(bad.sum())} value(s) in 'train' are infinite or beyond +-{MAX_ABS_RESPONSE:g} "
            f"in {voxels.size} voxel(s) of {region} (voxel indices {shown}); the first is "
            f"{float(train[video, rep, voxel])!r} at video row {video} (clip {video + 1:04d}_), repetition {rep}, "
            f"voxel {voxel}")
    if policy == "raise":
        raise NonFiniteResponseError(f"{what}. They would turn the loss and scores into NaN: fix the file, or "
                                     "pass --data.non_finite mask to treat them as missing measurements (NaN)")
    log.warning("%s: masked as missing measurements (non_finite=mask)", what)
    return np.where(bad, np.nan, train).astype(train.dtype, copy=False)


@dataclass(frozen=True)
class VoxelReport:
    """Boolean masks over the flat voxel vector, each of shape ``(n_voxels_total,)``."""

    missing: np.ndarray
    unmeasured: np.ndarray
    constant: np.ndarray

    def describe(self, layout: TargetLayout) -> list[str]:
        """One line per non-empty kind: the count and the (subject, region) groups holding them."""
        lines = []
        for mask, what in (
            (self.missing, "have missing measurements (NaN in some repetition)"),
            (self.unmeasured, "are NaN in all repetitions of some video: masked in loss and metrics"),
            (self.constant, "are constant over the training videos: r = 0, left out of the score"),
        ):
            if mask.any():
                where = ", ".join(f"{g.name}: {int(mask[g.start:g.stop].sum())}" for g in layout.groups
                                  if mask[g.start:g.stop].any())
                lines.append(f"{int(mask.sum())} of {mask.size} voxels {what} ({where})")
        return lines


def check_voxels(responses: np.ndarray, train_means: np.ndarray) -> VoxelReport:
    """Count degenerate voxels.

    Parameters
    ----------
    responses : array of shape (n_train, n_repetitions, n_voxels_total), NaN where unmeasured
    train_means : repetition means of the training videos, (n_train_videos, n_voxels_total),
        over which constancy is judged (the data module's cached ``mean_responses`` rows)
    """
    nan = ~np.isfinite(responses)
    missing = nan.any(axis=(0, 1))
    unmeasured = nan.all(axis=1).any(axis=0)
    measured = ~np.isnan(train_means)
    lo = np.where(measured, train_means, np.inf).min(axis=0)
    hi = np.where(measured, train_means, -np.inf).max(axis=0)
    constant = (measured.sum(axis=0) < 2) | (hi <= lo)
    return VoxelReport(missing=missing, unmeasured=unmeasured, constant=constant)
