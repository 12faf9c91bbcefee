"""The GPU check's compute rows: the bf16 matmul rate, training throughput (eager and compiled) and
the largest batch that fits."""

from __future__ import annotations

import time

import torch

from benchmarks.gpu.config import CheckConfig
from benchmarks.gpu.model import Stepper, build_model, device_batch, flops_per_clip, timed_steps
from benchmarks.gpu.table import _peak_gib, _release_memory, _reset_peak, _sync


def matmul_row(cfg: CheckConfig, limit: float) -> dict:
    """The measured bf16 matrix rate: mean of 10 timed ``n^3`` products after 3 warm-ups."""
    n = cfg.matmul_n
    a = torch.randn(n, n, device=cfg.device, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=cfg.device, dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    reps, seconds = timed_steps(cfg, lambda: a @ b, 10, limit / 3)
    tflops = 2 * n**3 * reps / seconds / 1e12
    return {"TFLOP/s": tflops, "MFU": 1.0, "result": "ok (the MFU column's 100%)", "_tflops": tflops}


def train_row(cfg: CheckConfig, name: str, layers, compiled: bool, flops: dict, peak: float | None,
              limit: float) -> dict:
    _reset_peak(cfg)
    model = build_model(cfg, name, layers)
    step = Stepper(cfg, model)
    if name not in flops:
        flops[name] = flops_per_clip(cfg, step)
    if compiled:
        model.model.backbone.compile(backend=cfg.compile_backend)
    video, targets = device_batch(cfg, cfg.train_batch)
    start = time.perf_counter()
    step(video, targets)
    _sync(cfg)
    first = time.perf_counter() - start
    step(video, targets)  # a second warm-up (cuDNN's choices, the allocator's pools)
    left = limit - (time.perf_counter() - start) - 2
    n, seconds = timed_steps(cfg, lambda: step(video, targets), cfg.train_steps, 0.8 * left)
    clips = n * cfg.train_batch / seconds
    tflops = flops[name] * clips / 1e12
    return {"clips/s": clips, "frames/s": clips * cfg.num_frames, "TFLOP/s": tflops,
            "MFU": tflops / peak if peak else None, "peak GiB": _peak_gib(cfg),
            "result": f"ok, {n} steps; {'compilation and ' if compiled else ''}first step {first:.1f} s; "
                      f"{flops[name] / 1e9:.3g} GFLOP/clip"}


def max_batch_row(cfg: CheckConfig, name: str, layers, limit: float) -> dict:
    """Double the batch from the real one until a step runs out of memory, then bisect."""
    model = build_model(cfg, name, layers)
    step = Stepper(cfg, model)
    start = time.perf_counter()

    reasons: list[str] = []

    def fits(batch: int) -> bool:
        try:
            _reset_peak(cfg)
            video, targets = device_batch(cfg, batch)
            step(video, targets)
            _sync(cfg)
            return True
        except RuntimeError as err:  # OutOfMemoryError, or cuDNN/cuBLAS failing to allocate
            if batch <= cfg.batch and not isinstance(err, torch.cuda.OutOfMemoryError):
                raise  # the real batch must run: anything else is a fault, not a size limit
            if not isinstance(err, torch.cuda.OutOfMemoryError):
                reasons.append(f"{batch}: {str(err).strip()[:60]}")
            step.opt.zero_grad(set_to_none=True)
            _release_memory(cfg)
            return False

    good, bad, peak_at_good = 0, None, None
    batch = cfg.batch
    while batch <= cfg.max_batch_cap and time.perf_counter() - start < 0.6 * limit:
        if not fits(batch):
            bad = batch
            break
        good, peak_at_good = batch, _peak_gib(cfg)
        batch *= 2
    while bad is not None and bad - good > max(1, good // 8) and time.perf_counter() - start < 0.85 * limit:
        mid = (good + bad) // 2
        if fits(mid):
            good, peak_at_good = mid, _peak_gib(cfg)
        else:
            bad = mid
    capped = bad is None
    note = (f"ok; {bad} does not fit" if not capped else
            f"ok; the search stopped at {good} (cap {cfg.max_batch_cap} or time)")
    if reasons:
        note += "; not out of memory but " + "; ".join(reasons)
    return {"max batch": f"{good}" + ("+" if capped else ""), "peak GiB": peak_at_good, "result": note}
