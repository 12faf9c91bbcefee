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


def _check_pair(pred: torch.Tensor, target: torch.Tensor) -> None:
    if pred.shape != target.shape or pred.ndim != 2:
        raise ValueError(
            f"expected two (batch, n_voxels) tensors, got {tuple(pred.shape)}, {tuple(target.shape)}"
        )


def _masked_r(pred: torch.Tensor, target: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-column r over the rows where ``target`` is not NaN, and the valid-row counts.

    Returns ``(r, n_valid)``, both ``(n_voxels,)``; r is 0 where ``n_valid < 2``.
    """
    dtype = torch.promote_types(torch.promote_types(pred.dtype, target.dtype), torch.float32)
    p, t = pred.to(dtype), target.to(dtype)
    valid = ~torch.isnan(t)  # (batch, n_voxels)
    n = valid.sum(0)
    count = n.clamp(min=1).to(dtype)
    zero = torch.zeros((), dtype=dtype, device=p.device)
    # torch.where, not multiplication by the mask: 0 * NaN would still be NaN, in value and gradient.
    t = torch.where(valid, t, zero)
    p_mean = torch.where(valid, p, zero).sum(0) / count
    t_mean = t.sum(0) / count
    pc = torch.where(valid, p - p_mean, zero)
    tc = torch.where(valid, t - t_mean, zero)
    r = (pc * tc).sum(0) / torch.sqrt((pc * pc).sum(0) * (tc * tc).sum(0) + eps)
    return r, n


def pearson_r(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Per-column Pearson r across dim 0, skipping NaN targets column by column.

    Parameters
    ----------
    pred, target : tensors of shape ``(batch, n_voxels)``; ``target`` may hold NaN (unmeasured)

    Returns
    -------
    r : tensor of shape ``(n_voxels,)``, float32 or wider; 0 for constant columns and for
        columns with fewer than two measured rows.
    """
    _check_pair(pred, target)
    return _masked_r(pred, target, eps)[0]


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
    _check_pair(pred, target)
    if mask is not None:
        if mask.shape != (pred.shape[-1],) or mask.dtype != torch.bool:
            raise ValueError(f"mask must be bool of shape ({pred.shape[-1]},)")
        pred, target = pred[:, mask], target[:, mask]
    r, n = _masked_r(pred, target, eps)
    scored = (n >= 2).to(r.dtype)
    loss = 1.0 - (r * scored).sum() / scored.sum().clamp(min=1)
    if mse_weight:
        valid = ~torch.isnan(target)
        diff = torch.where(valid, pred.float() - torch.where(valid, target.float(), 0.0), 0.0)
        loss = loss + mse_weight * diff.pow(2).sum() / valid.sum().clamp(min=1)
    return loss
