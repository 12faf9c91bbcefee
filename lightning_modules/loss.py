"""Correlation loss: what the challenge scores, made differentiable.

``r_v = sum_i p_iv t_iv / sqrt(sum_i p_iv**2 * sum_i t_iv**2 + eps)`` over the
batch ``i``, with ``p``, ``t`` centred per voxel. ``eps`` sits inside the square
root so a constant column gives r = 0 and a finite gradient (a root of a
zero sum would give an infinite derivative, hence NaN).

Missing measurements: a target entry that is NaN (a voxel unmeasured in every
repetition of that video) is left out of its voxel's sums, so each voxel's r is
the Pearson r over the videos where it was measured. A voxel with fewer than two
measured videos in the batch has no r: it gets r = 0, a zero gradient, and no
weight in the loss's mean.
"""

from __future__ import annotations

import torch

from scoring.pearson import masked_pearson


def pearson_r(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Per-column Pearson r across dim 0, skipping NaN targets column by column.

    Parameters
    ----------
    pred, target : tensors of shape ``(batch, n_voxels)``; ``target`` may hold NaN (unmeasured)

    Returns
    -------
    r : tensor of shape ``(n_voxels,)``, float32 or wider; 0 for constant columns and for
        columns with fewer than two measured rows. (:func:`scoring.pearson.masked_pearson` with
        the loss's ``eps``.)
    """
    return masked_pearson(pred, target, eps)[0]


def correlation_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    mse_weight: float = 0.0,
    eps: float = 1e-8,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """``1 - mean_v r_v + mse_weight * mean((pred - target)**2)``, a scalar.

    The mean over voxels counts the voxels with at least two measured (non-NaN) targets in the
    batch; the MSE term averages over measured entries. With no such voxel the loss is 1 with a
    zero gradient.

    Parameters
    ----------
    pred, target : tensors of shape ``(batch, n_voxels)``; NaN targets are missing measurements
    mse_weight : float
        Weight of an MSE term that anchors the scale and offset, which r ignores.
    mask : bool tensor of shape ``(n_voxels,)``, optional
        Voxels to keep; the others count in neither term.
    """
    if pred.shape != target.shape or pred.ndim != 2:
        raise ValueError(f"expected two (batch, n_voxels) tensors, got {tuple(pred.shape)}, {tuple(target.shape)}")
    if mask is not None:
        if mask.shape != (pred.shape[-1],) or mask.dtype != torch.bool:
            raise ValueError(f"mask must be bool of shape ({pred.shape[-1]},)")
        pred, target = pred[:, mask], target[:, mask]
    r, n = masked_pearson(pred, target, eps)
    scored = (n >= 2).to(r.dtype)
    loss = 1.0 - (r * scored).sum() / scored.sum().clamp(min=1)
    if mse_weight:
        valid = ~torch.isnan(target)
        diff = torch.where(valid, pred.float() - torch.where(valid, target.float(), 0.0), 0.0)
        loss = loss + mse_weight * diff.pow(2).sum() / valid.sum().clamp(min=1)
    return loss
