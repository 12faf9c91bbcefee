"""The GPU check: one short run that measures the GPU path and prints one table.

    bash scripts/gpu_check.sh                       # on a GPU machine: carried wheels, then this
    python -m benchmarks.gpu_check --out gpu.md     # the same, wheels already installed
    python -m benchmarks.gpu_check --dry-run        # every step at tiny size on the CPU (a test)

It makes its own data (simulator clips; the clip cache written straight from the rendered frames,
and mp4 files for the decoding row when PyAV is there), then measures, each row under its own time
budget (a row that fails or runs out of time says so in its row; the rest go on), within about
7.5 minutes in all on one H100/H200:

- ``bf16 matmul``: the card's measured bf16 matrix rate (8192^3), the reference of the MFU column;
- ``train``: training steps of the model (``EncodingModel``, 161,326 voxels, learned frame weights)
  for Lite0 and ResNet-50 at 224 px, 16 frames, bf16 autocast, channels-last, eager and compiled:
  clips/s, frames/s, model TFLOP/s (3x the forward FLOPs counted by ``torch.utils.flop_counter``) and MFU, peak
  memory; the compiled rows also give the first step's compilation time;
- ``max batch``: the largest batch of clips whose training step fits in the GPU's memory;
- ``loader``: the GPU busy fraction when a DataLoader feeds the steps at the real batch size and
  workers (``configs/full_track_resnet50.yaml``: 16 clips, 8 workers), from the clip cache and from
  decoding mp4 files;
- ``ridge``: the ridge baseline (``RidgeCV``, 20 penalties, 5 folds) over 161,326 voxels on the GPU
  (target batches sized from free memory) against the CPU solver with 2 threads (the project's CPU
  machine; run on a subset of voxels and scaled): time, speed-up and agreement;
- ``ddp``: a Lightning DDP fit with one process per GPU (NCCL), in its own processes.

Columns: ``check``, ``setting``, ``clips/s``, ``frames/s``, ``TFLOP/s``, ``MFU`` (model FLOPs per
second over the measured bf16 matmul rate), ``peak GiB`` (``torch.cuda.max_memory_allocated``),
``max batch``, ``GPU busy`` (share of the wall time the GPU spent in steps rather than waiting for
the loader), ``time s`` (the row's own time) and ``result`` (ok, notes, or the error).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import multiprocessing
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
CHECKS = ("bf16 matmul", "train", "loader", "ridge", "ddp", "max batch")
COLUMNS = ("check", "setting", "clips/s", "frames/s", "TFLOP/s", "MFU", "peak GiB", "max batch", "GPU busy",
           "time s", "result")


@dataclass(frozen=True)
class CheckConfig:
    """Sizes and time budgets of one run (:func:`full_config` on a GPU, :func:`dry_config` on a CPU)."""

    device: str = "cuda"
    image_size: int = 224
    num_frames: int = 16
    batch: int = 16  # the real batch size (configs/full_track_resnet50.yaml)
    workers: int = 8
    n_clips: int = 128
    render_size: int = 268  # the release's videos are about 268 px; mp4s are written at this size
    clip_frames: int = 90  # 3 s at 30 fps
    n_mp4: int = 48
    voxels: int = 161326
    ridge_voxels: int = 161326
    backbones: tuple = (("tf_efficientnet_lite0", (1, 2, 3, 4)), ("resnet50", (3, 4)))
    train_batch: int = 32  # the throughput rows' batch
    train_steps: int = 60
    compile_backend: str = "inductor"
    compile_backbones: int = 2  # the last this-many of ``backbones`` get a compiled row
    max_batch_backbones: int = 2
    matmul_n: int = 8192
    max_batch_cap: int = 1024
    loader_steps: int = 60
    loader_warmup: int = 3  # steps left out of the loader rows' figures (workers' start, warm-up)
    ridge_videos: int = 900
    ridge_features: int = 3072  # ResNet-50 layers 3 and 4: 1024 + 2048
    ridge_cpu_voxels: int = 4096
    ridge_cpu_threads: int = 2
    ridge_batch: int | None = None  # None: sized from free memory
    ddp_steps: int = 30
    ddp_backbone: str = "resnet50"
    ddp_layers: tuple = (3, 4)
    budgets: dict = field(default_factory=lambda: {
        "data": 60, "matmul": 15, "train": 35, "train_compile": 110, "max_batch": 35, "loader": 30,
        "ridge": 90, "ddp": 90})
    total_s: float = 450.0
    dry_run: bool = False


def full_config() -> CheckConfig:
    """One H100/H200: 224 px, 16 frames, the real batch and voxel count, about 7.5 minutes."""
    return CheckConfig()


def dry_config() -> CheckConfig:
    """Every step at tiny size on the CPU: timm's test models, 32 px, 4 frames, 2-clip batches."""
    return replace(
        CheckConfig(), device="cpu", image_size=32, num_frames=4, batch=2, workers=0, n_clips=6, render_size=36,
        clip_frames=8, n_mp4=3, voxels=40, backbones=(("test_efficientnet", (1, 2)), ("test_resnet", (2, 3))),
        train_batch=2, train_steps=2, compile_backend="eager", matmul_n=128, max_batch_cap=4, loader_steps=2,
        loader_warmup=1,
        ridge_voxels=300, ridge_videos=40, ridge_features=24, ridge_cpu_voxels=100, ridge_batch=64, ddp_steps=2,
        ddp_backbone="test_resnet", ddp_layers=(2, 3),
        compile_backbones=1, max_batch_backbones=1,
        budgets={k: 120 for k in CheckConfig().budgets}, total_s=300.0, dry_run=True)


