"""The model the GPU check trains (``EncodingModel`` as the configs build it), one optimiser step,
its FLOPs per clip and timed steps."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch

from benchmarks.gpu.config import CheckConfig
from benchmarks.gpu.table import _sync


def voxel_counts(n_voxels: int, n_subjects: int = 10) -> dict:
    """``n_voxels`` whole-brain voxels split over ``n_subjects`` subjects (as the full track)."""
    sizes = np.full(n_subjects, n_voxels // n_subjects)
    sizes[: n_voxels % n_subjects] += 1
    return {f"sub{i + 1:02d}": {"WB": int(n)} for i, n in enumerate(sizes)}


def build_model(cfg: CheckConfig, name: str, layers) -> torch.nn.Module:
    """``EncodingModel`` as ``train.py`` builds it for the configs, backbone trainable, channels-last."""
    from lightning_modules.settings import (
        BackboneSettings,
        OptimisationSettings,
        RidgeSettings,
        TemporalSettings,
    )
    from lightning_modules.system import EncodingModel

    model = EncodingModel(voxel_counts(cfg.voxels), backbone=BackboneSettings(name, layers=list(layers),
                                                                               channels_last=True),
                          temporal=TemporalSettings("weighted"), ridge=RidgeSettings(fit=False),
                          optimisation=OptimisationSettings(freeze_backbone_epochs=0),
                          num_frames=cfg.num_frames, image_size=cfg.image_size)
    return model.to(cfg.device).train()


class Stepper:
    """One optimiser step as ``EncodingModel.training_step`` takes it under ``bf16-mixed``."""

    def __init__(self, cfg: CheckConfig, model: torch.nn.Module):
        from lightning_modules.loss import correlation_loss

        self.cfg, self.model, self.loss = cfg, model, correlation_loss
        self.opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=1e-4)

    def __call__(self, video: torch.Tensor, targets: torch.Tensor, update: bool = True) -> torch.Tensor:
        with torch.autocast(self.cfg.device, dtype=torch.bfloat16):
            preds = self.model(video)
            loss = self.loss(preds.float(), targets, mse_weight=0.01)
        loss.backward()
        if update:
            self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        return loss


def device_batch(cfg: CheckConfig, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator(device=cfg.device).manual_seed(0)
    video = torch.randint(0, 256, (batch, cfg.num_frames, 3, cfg.image_size, cfg.image_size), dtype=torch.uint8,
                          device=cfg.device, generator=g)
    return video, torch.randn(batch, cfg.voxels, device=cfg.device, generator=g)


def flops_per_clip(cfg: CheckConfig, step: Stepper) -> float:
    """Training FLOPs of one clip: 3x its forward FLOPs as ``torch.utils.flop_counter`` counts them (the
    usual convention, backward = 2x forward). Its own count of the backward is not used: it counts a
    depthwise (grouped) convolution's backward as if it were dense, 16-40x too high for Lite0."""
    from torch.utils.flop_counter import FlopCounterMode

    video, _ = device_batch(cfg, 2)
    with FlopCounterMode(display=False) as counter, torch.no_grad(), torch.autocast(cfg.device, dtype=torch.bfloat16):
        step.model(video)
    return 3 * counter.get_total_flops() / 2


def timed_steps(cfg: CheckConfig, step: Callable[[], object], max_steps: int, seconds: float) -> tuple[int, float]:
    """Run ``step`` up to ``max_steps`` times or ``seconds``; (steps, seconds) between synchronisations."""
    _sync(cfg)
    start = time.perf_counter()
    n = 0
    while n < max_steps and (n < 2 or time.perf_counter() - start < seconds):
        step()
        n += 1
        if n % 5 == 0:
            _sync(cfg)
    _sync(cfg)
    return n, time.perf_counter() - start
