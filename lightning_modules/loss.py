"""Correlation loss: what the challenge scores, made differentiable.

``r_v = sum_i p_iv t_iv / sqrt(sum_i p_iv**2 * sum_i t_iv**2 + eps)`` over the
batch ``i``, with ``p``, ``t`` centred per voxel. ``eps`` sits inside the square
root so a constant column gives r = 0 and a finite gradient (a root of a
zero sum would give an infinite derivative, hence NaN).
"""

from __future__ import annotations

import torch


def pearson_r(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Per-column Pearson r across dim 0.

    Parameters
    ----------
    pred, target : tensors of shape ``(batch, n_voxels)``

    Returns
    -------
    r : tensor of shape ``(n_voxels,)``, float32 or wider; 0 for constant columns.
    """
    if pred.shape != target.shape or pred.ndim != 2:
        raise ValueError(
            f"expected two (batch, n_voxels) tensors, got {tuple(pred.shape)}, {tuple(target.shape)}"
        )
    dtype = torch.promote_types(torch.promote_types(pred.dtype, target.dtype), torch.float32)
    p = pred.to(dtype)
    t = target.to(dtype)
    p = p - p.mean(dim=0)
    t = t - t.mean(dim=0)
    return (p * t).sum(0) / torch.sqrt((p * p).sum(0) * (t * t).sum(0) + eps)


def correlation_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    mse_weight: float = 0.0,
    eps: float = 1e-8,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """``1 - mean_v r_v + mse_weight * mean((pred - target)**2)``, a scalar.

    Parameters
    ----------
    pred, target : tensors of shape ``(batch, n_voxels)``
    mse_weight : float
        Weight of an MSE term that anchors the scale and offset, which r ignores.
    mask : bool tensor of shape ``(n_voxels,)``, optional
        Voxels to keep; the others count in neither term.
    """
    if mask is not None:
        if mask.shape != (pred.shape[-1],) or mask.dtype != torch.bool:
            raise ValueError(f"mask must be bool of shape ({pred.shape[-1]},)")
        pred, target = pred[:, mask], target[:, mask]
    loss = 1.0 - pearson_r(pred, target, eps).mean()
    if mse_weight:
        loss = loss + mse_weight * (pred.float() - target.float()).pow(2).mean()
    return loss
