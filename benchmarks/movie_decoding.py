"""Decoding and caching a long movie at a fixed sampling rate (issue 26): cost per hour of movie.

Writes one simulator movie (shots of :mod:`simulator.scenes` with cuts, rendered at ``--render``
px and scaled to ``--width`` x ``--height``, light grain so the bitrate is film-like; H.264 in
Matroska with an AAC track, as the Algonauts 2025 files), then times, on this CPU:

- demux + decode of every frame, nothing converted (what any sampling rate costs at least);
- :func:`datamodules.movies.decode.decode_at_rate`: decode, RGB conversion and resize of the
  frames on screen at ``k / rate`` s, for each ``--sizes``;
- writing those frames as the cache (one uint8 ``.npy`` per movie) and reading it back.

Costs are given as a ratio to real time (seconds of work per second of movie) and per hour of
movie; the cache's size per hour is exact arithmetic (``rate * 3600 * 3 * size^2`` bytes)
checked against the file written.

    python -m benchmarks.movie_decoding                       # 2 min, 720x480 at 29.97 fps
    python -m benchmarks.movie_decoding --minutes 1 --sizes 96
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np
import torch

from datamodules.movies.decode import decode_at_rate, movie_duration
from simulator.movies.mkv import MkvWriter
from simulator.scenes import render_scene, sample_scene

ROOT = Path(__file__).resolve().parents[1]


def write_movie(path: Path, minutes: float, fps: float, width: int, height: int,
                render: int, grain: float, seed: int = 0) -> None:
    """Shots rendered at ``render`` px, scaled to ``width`` x ``height`` (nearest pixel), plus
    Gaussian grain of SD ``grain`` (a cycle of 8 fields), with a tone as the audio track."""
    rng = np.random.default_rng(seed)
    rows = np.arange(height) * render // height
    cols = np.arange(width) * render // width
    fields = rng.normal(0, grain, (8, height, width, 1)).astype(np.float32)
    n_total, done = int(round(minutes * 60 * fps)), 0
    with MkvWriter(path, fps, width, height) as out:
        while done < n_total:
            n = min(max(2, int(rng.uniform(2, 12) * fps)), n_total - done)
            clip = render_scene(sample_scene(rng, fps, n), render)
            frames = clip.frames[:, rows][:, :, cols].astype(np.float32)
            frames += fields[np.arange(done, done + n) % len(fields)]
            frames = np.clip(frames, 0, 255).astype(np.uint8)
            t = np.arange(int(round(done / fps * 16000)), int(round((done + n) / fps * 16000)))
            out.write(frames, (0.2 * np.sin(2 * np.pi * 220 * t / 16000)).astype(np.float32))
            done += n


def decode_only(path: Path) -> int:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        return sum(1 for _ in container.decode(stream))


def best_of(repeats: int, fn):
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--fps", type=float, default=29.97)
    parser.add_argument("--width", type=int, default=720)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--render", type=int, default=160, help="simulator render side (px)")
    parser.add_argument("--grain", type=float, nargs="+", default=[3.0, 6.0],
                        help="grain SD (0-255 scale), one movie each: the bitrate follows it")
    parser.add_argument("--rate", type=float, default=2.0, help="samples per second")
    parser.add_argument("--sizes", type=int, nargs="+", default=[224, 96])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--hours", type=float, default=65.0,
                        help="hours of movie to extrapolate to (the 2025 training set's, roughly)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results_movie_decoding.md"))
    args = parser.parse_args(argv)
    command = sys.argv[1:] if argv is None else argv
    torch.set_num_threads(1)
    load = os.getloadavg()
    movies, rows = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for grain in args.grain:
            path = Path(tmp) / f"movie_grain{grain:g}.mkv"
            start = time.perf_counter()
            write_movie(path, args.minutes, args.fps, args.width, args.height, args.render, grain)
            write_s = time.perf_counter() - start
            seconds = movie_duration(path)
            mbps = path.stat().st_size * 8 / seconds / 1e6
            label = f"grain {grain:g}, {mbps:.2f} Mbit/s"
            movies.append(f"{label}: written in {write_s:.0f} s")
            t_decode, n_frames = best_of(args.repeats, lambda p=path: decode_only(p))
            rows.append((label, "decode every frame, no conversion", t_decode, None, None, None))
            for size in args.sizes:
                t, (frames, _) = best_of(args.repeats,
                                         lambda s=size, p=path: decode_at_rate(p, args.rate, s))
                cache = Path(tmp) / f"cache_{size}.npy"
                start = time.perf_counter()
                np.save(cache, frames)
                t_write = time.perf_counter() - start
                start = time.perf_counter()
                back = np.load(cache)
                t_read = time.perf_counter() - start
                assert back.shape == frames.shape and back.dtype == np.uint8
                expected = int(round(seconds * args.rate)) * 3 * size * size
                assert abs(cache.stat().st_size - 128 - expected) <= 3 * size * size
                rows.append((label, f"decode_at_rate, {args.rate:g} Hz, {size} px", t, t_write,
                             t_read, cache.stat().st_size))
                cache.unlink()
            path.unlink()
    per_hour = 3600 / seconds
    lines = [
        "# Long movies: decoding at a fixed rate and the frame cache (issue 26)", "",
        f"Command: `{' '.join(['python -m benchmarks.movie_decoding', *command])}`", "",
        f"Machine: nproc {os.cpu_count()}, {platform.processor() or platform.machine()}, "
        f"{platform.system()} {platform.machine()}, Python {platform.python_version()}, "
        f"PyAV {av.__version__}; load average at start {load[0]:.2f}, {load[1]:.2f}, "
        f"{load[2]:.2f}", "",
        f"Movies: simulator movies of {seconds:.1f} s ({n_frames} frames at {args.fps:g} fps, "
        f"rendered at {args.render} px, scaled to {args.width}x{args.height}, H.264 crf 23 "
        "veryfast in Matroska with an AAC track), one per grain level (independent Gaussian "
        "noise per pixel, which sets the bitrate): " + "; ".join(movies) + ". The real "
        "Friends/Movie10 files' resolution and bitrate were not at hand: rerun with "
        "`--width/--height/--fps/--grain` set to match theirs (decoding cost grows with pixels "
        "per second and with bitrate).", "",
        f"Times: best of {args.repeats} runs, one process, torch on 1 thread, FFmpeg's decoder "
        "threads on auto. Ratio to real time: seconds of work per second of movie (below 1: "
        "faster than playback). Per hour: the ratio times 3600 s. Cache: the sampled frames as "
        "one uint8 (n, 3, size, size) .npy per movie; write and read times include the page "
        "cache (a warm read).", "",
        "| movie | step | time (s) | ratio to real time | per hour of movie | cache per hour | "
        "cache write / read per hour (s) |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for label, name, t, t_write, t_read, size_bytes in rows:
        ratio = t / seconds
        cache = "-" if size_bytes is None else f"{(size_bytes - 128) * per_hour / 2**30:.2f} GiB"
        io_s = ("-" if t_write is None else
                f"{t_write * per_hour:.0f} / {t_read * per_hour:.0f}")
        lines.append(f"| {label} | {name} | {t:.1f} | {ratio:.3f} | {ratio * 3600 / 60:.1f} min | "
                     f"{cache} | {io_s} |")
    hours = args.hours
    lines += ["", f"Extrapolated to the Algonauts 2025 training movies (Friends 1-6, about 146 "
              f"episodes of ~22 min, and Movie10's four films: about {hours:g} h "
              f"of distinct movie, an estimate) at {args.rate:g} Hz: "
              + ", ".join(f"{size} px {args.rate * 3600 * hours * 3 * size * size / 2**30:.0f} GiB"
                          for size in args.sizes)
              + " of cache; decoding it once at that rate and the first size: "
              + ", ".join(f"{r[2] / seconds * hours:.1f} h ({r[0]})" for r in rows
                          if r[1].endswith(f"{args.sizes[0]} px")) + " of this CPU."]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