# ----------------------------------------------------------------------------- the table
def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if value == 0 or not math.isfinite(value):
            return f"{value:g}"
        return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    return str(value).replace("|", "/").replace("\n", " ")


class Table:
    """Rows of :data:`COLUMNS`, each printed as soon as it is measured (a run cut short keeps them)."""

    def __init__(self, path: Path | None = None):
        self.rows: list[dict] = []
        self.path = path  # rewritten after each row, so a run cut short still leaves its rows

    @staticmethod
    def header() -> str:
        return "| " + " | ".join(COLUMNS) + " |\n|" + "|".join("---" for _ in COLUMNS) + "|"

    @staticmethod
    def line(row: dict) -> str:
        return "| " + " | ".join(_cell(row.get(c)) for c in COLUMNS) + " |"

    def add(self, row: dict) -> None:
        self.rows.append(row)
        print(self.line(row), flush=True)
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(f"(partial: the run is still going or was cut short)\n\n{self.markdown()}\n")

    def markdown(self) -> str:
        return "\n".join([self.header(), *(self.line(r) for r in self.rows)])


class RowTimeout(Exception):
    """A row ran past its own time budget."""


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise :class:`RowTimeout` in the main thread after ``seconds`` (SIGALRM)."""
    def expire(*_):
        raise RowTimeout(f"out of time after its {seconds:.0f} s budget")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.01))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class Runner:
    """Runs each row under ``min(its budget, the time left)``; a failure fills its row's result."""

    RESERVE_S = 8.0  # kept for printing the table

    def __init__(self, cfg: CheckConfig, table: Table, only: set[str] | None = None):
        self.cfg, self.table, self.only = cfg, table, only
        self.deadline = time.perf_counter() + cfg.total_s

    def row(self, check: str, setting: str, budget: str, measure: Callable[[float], dict]) -> dict:
        left = self.deadline - time.perf_counter() - self.RESERVE_S
        limit = min(self.cfg.budgets[budget], left)
        row = {"check": check, "setting": setting}
        needed = {"data", *(("bf16 matmul",) if self.only and "train" in self.only else ())}
        if self.only is not None and check not in self.only | needed:
            return row  # not asked for (--only): no line in the table
        if limit < 3:
            row["result"] = "skipped: the run's time is spent"
            self.table.add(row)
            return row
        start = time.perf_counter()
        try:
            with time_limit(limit):
                row.update(measure(limit))
        except RowTimeout as err:
            row["result"] = str(err)
        except Exception as err:  # noqa: BLE001 - one row's failure must not end the table
            first = str(err).strip().splitlines()[0] if str(err).strip() else ""
            row["result"] = f"error: {type(err).__name__}: {first[:160]}"
            traceback.print_exc(file=sys.stderr)
        row["time s"] = time.perf_counter() - start
        _release_memory(self.cfg)
        self.table.add(row)
        return row


