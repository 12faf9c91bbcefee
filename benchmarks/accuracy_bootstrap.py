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
from tqdm.auto import tqdm

from benchmarks.accuracy import MODELS, read_predictions, slug
from scoring.layout import TargetLayout
from scoring.pearson import pearson_r, resampled_pearson_r
from simulator.truth import GroundTruth, load_ground_truth


def _aggregation(layout: TargetLayout, keep: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """``(n_voxels, 1 + n_rois)`` matrix taking per-voxel values to the overall score and each region's
    (columns: overall, then ``layout.rois``): the means of :func:`scoring.summary.group_means` as one product."""
    groups = [g for g in layout.groups if keep[g.start:g.stop].any()]
    to_groups = np.zeros((layout.n_voxels, len(groups)))
    for k, g in enumerate(groups):
        kept = np.flatnonzero(keep[g.start:g.stop]) + g.start
        to_groups[kept, k] = 1.0 / len(kept)
    rois = [roi for roi in layout.rois if any(g.roi == roi for g in groups)]
    to_scores = np.zeros((len(groups), 1 + len(rois)))
    to_scores[:, 0] = 1.0 / len(groups)
    for j, roi in enumerate(rois):
        members = [k for k, g in enumerate(groups) if g.roi == roi]
        to_scores[members, 1 + j] = 1.0 / len(members)
    return to_groups @ to_scores, rois


def bootstrap_scores(preds: dict[str, np.ndarray], truth: GroundTruth, layout: TargetLayout, n_boot: int = 2000,
                     seed: int = 0, progress: bool = False) -> tuple[dict[str, np.ndarray], list[str]]:
    """Each model's noise-normalised test score on the same ``n_boot`` resamples of the test videos.

    ``preds``: ``{model: (n_test, n_voxels)}``. Returns ``{model: (n_boot + 1, 1 + n_rois)}`` (columns:
    overall, then each region; the last row is the full sample's) and the regions' names. The
    resamples are drawn with replacement, as multinomial counts, the same for every model."""
    n = len(truth.measured)
    counts = np.random.default_rng(seed).multinomial(n, np.full(n, 1.0 / n), size=n_boot)
    signal = truth.ceiling > 0
    aggregate, rois = _aggregation(layout, signal)
    scale = 1.0 / np.sqrt(np.where(signal, truth.ceiling, 1.0))

    def scores(p: np.ndarray) -> np.ndarray:
        chunks = [resampled_pearson_r(p, truth.measured, counts[i:i + 250]) for i in range(0, n_boot, 250)]
        chunks.append(pearson_r(p, truth.measured)[None])
        return (np.concatenate(chunks) * scale) @ aggregate

    return {name: scores(p) for name, p in tqdm(preds.items(), desc="paired bootstrap", disable=not progress)}, rois


def differences(scores: dict[str, np.ndarray], rois: list[str], reference: str) -> dict[str, dict]:
    """From :func:`bootstrap_scores`: each model minus ``reference``, ``{model: {"diff", "low", "high",
    "rois": {roi: (diff, low, high)}}}``, the difference on all videos and its 2.5th and 97.5th
    percentiles over the resamples."""
    out = {}
    for name, values in scores.items():
        diffs = values - scores[reference]
        low, high = np.percentile(diffs[:-1], [2.5, 97.5], axis=0)
        full = diffs[-1]
        out[name] = {"diff": float(full[0]), "low": float(low[0]), "high": float(high[0]),
                     "rois": {roi: (float(full[j + 1]), float(low[j + 1]), float(high[j + 1]))
                              for j, roi in enumerate(rois)}}
    return out


def bootstrap_differences(preds: dict[str, np.ndarray], reference: str, truth: GroundTruth, layout: TargetLayout,
                          n_boot: int = 2000, seed: int = 0, progress: bool = False) -> dict[str, dict]:
    """Score of each model minus ``reference``'s (among ``preds``), on the same resampled test videos:
    :func:`differences` of :func:`bootstrap_scores`."""
    return differences(*bootstrap_scores(preds, truth, layout, n_boot, seed, progress), reference)


def paired_bootstrap(a: np.ndarray, b: np.ndarray, truth: GroundTruth, layout: TargetLayout,
                     roi: str | None = None, n_boot: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """(difference on all videos, 2.5th and 97.5th percentile over resamples) of score(a) - score(b)."""
    d = bootstrap_differences({"a": a, "b": b}, "b", truth, layout, n_boot, seed)["a"]
    return (d["diff"], d["low"], d["high"]) if roi is None else d["rois"][roi]


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
