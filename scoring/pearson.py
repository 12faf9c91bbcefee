"""Pearson r per column: the one implementation the loss, the metrics, the ridge solvers and the
simulator's truth scoring all use.

Numerically stable: columns are centred before any product (no ``E[xy] - E[x]E[y]``
cancellation), in float32 or wider. A column with no variance (constant prediction or target)
has r = 0. NaN targets are missing measurements, skipped column by column (:func:`pearson_r`).

The one exception is :class:`lightning_modules.metrics.VoxelCorrelation`, which must add
statistics across batches and processes and so works from float64 sums (see its docstring).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


def r_of_centred(pc: Tensor, tc: Tensor, dim: int = 0, eps: float = 0.0) -> Tensor:
    """r of columns already centred along ``dim``: ``sum(pc tc) / sqrt(sum(pc^2) sum(tc^2))``.

    ``pc`` and ``tc`` broadcast (e.g. ``(n_alphas, n_val, n_targets)`` against ``(n_val, n_targets)``
    with ``dim=-2``); the result drops ``dim``. With ``eps > 0`` it sits inside the square root,
    so a constant column gives r = 0 with a finite gradient (the loss); with ``eps = 0`` a column
    whose variance product is 0 gives exactly 0.
    """
    num = (pc * tc).sum(dim)
    if eps > 0:
        return num / torch.sqrt(pc.square().sum(dim) * tc.square().sum(dim) + eps)
    # Norms rather than sums of squares: no second (n_alphas, n_val, n_targets) temporary in the ridge.
    denom = torch.linalg.vector_norm(pc, dim=dim) * torch.linalg.vector_norm(tc, dim=dim)
    ok = denom > 0
    return torch.where(ok, num / torch.where(ok, denom, 1.0), 0.0)


def masked_pearson(pred: Tensor, target: Tensor, eps: float = 0.0) -> tuple[Tensor, Tensor]:
    """Per-column r over the rows where ``target`` is not NaN, and those rows' counts.

    Parameters
    ----------
    pred, target : tensors of shape ``(n_rows, n_columns)``; ``target`` may hold NaN

    Returns
    -------
    r : tensor of shape ``(n_columns,)``, float32 or wider; 0 where fewer than 2 rows are measured
    n_valid : int tensor of shape ``(n_columns,)``
    """
    if pred.shape != target.shape or pred.ndim != 2:
        raise ValueError(f"expected two (n_rows, n_columns) tensors, got {tuple(pred.shape)}, {tuple(target.shape)}")
    dtype = torch.promote_types(torch.promote_types(pred.dtype, target.dtype), torch.float32)
    p, t = pred.to(dtype), target.to(dtype)
    valid = ~torch.isnan(t)
    n = valid.sum(0)
    count = n.clamp(min=1).to(dtype)
    zero = torch.zeros((), dtype=dtype, device=p.device)
    # torch.where, not multiplication by the mask: 0 * NaN would still be NaN, in value and gradient.
    t = torch.where(valid, t, zero)
    pc = torch.where(valid, p - torch.where(valid, p, zero).sum(0) / count, zero)
    tc = torch.where(valid, t - t.sum(0) / count, zero)
    return r_of_centred(pc, tc, 0, eps), n


def pearson_r(pred, target, eps: float = 0.0):
    """Per-column Pearson r across rows, ``(n_rows, n_columns) -> (n_columns,)``.

    Tensors give a tensor; numpy arrays give a float64 numpy array. NaN targets are skipped
    column by column; constant columns, and columns with fewer than two measured rows, give 0.
    """
    if isinstance(pred, np.ndarray) or isinstance(target, np.ndarray):
        r, _ = masked_pearson(torch.from_numpy(np.asarray(pred, np.float64)),
                              torch.from_numpy(np.asarray(target, np.float64)), eps)
        return r.numpy()
    return masked_pearson(pred, target, eps)[0]


def resampled_pearson_r(pred: np.ndarray, target: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Per-column Pearson r on many resamples of the rows at once, ``(n_resamples, n_columns)``.

    ``pred`` and ``target`` are ``(n_rows, n_columns)`` without NaN; ``counts`` is
    ``(n_resamples, n_rows)``, how often each row is drawn (a bootstrap's multinomial counts).
    Row ``b`` equals :func:`pearson_r` of ``pred[rows_b]`` with ``target[rows_b]`` for rows drawn as
    ``counts[b]`` says, computed from weighted moments (a few matrix products instead of a loop).
    Columns are standardised over all rows first, in float64, so the moments do not cancel;
    a column constant over a resample gives 0.
    """
    if pred.shape != target.shape or pred.ndim != 2 or counts.shape[1:] != pred.shape[:1]:
        raise ValueError(f"expected (n_rows, n_columns) pred and target and (n_resamples, n_rows) counts, got "
                         f"{pred.shape}, {target.shape}, {counts.shape}")
    if np.isnan(target).any() or np.isnan(pred).any():
        raise ValueError("resampled_pearson_r takes no NaN; use pearson_r on each resample")

    def standardised(x):
        x = np.asarray(x, np.float64)
        x = x - x.mean(0)
        sd = x.std(0)
        return x / np.where(sd > 0, sd, 1.0)

    p, t = standardised(pred), standardised(target)
    w = np.asarray(counts, np.float64)
    w = w / w.sum(1, keepdims=True)
    mean_p, mean_t = w @ p, w @ t
    cov = w @ (p * t) - mean_p * mean_t
    var = (w @ (p * p) - mean_p ** 2) * (w @ (t * t) - mean_t ** 2)
    ok = var > 1e-24  # moments of standardised columns: a true variance is far above rounding
    return np.where(ok, cov / np.sqrt(np.where(ok, var, 1.0)), 0.0)