def _release_memory(cfg: CheckConfig) -> None:
    import gc

    gc.collect()
    if cfg.device == "cuda":
        with contextlib.suppress(Exception):  # after a CUDA error the next rows say so themselves
            torch.cuda.synchronize()
            torch.cuda.empty_cache()


def _sync(cfg: CheckConfig) -> None:
    if cfg.device == "cuda":
        torch.cuda.synchronize()


def _peak_gib(cfg: CheckConfig) -> float | None:
    return torch.cuda.max_memory_allocated() / 2**30 if cfg.device == "cuda" else None


def _reset_peak(cfg: CheckConfig) -> None:
    if cfg.device == "cuda":
        torch.cuda.reset_peak_memory_stats()


# ----------------------------------------------------------------------------- data
def _render(job: tuple) -> np.ndarray:
    """One simulator clip: uint8 (num_frames, 3, size, size) for the cache; the whole clip as an mp4
    at the release's size when ``mp4`` is a path."""
    seed, render_size, clip_frames, size, num_frames, mp4 = job
    from datamodules.video import resize_frames, sample_frame_indices
    from simulator.scenes import render_scene, sample_scene

    clip = render_scene(sample_scene(np.random.default_rng(seed), 30.0, clip_frames), render_size)
    if mp4 is not None:
        from datamodules.mp4_writer import write_mp4

        write_mp4(mp4, clip.frames, fps=30.0)
    frames = clip.frames[sample_frame_indices(len(clip.frames), num_frames)]
    return resize_frames(frames, size)


@dataclass
class Data:
    clips: np.ndarray  # uint8 memmap (n_clips, num_frames, 3, size, size), the clip cache's layout
    clips_path: Path
    mp4s: list[Path]
    decoder: str | None  # "decord", "pyav" or None


def working_decoder(mp4: Path, num_frames: int, size: int) -> tuple[str | None, str]:
    """The first backend of decord and PyAV (the data module's order) that decodes ``mp4``, and why
    the others did not ("" when the first did)."""
    from datamodules.video import read_clip

    failures = []
    for backend in ("decord", "pyav"):
        try:
            read_clip(mp4, num_frames, size, backend)
            return backend, "; ".join(failures)
        except Exception as err:  # noqa: BLE001 - missing module, or a wheel that does not work here
            failures.append(f"{backend}: {type(err).__name__}")
    return None, "; ".join(failures)


def make_data(cfg: CheckConfig, work: Path) -> tuple[Data, dict]:
    """Render ``n_clips`` simulator clips into a clip-cache array (and ``n_mp4`` of them as mp4 files
    when PyAV can write them), in parallel processes started before any CUDA call."""
    try:
        import av  # noqa: F401 - the mp4 writer
        can_write = True
    except ImportError:
        can_write = False
    mp4_dir = work / "mp4"
    shutil.rmtree(mp4_dir, ignore_errors=True)
    mp4_dir.mkdir(parents=True)
    jobs = [(i, cfg.render_size, cfg.clip_frames, cfg.image_size, cfg.num_frames,
             mp4_dir / f"{i:04d}.mp4" if can_write and i < cfg.n_mp4 else None) for i in range(cfg.n_clips)]
    path = work / "clips.npy"
    clips = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8,
                                      shape=(cfg.n_clips, cfg.num_frames, 3, cfg.image_size, cfg.image_size))
    processes = min(len(jobs), os.cpu_count() or 1, 16)
    if processes > 1:
        with multiprocessing.get_context("fork").Pool(processes, initializer=torch.set_num_threads,
                                                      initargs=(1,)) as pool:
            for i, clip in enumerate(pool.imap(_render, jobs)):
                clips[i] = clip
    else:
        for i, job in enumerate(jobs):
            clips[i] = _render(job)
    clips.flush()
    mp4s = sorted(mp4_dir.glob("*.mp4"))
    decoder, failed = working_decoder(mp4s[0], cfg.num_frames, cfg.image_size) if mp4s else (None, "")
    found = f"decoder {decoder}" if decoder else "no decoder" if mp4s else "no PyAV to write them"
    info = {"result": f"ok: {cfg.n_clips} clips into the cache; {len(mp4s)} mp4 files ({found}"
                      f"{'; failed: ' + failed if failed else ''})"}
    return Data(np.load(path, mmap_mode="r"), path, mp4s, decoder), info


