"""Clips per second through a torch DataLoader: decord decode vs PyAV decode vs the clip cache.

Writes its own synthetic set (default 60 clips, 268x268, ~3 s, fps cycling 30/25/15, a
moving pattern over noise) into a temporary folder, builds a ClipCache once, then runs each
(source, num_workers) configuration in a fresh subprocess so that peak RSS is per
configuration. Throughput is the mean over epochs 2..N (persistent workers, warm page
cache); the first epoch, worker start-up included, is reported beside it.

    python -m benchmarks.loader_throughput            # 16 frames, 224 px, workers 0 and 2
    python -m benchmarks.loader_throughput --num-frames 8 --size 112 --workers 0 1 2 4
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from datamodules.clip_cache import ClipCache
from datamodules.mp4_writer import write_mp4
from datamodules.video import read_clip

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("decord", "pyav", "cache")


def synthetic_clip(n_frames: int, size: int, seed: int) -> np.ndarray:
    """uint8 (n_frames, size, size, 3): drifting gradient, a moving disc, per-frame noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    out = np.empty((n_frames, size, size, 3), np.uint8)
    vx, vy = rng.uniform(-4, 4, 2)
    for t in range(n_frames):
        base = np.stack([xx + 2 * t, yy - t, xx + yy + 3 * t], -1) * (255 / (2 * size))
        cx, cy = (size / 2 + vx * t) % size, (size / 2 + vy * t) % size
        disc = ((xx - cx) ** 2 + (yy - cy) ** 2 < (size / 8) ** 2)[..., None]
        frame = np.where(disc, 255 - base, base) + rng.normal(0, 8, base.shape)
        out[t] = np.clip(frame, 0, 255).astype(np.uint8)
    return out


def write_dataset(folder: Path, n_clips: int, size: int) -> list[Path]:
    paths = []
    for i in range(n_clips):
        fps = (30, 25, 15)[i % 3]
        seconds = 2.95 + 0.13 * ((i * 7) % 10) / 10  # 2.95-3.08 s, as in Algonauts
        path = folder / f"{i + 1:04d}_synthetic.mp4"
        write_mp4(path, synthetic_clip(round(fps * seconds), size, seed=i), fps)
        paths.append(path)
    return paths


class Clips(torch.utils.data.Dataset):
    """Item i: uint8 tensor (num_frames, 3, size, size), decoded or read from the cache."""

    def __init__(self, paths, num_frames, size, source, cache=None):
        self.paths, self.num_frames, self.size, self.source, self.cache = (
            paths, num_frames, size, source, cache)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> torch.Tensor:
        if self.source == "cache":
            return torch.from_numpy(np.array(self.cache[i]))
        return torch.from_numpy(read_clip(self.paths[i], self.num_frames, self.size, self.source))


