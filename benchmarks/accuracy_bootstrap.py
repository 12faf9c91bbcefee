"""Is model A's test score really above model B's? A paired bootstrap over the test videos.

    python -m benchmarks.accuracy_bootstrap "fine-tune, learned weights + frame differences" \\
        "ridge head (ours), frozen features" [--work runs/accuracy] [--n-boot 2000]

Both models' saved test predictions (``<run>/test_predictions``, written by
``benchmarks.accuracy``) are scored against the simulator's measured test responses on the
same resampled videos; the noise-normalised score (per-voxel r / sqrt(true ceiling), averaged
within regions, then over regions and subjects) of A minus B is reported with a 95% interval.
The seed-style rows keep no predictions on disk and cannot be compared here.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from benchmarks.accuracy import MODELS, read_predictions, slug
from datamodules.synthetic.truth import load_ground_truth
from datamodules.targets import TargetLayout


def group_score(preds: np.ndarray, measured: np.ndarray, ceiling: np.ndarray, layout: TargetLayout) -> float:
    """Mean over (subject, region) groups of the mean noise-normalised r of voxels with a positive ceiling.

    ``preds``, ``measured``: (n_videos, n_voxels); ``ceiling``: (n_voxels,).
    """
    p = preds - preds.mean(0)
    t = measured - measured.mean(0)
    r = (p * t).sum(0) / np.sqrt((p * p).sum(0) * (t * t).sum(0) + 1e-12)
    good = ceiling > 0
    score = np.where(good, r / np.sqrt(np.where(good, ceiling, 1.0)), np.nan)
    return float(np.nanmean([np.nanmean(score[g.start:g.stop]) for g in layout.groups]))


def paired_bootstrap(a: np.ndarray, b: np.ndarray, measured: np.ndarray, ceiling: np.ndarray,
                     layout: TargetLayout, n_boot: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """(difference on all videos, 2.5th and 97.5th percentile over resamples) of score(a) - score(b)."""
    rng = np.random.default_rng(seed)
    n = len(measured)
    diffs = np.empty(n_boot)
    for i in range(n_boot):
        rows = rng.integers(0, n, n)
        diffs[i] = (group_score(a[rows], measured[rows], ceiling, layout)
                    - group_score(b[rows], measured[rows], ceiling, layout))
    full = group_score(a, measured, ceiling, layout) - group_score(b, measured, ceiling, layout)
    low, high = np.percentile(diffs, [2.5, 97.5])
    return full, float(low), float(high)


def load_model_predictions(work: Path, name: str) -> tuple[np.ndarray, TargetLayout, str]:
    result = json.loads((work / "results" / f"{slug(name)}.json").read_text())
    if "run_dir" not in result:
        raise SystemExit(f"{name!r} keeps no test predictions on disk (the seed-style rows); pick a trained model")
    shapes = json.loads((Path(result["run_dir"]) / "test_predictions" / "manifest.json").read_text())["shapes"]
    counts: dict[str, dict[str, int]] = {}
    for name_, (_, n_voxels) in shapes.items():  # "sub01/V1": [n_videos, n_voxels], in the layout's order
        subject, roi = name_.split("/")
        counts.setdefault(subject, {})[roi] = n_voxels
    layout = TargetLayout(counts)
    return read_predictions(Path(result["run_dir"]) / "test_predictions", layout), layout, result["track"]


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("model_a", choices=list(MODELS))
    p.add_argument("model_b", choices=list(MODELS))
    p.add_argument("--work", default="runs/accuracy")
    p.add_argument("--data", default="data/synthetic_accuracy")
    p.add_argument("--n-boot", type=int, default=2000)
    p.add_argument("--roi", default=None, help="score this region only (e.g. STS), all subjects")
    args = p.parse_args(argv)
    a, layout, track = load_model_predictions(Path(args.work), args.model_a)
    b, layout_b, _ = load_model_predictions(Path(args.work), args.model_b)
    if layout_b != layout:
        raise SystemExit("the two models predict different voxels (another track or selection)")
    truth = load_ground_truth(args.data, track, layout)
    measured, ceiling = truth.measured, truth.ceiling
    if args.roi:
        groups = [g for g in layout.groups if g.roi == args.roi]
        if not groups:
            raise SystemExit(f"no {args.roi} voxels in these models")
        cols = np.concatenate([np.arange(g.start, g.stop) for g in groups])
        a, b, measured, ceiling = a[:, cols], b[:, cols], measured[:, cols], ceiling[cols]
        layout = TargetLayout({g.subject: {g.roi: g.n_voxels} for g in groups})
    full, low, high = paired_bootstrap(a, b, measured, ceiling, layout, args.n_boot)
    where = f" ({args.roi})" if args.roi else ""
    print(f"| {args.model_a} minus {args.model_b}{where} | {full:+.3f} | [{low:+.3f}, {high:+.3f}] |")


if __name__ == "__main__":
    main()
