"""The GPU check's ridge row: ``RidgeCV`` over all voxels on the device against the CPU solver."""

from __future__ import annotations

import math
import time

import torch

from benchmarks.gpu.config import CheckConfig
from benchmarks.gpu.table import _peak_gib, _reset_peak, _sync


def ridge_data(n: int, p: int, v: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Features (n, p) and targets (n, v), float32 on the CPU: each target a random mix of 32 features
    at a signal-to-noise ratio from 0.1 to 3, so every target has a clear best penalty."""
    g = torch.Generator().manual_seed(0)
    X = torch.randn(n, p, generator=g) * torch.linspace(0.2, 2.0, p)
    k = min(32, p)
    snr = torch.logspace(-1, math.log10(3), v)[torch.randperm(v, generator=g)]
    signal = X[:, :k] @ (torch.randn(k, v, generator=g) * (snr / (k ** 0.5 * X[:, :k].std())))
    return X, signal + torch.randn(n, v, generator=g)


def agreement(fit, ref, columns: slice) -> tuple[float, float]:
    """(relative Frobenius error of the coefficients over the targets whose penalty agrees, share of
    targets whose penalty agrees) of ``fit`` against the reference fit ``ref`` on ``columns``."""
    same = fit.best_alphas_[columns].cpu() == ref.best_alphas_.cpu()
    coef, expected = fit.coef_[:, columns].cpu().double()[:, same], ref.coef_.cpu().double()[:, same]
    rel = ((coef - expected).norm() / expected.norm().clamp(min=1e-300)).item()
    return rel, same.double().mean().item()


def ridge_row(cfg: CheckConfig, limit: float) -> dict:
    """``RidgeCV`` (20 penalties, 5 folds) over ``ridge_voxels`` targets on the device, float32 (the
    default; timed) and float64, against the CPU solver with ``ridge_cpu_threads`` threads on a
    subset of the targets (float32 timed and scaled to all; float64 on a quarter of the subset)."""
    from ridge.device_batches import target_batch_size, target_batches
    from ridge.solver import DEFAULT_ALPHAS, RidgeCV

    n, p, v, folds = cfg.ridge_videos, cfg.ridge_features, cfg.ridge_voxels, 5
    X, Y = ridge_data(n, p, v)

    def fit(device, dtype, columns, batch=None):
        return RidgeCV(n_folds=folds, device=device, dtype=dtype, target_batch_size=batch).fit(X, Y[:, columns])

    batch = cfg.ridge_batch or target_batch_size(cfg.device, v, n, p, len(DEFAULT_ALPHAS), folds)
    fit(cfg.device, torch.float32, slice(0, 256))  # warm-up: the solver libraries' first calls
    _sync(cfg)
    _reset_peak(cfg)
    start = time.perf_counter()
    device32 = fit(cfg.device, torch.float32, slice(None), cfg.ridge_batch)
    _sync(cfg)
    device_s = time.perf_counter() - start
    peak = _peak_gib(cfg)
    device64 = fit(cfg.device, torch.float64, slice(None), cfg.ridge_batch)
    sub, sub64 = slice(0, min(cfg.ridge_cpu_voxels, v)), slice(0, max(1, min(cfg.ridge_cpu_voxels, v) // 4))
    threads = torch.get_num_threads()
    torch.set_num_threads(cfg.ridge_cpu_threads)
    try:
        # The decompositions are paid once per fit whatever the voxels: timed apart on a few
        # targets and counted once, only the per-voxel rest is scaled to all voxels.
        start = time.perf_counter()
        fit("cpu", torch.float32, slice(0, 16))
        fixed = time.perf_counter() - start
        start = time.perf_counter()
        cpu32 = fit("cpu", torch.float32, sub)
        cpu_s = fixed + max(time.perf_counter() - start - fixed, 0.0) * v / sub.stop
        cpu64 = fit("cpu", torch.float64, sub64)
    finally:
        torch.set_num_threads(threads)
    rel32, same32 = agreement(device32, cpu32, sub)
    rel64, same64 = agreement(device64, cpu64, sub64)
    verdict = "ok" if rel64 <= 1e-5 and same64 == 1.0 and rel32 <= 1e-5 and same32 >= 0.99 else "DISAGREES"
    n_batches = len(target_batches(v, batch))
    return {"peak GiB": peak,
            "result": f"{verdict}: {cfg.device} {device_s:.1f} s in {n_batches} batch(es) of {batch}; CPU "
                      f"{cfg.ridge_cpu_threads} threads {cpu_s:.0f} s (timed on {sub.stop} voxels, scaled; "
                      f"{fixed:.1f} s fixed): "
                      f"{cpu_s / device_s:.0f}x; against the CPU, float64 coef rel. err {rel64:.0e} "
                      f"(same alpha {100 * same64:.1f}%), float32 {rel32:.0e} ({100 * same32:.1f}%)"}