def run_single(args) -> dict:
    """One configuration in this (fresh) process: per-epoch clips/s and peak RSS."""
    torch.set_num_threads(args.torch_threads)
    paths = sorted(Path(args.dir).glob("*.mp4"))
    cache = None
    if args.source == "cache":
        cache = ClipCache(args.cache_dir, paths, args.num_frames, args.size, backend="decord")
        assert cache.is_built, "the parent builds the cache first"
    data = Clips(paths, args.num_frames, args.size, args.source, cache)
    loader = torch.utils.data.DataLoader(data, batch_size=args.batch_size, shuffle=True,
                                         num_workers=args.single_workers,
                                         persistent_workers=args.single_workers > 0)
    rss_start = _status_mib("VmRSS")
    rates = []
    for _ in range(args.epochs):
        start, n = time.perf_counter(), 0
        for batch in loader:
            n += batch.shape[0]
        rates.append(n / (time.perf_counter() - start))
    rss_main = _status_mib("VmHWM")  # this process's peak; ru_maxrss would carry the parent's
    del loader, batch  # joins the workers, so that RUSAGE_CHILDREN counts them
    gc.collect()
    return {"rates": rates, "rss_start_mib": rss_start, "rss_main_mib": rss_main,
            "rss_worker_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}


def _status_mib(field: str) -> float:
    """A memory field of /proc/self/status (VmRSS: now, VmHWM: peak), in MiB."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":")) / 1024


def machine() -> str:
    model = "unknown CPU"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"nproc {len(os.sched_getaffinity(0))}, {model}, {platform.system()} "
            f"{platform.machine()}, Python {platform.python_version()}, torch {torch.__version__}"
            f"; load average at start {load}")


def main(args) -> str:
    with tempfile.TemporaryDirectory(prefix="loader_bench_") as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        paths = write_dataset(tmp / "videos", args.n_clips, args.src_size)
        print(f"wrote {len(paths)} clips in {time.perf_counter() - t0:.1f} s", flush=True)
        t0 = time.perf_counter()
        cache = ClipCache(tmp / "cache", paths, args.num_frames, args.size, backend="decord")
        cache.build(progress=False, num_workers=args.build_workers)
        build_s = time.perf_counter() - t0
        print(f"built cache in {build_s:.1f} s", flush=True)

        results = {}
        for workers in args.workers:
            for source in SOURCES:
                cmd = [sys.executable, "-m", "benchmarks.loader_throughput", "--single", source,
                       "--single-workers", str(workers), "--dir", str(tmp / "videos"),
                       "--cache-dir", str(tmp / "cache"), "--num-frames", str(args.num_frames),
                       "--size", str(args.size), "--epochs", str(args.epochs),
                       "--batch-size", str(args.batch_size),
                       "--torch-threads", str(args.torch_threads)]
                out = subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True)
                results[source, workers] = json.loads(out.stdout.strip().splitlines()[-1])
                r = results[source, workers]["rates"]
                print(f"{source:7s} workers={workers}: {np.mean(r[1:] or r):8.1f} clips/s",
                      flush=True)
        size_mib = cache.path.stat().st_size / 2**20
    return report(args, results, build_s, size_mib)


def _steady(rates: list[float]) -> float:
    """Mean clips/s over epochs 2..N (epoch 1 alone if there is only one)."""
    return float(np.mean(rates[1:] or rates))


def report(args, results, build_s, size_mib) -> str:
    lines = [
        "# Loader throughput: decoding mp4s vs reading the clip cache", "",
        f"Command: `{' '.join(['python -m benchmarks.loader_throughput', *sys.argv[1:]])}`",
        "", f"Machine: {machine()}", "",
        f"Data: {args.n_clips} synthetic clips, {args.src_size}x{args.src_size}, 2.95-3.08 s, "
        f"fps cycling 30/25/15 (H.264, crf 18); {args.num_frames} frames sampled per clip, "
        f"resized to {args.size}x{args.size}; batch size {args.batch_size}, shuffled; "
        f"torch.set_num_threads({args.torch_threads}) in the main process (workers use 1; on a "
        "busy 2-core machine two OpenMP threads made the default collate's uint8 torch.stack "
        "~60x slower, which would hide the cache's speed at num_workers=0).", "",
        f"Cache: built once with decord and {args.build_workers} worker processes in "
        f"{build_s:.1f} s; file {size_mib:.0f} MiB (in the page cache while read).", "",
        f"clips/s: mean over epochs 2-{args.epochs} (persistent workers); first epoch, worker "
        "start-up included, in brackets. Memory from a fresh process per row: RSS after "
        "imports (torch alone is most of it), then peak RSS of the main process (VmHWM) and "
        "of the largest worker (getrusage; a forked worker's RSS includes the pages it shares "
        "with the main process); mapped cache pages count as RSS. Speed-up: cache clips/s "
        "over decode clips/s, same run, same num_workers.", "",
        "| source | num_workers | clips/s | RSS after imports (MiB) | peak RSS main (MiB) "
        "| peak RSS worker (MiB) | cache speed-up vs this |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for (source, workers), r in results.items():
        rate = _steady(r["rates"])
        cache_rate = _steady(results["cache", workers]["rates"])
        speedup = "-" if source == "cache" else f"{cache_rate / rate:.0f}x"
        worker = f"{r['rss_worker_mib']:.0f}" if workers else "-"
        lines.append(f"| {source} | {workers} | {rate:.1f} ({r['rates'][0]:.1f}) "
                     f"| {r['rss_start_mib']:.0f} | {r['rss_main_mib']:.0f} | {worker} "
                     f"| {speedup} |")
    return "\n".join(lines) + "\n"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n-clips", type=int, default=60)
    p.add_argument("--src-size", type=int, default=268, help="pixels of the synthetic mp4s")
    p.add_argument("--num-frames", type=int, default=16)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    p.add_argument("--build-workers", type=int, default=2)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--torch-threads", type=int, default=1,
                   help="torch intra-op threads in the main process (DataLoader workers use 1)")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results_loader.md")
    p.add_argument("--single", choices=SOURCES, help=argparse.SUPPRESS)
    p.add_argument("--single-workers", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--dir", help=argparse.SUPPRESS)
    p.add_argument("--cache-dir", help=argparse.SUPPRESS)
    return p.parse_args(argv)


if __name__ == "__main__":
    args = parse_args()
    if args.single:
        args.source = args.single
        print(json.dumps(run_single(args)))
    else:
        table = main(args)
        print(table)
        args.out.write_text(table)
        print(f"written to {args.out}")