class DecodedClips(torch.utils.data.Dataset):
    """Items as the loader serves them without the cache: each clip decoded from its mp4."""

    def __init__(self, paths: list[Path], n_items: int, num_frames: int, size: int, backend: str, n_voxels: int):
        self.paths, self.n_items = [str(p) for p in paths], n_items
        self.num_frames, self.size, self.backend, self.n_voxels = num_frames, size, backend, n_voxels

    def __len__(self) -> int:
        return self.n_items

    def __getitem__(self, i: int) -> dict:
        from datamodules.video import read_clip

        video = read_clip(self.paths[i % len(self.paths)], self.num_frames, self.size, self.backend)
        return {"video": torch.from_numpy(video), "targets": torch.zeros(self.n_voxels), "index": torch.tensor(i)}


# ----------------------------------------------------------------------------- the model
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


# ----------------------------------------------------------------------------- rows
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


def ddp_row(cfg: CheckConfig, data: Data, work: Path, limit: float) -> dict:
    """A Lightning DDP fit, one process per GPU: its own processes on a GPU, in this one on a CPU."""
    name, layers = cfg.ddp_backbone, cfg.ddp_layers
    out = work / "ddp.json"
    out.unlink(missing_ok=True)
    if cfg.device == "cuda":
        devices = torch.cuda.device_count()
        args = [sys.executable, "-m", "benchmarks.gpu_ddp_fit", "--clips", str(data.clips_path), "--out", str(out),
                "--devices", str(devices), "--accelerator", "gpu", "--backbone", name,
                "--layers", *map(str, layers), "--voxels", str(cfg.voxels), "--batch", str(cfg.batch * devices),
                "--steps", str(cfg.ddp_steps), "--workers", str(max(1, cfg.workers // devices))]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
        done = subprocess.run(args, cwd=REPO, env=env, timeout=max(5.0, limit - 3), capture_output=True, text=True)
        if done.returncode != 0 or not out.exists():
            sys.stderr.write(f"gpu_check: the DDP fit's output:\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}\n")
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            return {"result": f"error: exit {done.returncode}: {tail[0][:160]}"}
        result = json.loads(out.read_text())
    else:
        from benchmarks.gpu_ddp_fit import ddp_fit

        result = ddp_fit(data.clips, voxel_counts(cfg.voxels), name, list(layers), cfg.batch, cfg.ddp_steps, 1,
                         "cpu", 0, work)
    clips = result["clips_per_s"]
    agree = "ranks agree" if result["ranks_agree"] else "RANKS DIFFER"
    return {"clips/s": clips, "frames/s": clips * cfg.num_frames if clips else None, "peak GiB": result["peak_gib"],
            "result": f"{'ok' if result['ranks_agree'] else 'DIFFER'}: {result['world_size']} process(es), "
                      f"{result['backend']}, {result['steps']} steps; {agree}; fit {result['wall_s']:.0f} s"}


# ----------------------------------------------------------------------------- the run
def describe_machine(cfg: CheckConfig) -> str:
    gpu = (f"{torch.cuda.get_device_name()} x{torch.cuda.device_count()}, CUDA {torch.version.cuda}"
           if cfg.device == "cuda" else "no GPU (dry run on the CPU)")
    return (f"{gpu}; torch {torch.__version__}, Python {platform.python_version()}, "
            f"{os.cpu_count()} CPUs; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")


def run(cfg: CheckConfig, work: Path, only: set[str] | None = None, out: Path | None = None) -> Table:
    table = Table(out)
    runner = Runner(cfg, table, only)
    work.mkdir(parents=True, exist_ok=True)
    print(f"gpu_check: {'dry run on the CPU' if cfg.dry_run else 'on the GPU'}, about {cfg.total_s:.0f} s at most; "
          "rows as they come:", flush=True)  # no CUDA call before the data's processes fork
    print(Table.header(), flush=True)
    holder: dict = {}

    def data_row(limit):
        holder["data"], info = make_data(cfg, work)
        return info

    runner.row("data", f"{cfg.n_clips} clips {cfg.image_size} px x {cfg.num_frames} frames", "data", data_row)
    if "data" not in holder:
        return table
    data = holder["data"]
    matmul = runner.row("bf16 matmul", f"{cfg.matmul_n}^3", "matmul", lambda limit: matmul_row(cfg, limit))
    peak = matmul.pop("_tflops", None)
    flops: dict = {}
    b = cfg.train_batch

    def train(name, layers, compiled):
        mode = f"compile ({cfg.compile_backend})" if compiled else "eager"
        runner.row("train", f"{name}, batch {b}, bf16, NHWC, {mode}", "train_compile" if compiled else "train",
                   lambda limit: train_row(cfg, name, layers, compiled, flops, peak, limit))
        if compiled:
            torch._dynamo.reset()

    for name, layers in cfg.backbones:
        train(name, layers, False)
    big = cfg.backbones[-1][0]
    runner.row("loader", f"clip cache -> {big}", "loader", lambda limit: loader_row(cfg, data, "cache", limit))
    runner.row("ridge", f"{cfg.ridge_voxels} voxels, {cfg.ridge_videos} videos x {cfg.ridge_features} features",
               "ridge", lambda limit: ridge_row(cfg, limit))
    train(*cfg.backbones[-1], True)
    runner.row("ddp", f"{cfg.ddp_backbone}, batch {cfg.batch}/process", "ddp",
               lambda limit: ddp_row(cfg, data, work, limit))
    for name, layers in cfg.backbones[len(cfg.backbones) - cfg.compile_backbones:-1]:
        train(name, layers, True)
    for name, layers in list(reversed(cfg.backbones))[:cfg.max_batch_backbones]:
        runner.row("max batch", f"{name}, eager", "max_batch",
                   lambda limit, name=name, layers=layers: max_batch_row(cfg, name, layers, limit))
    runner.row("loader", f"decode mp4 -> {big}", "loader", lambda limit: loader_row(cfg, data, "decode", limit))
    return table


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dry-run", action="store_true", help="every step at tiny size on the CPU")
    p.add_argument("--work", default=None, help="scratch folder for the clips (default: a temporary one)")
    p.add_argument("--out", default=None, help="also write the table (markdown) here, and a .json beside it")
    p.add_argument("--total-s", type=float, default=None, help="the whole run's time budget in seconds")
    p.add_argument("--only", default=None,
                   help="comma-separated checks to run (a rerun of some rows): " + ", ".join(CHECKS))
    args = p.parse_args(argv)
    only = None if args.only is None else {c.strip() for c in args.only.split(",") if c.strip()}
    if only is not None and only - set(CHECKS):
        p.error(f"--only: unknown check(s) {', '.join(sorted(only - set(CHECKS)))}; expected some of "
                f"{', '.join(CHECKS)}")
    cfg = dry_config() if args.dry_run else full_config()
    if args.total_s:
        cfg = replace(cfg, total_s=args.total_s)
    if cfg.device == "cuda" and not torch.cuda.is_available():
        print("gpu_check: no CUDA device is visible; run it on a GPU machine, or with --dry-run on a CPU",
              file=sys.stderr)
        return 2
    import tempfile

    with tempfile.TemporaryDirectory(prefix="gpu_check_") as tmp:
        table = run(cfg, Path(args.work) if args.work else Path(tmp), only, Path(args.out) if args.out else None)
    command = ("python -m benchmarks.gpu_check" + (" --dry-run" if args.dry_run else "")
               + (f" --only {args.only}" if args.only else "")
               + (f" --total-s {args.total_s:g}" if args.total_s else ""))
    text = (f"# GPU check (issue 29)\n\nCommand: `bash scripts/gpu_check.sh` (`{command.strip()}` after the "
            f"carried wheels).\n\nMachine: {describe_machine(cfg)}\n\n{table.markdown()}\n")
    print("\n" + text, flush=True)
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        out.with_suffix(".json").write_text(json.dumps({"config": asdict(cfg), "rows": table.rows}, indent=1,
                                                       default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
