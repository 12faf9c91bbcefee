"""Per-voxel correlation across videos, and the challenge's score built from it.

``VoxelCorrelation`` accumulates sufficient statistics (counts and sums of
x, y, x^2, y^2, xy per voxel, in float64), which add exactly across batches
and across DDP processes, so the epoch's r is the same as if every prediction
had been gathered in one place. The r is exact: covariance and standard
deviations share the same normalisation (the official helper's n/(n-1) slip
is not reproduced).

Scoring (``score_summary``), as the challenge defined it:
    r_v      Pearson r of voxel v across videos
    score_v  r_v / sqrt(nc_v), for voxels with noise ceiling nc_v > 0
    group    mean over a subject's voxels in a region
    overall  mean over (subject, region) groups
Voxels with nc_v <= 0 cannot be normalised: they are left out of the
normalised score (still counted in raw r) and their number is reported.

Non-finite predictions are never scored as r = 0: a voxel with a NaN or infinite prediction
for a measured video has r = NaN, and NaN propagates to its group, subject, region and the
overall score. (Were it 0, a diverged model would outrank every real model whose score is
negative, and a sweep would keep it.)
"""

from __future__ import annotations

import torch
from torchmetrics import Metric

from scoring.layout import TargetLayout


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


def normalised_r(r: torch.Tensor, ceiling: torch.Tensor) -> torch.Tensor:
    """``r / sqrt(ceiling)`` per voxel, NaN where the ceiling is not positive, ``(n_voxels,)``."""
    ceiling = ceiling.to(r.device, torch.float32)
    return torch.where(ceiling > 0, r / ceiling.clamp(min=1e-12).sqrt(), torch.full_like(r, float("nan")))


def score_summary(r: torch.Tensor, ceiling: torch.Tensor | None, layout: TargetLayout) -> dict[str, float]:
    """Raw and noise-normalised scores overall, per subject, per region and per group.

    Parameters
    ----------
    r : tensor of shape (n_voxels,), per-voxel Pearson r
    ceiling : tensor of shape (n_voxels,), per-voxel noise ceiling, or None (no normalised score)

    Returns
    -------
    dict with keys ``r``, ``score``, ``r/<subject>``, ``r/<roi>``, ``r/<subject>/<roi>``, the same
    under ``score``, and ``n_unreliable_voxels``. Subjects' and regions' values are means over
    their groups, so each (subject, region) counts once whatever its voxel count. A NaN in ``r``
    (a non-finite prediction) makes its group and every mean that includes the group NaN; only
    voxels whose ceiling is not positive are left out.
    """
    r = r.float().cpu()
    broken = torch.isnan(r)
    kinds = {"r": r}
    if ceiling is not None:
        kinds["score"] = normalised_r(r, ceiling.cpu())
    out: dict[str, float] = {}
    for kind, values in kinds.items():
        group_means = {}
        for g in layout.groups:
            v = values[g.start:g.stop]
            v = v[~torch.isnan(v)]
            if broken[g.start:g.stop].any():
                group_means[g] = _BROKEN
            else:
                group_means[g] = float(v.mean()) if v.numel() else float("nan")
            out[f"{kind}/{g.subject}/{g.roi}"] = float("nan") if group_means[g] is _BROKEN else group_means[g]
        out[kind] = _nanmean(group_means.values())
        for subject in layout.subjects:
            out[f"{kind}/{subject}"] = _nanmean(m for g, m in group_means.items() if g.subject == subject)
        for roi in layout.rois:
            out[f"{kind}/{roi}"] = _nanmean(m for g, m in group_means.items() if g.roi == roi)
    if ceiling is not None:
        out["n_unreliable_voxels"] = float((ceiling <= 0).sum())
    return out


class _Broken:
    """A group whose r is NaN: the mean over anything that includes it is NaN."""


_BROKEN = _Broken()


def _nanmean(values) -> float:
    """Mean of the groups that have a value; NaN if any group is broken (non-finite predictions)."""
    values = list(values)
    if any(v is _BROKEN for v in values):
        return float("nan")
    values = [v for v in values if v == v]
    return sum(values) / len(values) if values else float("nan")
