"""Per-voxel correlation across videos, and the challenge's score built from it.

``VoxelCorrelation`` accumulates sufficient statistics (counts and sums of
x, y, x^2, y^2, xy per voxel, in float64), which add exactly across batches
and across DDP processes, so the epoch's r is the same as if every prediction
had been gathered in one place. The r is exact: covariance and standard
deviations share the same normalisation (the official helper's n/(n-1) slip
is not reproduced).

The challenge's score built from it (normalising by the noise ceiling, averaging per group) is
:func:`scoring.summary.score_summary`. This streaming form is the one Pearson r not computed by
:mod:`scoring.pearson`: it must add across batches and processes, so it works from float64 sums.

Non-finite predictions are never scored as r = 0: a voxel with a NaN or infinite prediction
for a measured video has r = NaN (see :mod:`scoring.summary` for how NaN propagates).
"""

from __future__ import annotations

import torch
from torchmetrics import Metric


class VoxelCorrelation(Metric):
    """Pearson r of every voxel across all videos seen, ``(n_voxels,)``.

    ``update(preds, targets)`` with both of shape (batch, n_voxels). Rows whose
    target is NaN (a missing measurement) are skipped voxel by voxel. A voxel
    with zero variance in predictions or targets gets r = 0. A voxel with a
    non-finite prediction for a measured video gets r = NaN (the model is broken there).
    """

    full_state_update = False
    is_differentiable = False
    higher_is_better = True

    def __init__(self, n_voxels: int, **kwargs):
        super().__init__(**kwargs)
        for name in ("n", "sx", "sy", "sxx", "syy", "sxy", "n_nonfinite"):
            self.add_state(name, default=torch.zeros(n_voxels, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, preds: torch.Tensor, targets: torch.Tensor) -> None:
        x = preds.detach().to(torch.float64)
        y = targets.detach().to(torch.float64)
        measured = ~torch.isnan(y)
        broken = measured & ~torch.isfinite(x)
        self.n_nonfinite += broken.sum(0)
        valid = measured & ~broken
        x = torch.where(valid, x, 0.0)
        y = torch.where(valid, y, 0.0)
        self.n += valid.sum(0)
        self.sx += x.sum(0)
        self.sy += y.sum(0)
        self.sxx += (x * x).sum(0)
        self.syy += (y * y).sum(0)
        self.sxy += (x * y).sum(0)

    def compute(self) -> torch.Tensor:
        n = self.n.clamp(min=1)
        cov = self.sxy - self.sx * self.sy / n
        var_x = (self.sxx - self.sx**2 / n).clamp(min=0)
        var_y = (self.syy - self.sy**2 / n).clamp(min=0)
        # A column whose spread is below ~1e-5 of its magnitude is constant as far as float32
        # inputs can tell (their resolution is ~1e-7): its r would be rounding noise, so it is 0.
        varying = (var_x > 1e-10 * self.sxx) & (var_y > 1e-10 * self.syy)
        r = cov / torch.sqrt(var_x * var_y).clamp(min=1e-300)
        r = torch.where(varying, r, torch.zeros_like(r))
        return torch.where(self.n_nonfinite > 0, torch.full_like(r, float("nan")), r).float()
