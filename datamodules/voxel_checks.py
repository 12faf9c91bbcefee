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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from datamodules.targets import TargetLayout


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
    nan = np.isnan(responses)
    missing = nan.any(axis=(0, 1))
    unmeasured = nan.all(axis=1).any(axis=0)
    measured = ~np.isnan(train_means)
    lo = np.where(measured, train_means, np.inf).min(axis=0)
    hi = np.where(measured, train_means, -np.inf).max(axis=0)
    constant = (measured.sum(axis=0) < 2) | (hi <= lo)
    return VoxelReport(missing=missing, unmeasured=unmeasured, constant=constant)
