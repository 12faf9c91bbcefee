"""The steps that the cross-validated solvers (:class:`~ridge.solver.RidgeCV`,
:class:`~ridge.banded.BandedRidgeCV`) share around their fold scores: centring a batch of
targets, and choosing each target's penalty from its mean CV scores.
"""

from __future__ import annotations

import torch
from torch import Tensor


def centre_targets(Yb: Tensor, n_folds: int,
                   fit_intercept: bool = True) -> tuple[Tensor, Tensor, Tensor]:
    """Centre a batch of targets (n_videos, b); zero out constant columns.

    Returns the means (b,) (zeros without ``fit_intercept``), the centred batch (n_videos, b)
    and the sum-of-squares floor (b,) below which a validation fold counts as constant:
    ``n_val * (64 eps max|Yc|)^2``, a few rounding errors, with ``n_val`` the largest fold's size.
    With ``fit_intercept``, a column constant up to rounding becomes exactly zero (its
    coefficients then are 0).
    """
    y_mean = Yb.mean(0) if fit_intercept else torch.zeros_like(Yb[0])
    Yc = Yb - y_mean
    eps = torch.finfo(Yb.dtype).eps
    if fit_intercept:
        constant = Yc.abs().amax(0) <= 64 * eps * Yb.abs().amax(0)
        Yc[:, constant] = 0
    n_val = -(-Yb.shape[0] // n_folds)
    tiny_ss = n_val * (64 * eps * Yc.abs().amax(0)).square()
    return y_mean, Yc, tiny_ss


def best_alpha(scores: Tensor, alphas: Tensor) -> Tensor:
    """Index (b,) of the best penalty per target from ``scores`` (n_alphas, b) over the grid
    ``alphas`` (n_alphas,); exact ties go to the largest penalty (so constant targets get it)."""
    is_best = scores >= scores.amax(0, keepdim=True)
    return torch.where(is_best, alphas[:, None], -torch.inf).argmax(0)


def best_alpha_per_group(scores: Tensor, alphas: Tensor, groups: Tensor) -> Tensor:
    """Index (n_targets,) of the penalty with the best mean CV score over each target's group.

    scores (n_alphas, n_targets), alphas (n_alphas,), groups int64 (n_targets,) labels.
    """
    labels, inverse = torch.unique(groups, return_inverse=True)
    sums = torch.zeros(len(alphas), len(labels), dtype=scores.dtype, device=scores.device)
    sums.index_add_(1, inverse, scores)
    counts = torch.bincount(inverse, minlength=len(labels)).to(scores.dtype)
    return best_alpha(sums / counts, alphas)[inverse]
