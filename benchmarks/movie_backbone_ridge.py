"""FIR ridge against fixed-lag ridge on a frozen backbone's features of the simulator's movies.

The same measurement as :mod:`benchmarks.movie_simulator_check` (held-out season 7, run-grouped
CV, paired bootstrap over held-out runs, lag profile against the HRF), with the features the
movie mode's baseline uses instead of the simulated brain's own: frames at 2 Hz through the frozen
pretrained backbone (:class:`lightning_modules.movie_ridge.MovieRidge`), averaged within each TR.
Also times the decoding into the frame cache and the feature extraction, per hour of movie.

    python -m benchmarks.movie_backbone_ridge --root data/movies_demo      # python -m simulator --preset movies
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.movie_simulator_check import report
from datamodules.movies import files
from datamodules.movies import samples as movie_samples
from datamodules.movies.decode import movie_duration
from datamodules.movies.module import MovieDataModule
from lightning_modules.movie_ridge import MovieRidge

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, help="a simulator movie release")
    parser.add_argument("--backbone", default="tf_efficientnet_lite0")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results_movie_backbone_ridge.md"))
    args = parser.parse_args(argv)
    load = os.getloadavg()
    root = Path(args.root)
    stimuli: dict[str, tuple[Path, int]] = {}
    for subject in files.list_subjects(root):
        for run in files.list_runs(root, subject):
            stimuli[run.stimulus] = (run.movie_path, run.n_trs)
        for episode, n in movie_samples.read_sample_numbers(root, subjects=[subject])[subject].items():
            stimuli[episode] = (files.movie_path(root, "friends", episode), n)
    with tempfile.TemporaryDirectory() as cache:
        data = MovieDataModule(str(root), image_size=args.image_size, cache_dir=cache)
        model = MovieRidge(backbone=args.backbone, pretrained=True)
        seconds = sum(movie_duration(m) for m, _ in stimuli.values())
        start = time.perf_counter()
        for movie, _ in stimuli.values():
            data.frames(movie)
        decode_s = time.perf_counter() - start
        cache_bytes = sum(p.stat().st_size for p in Path(cache).glob("*.npy"))
        start = time.perf_counter()
        feats = {s: model.movie_features(data, m, n).astype(np.float64) for s, (m, n) in stimuli.items()}
        feature_s = time.perf_counter() - start
    n_features = next(iter(feats.values())).shape[1]
    lines = report(root, args.n_boot, feats)
    hours = seconds / 3600
    head = ["# The movie mode's baseline: ridge on frozen backbone features of the simulator's movies "
            "(issue 26)", "",
            f"Command: `python -m benchmarks.movie_backbone_ridge --root {args.root} --backbone {args.backbone} "
            f"--image-size {args.image_size}`", "",
            f"Machine: nproc {os.cpu_count()}, {platform.system()} {platform.machine()}, Python "
            f"{platform.python_version()}; load average at start {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f}", "",
            f"Features: {args.backbone} (pretrained, frozen), its last level's {n_features} pooled channels of "
            f"frames at 2 Hz, {args.image_size} px, averaged within each TR; {len(stimuli)} movies, "
            f"{seconds / 60:.1f} min in all.", "",
            f"Cost on this CPU: decoding into the frame cache {decode_s:.0f} s ({decode_s / hours / 3600:.3f} x "
            f"real time; {decode_s / hours / 60:.1f} min per hour of movie), cache {cache_bytes / 1e6:.0f} MB "
            f"({cache_bytes / 1e9 / hours:.2f} GB per hour of movie at {args.image_size} px, uint8); "
            f"features {feature_s:.0f} s ({feature_s / hours / 60:.1f} min per hour of movie).", ""]
    Path(args.out).write_text("\n".join(head + lines) + "\n")
    print("\n".join(head + lines))


if __name__ == "__main__":
    main()
