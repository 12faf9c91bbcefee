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
from scoring.layout import TargetLayout
from simulator.truth import GroundTruth, load_ground_truth, score_against_truth


def normalised_score(preds: np.ndarray, truth: GroundTruth, layout: TargetLayout,
                     roi: str | None = None) -> float:
    """The study's noise-normalised test score of ``preds`` (n_videos, n_voxels): overall, or one region's."""
    score = score_against_truth(preds, truth, layout)["score"]
    return score["overall"] if roi is None else score["rois"][roi]


def paired_bootstrap(a: np.ndarray, b: np.ndarray, truth: GroundTruth, layout: TargetLayout,
                     roi: str | None = None, n_boot: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """(difference on all videos, 2.5th and 97.5th percentile over resamples) of score(a) - score(b)."""
    rng = np.random.default_rng(seed)
    diffs = np.empty(n_boot)
    for i in range(n_boot):
        rows = rng.integers(0, len(truth.measured), len(truth.measured))
        resampled = GroundTruth(clean=truth.clean[rows], measured=truth.measured[rows], ceiling=truth.ceiling)
        diffs[i] = (normalised_score(a[rows], resampled, layout, roi)
                    - normalised_score(b[rows], resampled, layout, roi))
    full = normalised_score(a, truth, layout, roi) - normalised_score(b, truth, layout, roi)
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
    if args.roi and args.roi not in layout.rois:
        raise SystemExit(f"no {args.roi} voxels in these models; they have {layout.rois}")
    full, low, high = paired_bootstrap(a, b, truth, layout, args.roi, args.n_boot)
    where = f" ({args.roi})" if args.roi else ""
    print(f"| {args.model_a} minus {args.model_b}{where} | {full:+.3f} | [{low:+.3f}, {high:+.3f}] |")


if __name__ == "__main__":
    main()
