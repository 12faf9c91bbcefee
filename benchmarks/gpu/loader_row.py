"""The GPU check's loader row: how busy the GPU is when a DataLoader feeds it (clip cache or mp4s)."""

from __future__ import annotations

import time

import numpy as np

from benchmarks.gpu.config import CheckConfig
from benchmarks.gpu.data import Data, DecodedClips
from benchmarks.gpu.model import Stepper, build_model
from benchmarks.gpu.table import _peak_gib, _sync


def loader_row(cfg: CheckConfig, data: Data, source: str, limit: float) -> dict:
    """Steps fed by a DataLoader at the real batch size: the share of the wall time in steps."""
    from torch.utils.data import DataLoader

    from datamodules.dataset import ClipDataset

    name, layers = cfg.backbones[-1]
    n_items = cfg.batch * (cfg.loader_steps + cfg.loader_warmup + 1)
    if source == "cache":
        rng = np.random.default_rng(0)
        responses = rng.standard_normal((len(data.clips), 1, cfg.voxels), dtype=np.float32)
        dataset = ClipDataset(data.clips, np.arange(n_items) % len(data.clips), responses)
    else:
        if data.decoder is None:
            return {"result": "skipped: no decoder (PyAV or decord) or no mp4 files" if not data.mp4s else
                    "skipped: no decoder (PyAV or decord)"}
        dataset = DecodedClips(data.mp4s, n_items, cfg.num_frames, cfg.image_size, data.decoder, cfg.voxels)
    loader = DataLoader(dataset, batch_size=cfg.batch, num_workers=cfg.workers, pin_memory=cfg.device == "cuda",
                        persistent_workers=cfg.workers > 0, shuffle=False)
    model = build_model(cfg, name, layers)
    step = Stepper(cfg, model)
    start = time.perf_counter()
    batches = iter(loader)
    waited = stepped = 0.0
    n = 0
    for i in range(cfg.loader_steps + cfg.loader_warmup):
        t0 = time.perf_counter()
        batch = next(batches)
        video = batch["video"].to(cfg.device, non_blocking=True)
        targets = batch["targets"].to(cfg.device, non_blocking=True)
        t1 = time.perf_counter()
        step(video, targets)
        _sync(cfg)
        t2 = time.perf_counter()
        if i >= cfg.loader_warmup:
            waited, stepped, n = waited + t1 - t0, stepped + t2 - t1, n + 1
        if time.perf_counter() - start > 0.8 * limit and n >= 2:
            break
    del batches
    wall = waited + stepped
    busy = stepped / wall
    setting_note = f"{cfg.workers} workers, batch {cfg.batch}" + (f", {data.decoder}" if source == "decode" else "")
    return {"clips/s": n * cfg.batch / wall, "frames/s": n * cfg.batch * cfg.num_frames / wall, "GPU busy": busy,
            "peak GiB": _peak_gib(cfg), "result": f"ok, {n} steps; {setting_note}; waited {waited:.1f} s"}
