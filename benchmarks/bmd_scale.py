"""A whole BOLD Moments release (ten subjects' whole brains) through the tool on one machine: time
and peak memory of each step.

    python benchmarks/bmd_scale.py --out /tmp/bmd_scale [--subjects 10] [--voxels 108000]
        [--train 1000] [--test 102] [--features 512] [--keep] [--reuse --steps later setup]

Writes a BMD-layout release of whole-brain files as BMD publishes them (per subject float64 betas
(train, 3, V) and (test, 10, V) with NaN repetitions placed as the simulator's ``--layout bmd``
places them, the stimulus orders, a 62 x 77 x 61 ``Nifti1Image`` mask of V voxels with BMD's 2.5 mm
affine; the clip folder holds empty numbered files: nothing here decodes video), then measures each
step in a fresh process (peak RSS from ``getrusage``; wall seconds on a shared machine):

- ``reader, first``: :class:`datamodules.sources.bmd.BMDSource` ``track: full`` of every subject,
  converting each pickle to the float32 cache;
- ``reader, later``: the same read from the cache (memory-mapped);
- ``data module set-up``: the stacked responses, their repetition means (written once beside the
  cache), the voxel report and the validation noise ceiling, as ``setup`` computes them;
- ``ridge baseline, then prediction export``: :class:`ridge.solver.RidgeCV` over every voxel with
  the targets read per column batch from the memory-mapped means
  (:class:`ridge.target_columns.TargetRows`), then the baseline's rescaling and validation score in
  voxel blocks (:func:`lightning_modules.baseline.frozen_fit.rescale_and_score`), on random
  ``--features``-dimensional features standing in for a frozen backbone's (the responses' signal
  is a linear map of them); then the test videos' predictions written batch by batch as shards
  (:class:`export.prediction_writer.ShardedPredictionWriter`'s files), merged and exported as
  ``predictions/<subject>/WB.npy`` (:func:`export.export_folder.write_export`), then scored on the
  test responses (:func:`scoring.scores_on_test.score_on_test`).

Without ``--keep`` the release and its caches are deleted at the end.
"""

from __future__ import annotations

import argparse
import json
import pickle
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nibabel as nib
import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script: python benchmarks/bmd_scale.py
    sys.path.insert(0, str(REPO))
SHAPE = (62, 77, 61)
VOXEL_SIZE_MM = 2.5
STEPS = ("first", "later", "setup", "export")

_MEASURE = r"""
import json, resource, sys, threading, time
sys.path.insert(0, {repo!r})
import numpy as np
anon_peak = [0]
def sample_anonymous():  # RssAnon: the process's own memory, without the mapped cache's file pages
    while True:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    anon_peak[0] = max(anon_peak[0], int(line.split()[1]))
        time.sleep(0.2)
threading.Thread(target=sample_anonymous, daemon=True).start()
root, step, features = sys.argv[1], sys.argv[2], int(sys.argv[3])
start = time.perf_counter()
from datamodules.sources.base import Selection
from datamodules.sources.bmd import BMDSource
release = BMDSource(root).read(Selection(track="full"))
extra = {{}}
if step not in ("first", "later"):
    from datamodules.sources.stacked import split_noise_ceiling, voxel_report
    from scoring.splits import holdout_split
    responses = release.train_responses()
    means = responses.repetition_means()
    train, val = holdout_split(release.n_train, max(2, release.n_train // 10))
if step == "setup":
    report = voxel_report(responses, means, train)
    ceiling = split_noise_ceiling(responses, val)
    extra = {{"missing": int(report.missing.sum()), "median_ceiling": float(np.nanmedian(ceiling))}}
if step == "export":
    import torch
    from lightning_modules.baseline.frozen_fit import BaselineVideos, rescale_and_score
    from ridge.solver import DEFAULT_ALPHAS, RidgeCV
    from scoring.layout import TargetLayout
    torch.set_num_threads(2)
    layout = TargetLayout(release.voxel_counts)
    X = torch.from_numpy(np.load(root + "/features.npy"))
    class Data:
        mean_responses, train_indices, val_indices, feature_cache = means, train, val, (None, "")
        def evaluation_dataloader(self, rows): raise AssertionError
    videos = BaselineVideos.of(Data(), "the benchmark")
    ridge = RidgeCV(alphas=DEFAULT_ALPHAS, n_folds=5).fit(X[train], videos.train_columns)
    scored = rescale_and_score(ridge.coef_, X[train], X[val], videos, layout, None, torch.device("cpu"))
    extra = {{"n_voxels": layout.n_voxels, "val_r_median": float(scored.val_r.nanmedian()),
              "ridge_seconds": time.perf_counter() - start,
              "ridge_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}}
if step == "export":
    import shutil
    from pathlib import Path
    from export.export_folder import write_export
    from export.prediction_writer import merge_shards
    from scoring.scores_on_test import score_on_test
    ridge_done = time.perf_counter()
    out = Path(root) / "export"
    shards = out.parent / "shards"
    shards.mkdir(exist_ok=True)
    X_test = X[len(responses):]
    for b, first in enumerate(range(0, release.n_test, 8)):
        rows = np.arange(first, min(first + 8, release.n_test))
        preds = (X_test[rows] @ scored.head_coef + scored.head_intercept).numpy()
        np.savez(shards / f"rank000_batch{{b:06d}}.npz", index=rows + release.n_train, preds=preds)
    del ridge, scored
    preds = merge_shards(shards, release.n_test, layout.n_voxels, row_offset=release.n_train)
    write_export(preds, layout, release.video_paths[release.n_train:], {{"checkpoints": [], "source": "bmd"}},
                 out, False, None)
    summary = score_on_test(layout.split(preds), release.test_responses())
    shutil.rmtree(shards)
    extra.update({{"export_seconds": time.perf_counter() - ridge_done, "test_score": summary.main}})
seconds = time.perf_counter() - start
print(json.dumps({{"seconds": seconds, "rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
                  "anon_gib": anon_peak[0] / 2**20, **extra}}))
"""


def mask_image(voxels: int, seed: int) -> nib.Nifti1Image:
    """A 62 x 77 x 61 mask of ``voxels`` voxels (a ball-like blob, as a brain fills its box), BMD's
    2.5 mm grid centred at 0."""
    grid = np.stack(np.meshgrid(*[np.linspace(-1, 1, n) for n in SHAPE], indexing="ij"), -1)
    noise = np.random.default_rng(seed).random(SHAPE) * 0.05
    distance = np.linalg.norm(grid, axis=-1) + noise
    mask = np.zeros(SHAPE, np.int16)
    mask.flat[np.argsort(distance, axis=None)[:voxels]] = 1
    affine = np.diag([VOXEL_SIZE_MM] * 3 + [1.0])
    affine[:3, 3] = -VOXEL_SIZE_MM * (np.asarray(SHAPE) - 1) / 2
    return nib.Nifti1Image(mask, affine)


def write_release(root: Path, subjects: int, voxels: int, n_train: int, n_test: int, n_features: int) -> None:
    """The release, and ``root/features.npy`` (n_train + n_test, n_features) float32: the features
    the responses' signal is a linear map of (a stand-in for a frozen backbone's)."""
    from datamodules import bmd_files
    from simulator.bmd_writer import missing_repetitions

    features = np.random.default_rng(0).standard_normal((n_train + n_test, n_features), dtype=np.float32)
    root.mkdir(parents=True, exist_ok=True)
    np.save(root / "features.npy", features)

    videos = root / bmd_files.VIDEO_DIR
    videos.mkdir(parents=True, exist_ok=True)
    for i in range(1, n_train + n_test + 1):
        (videos / f"{i:04d}.mp4").touch()
    for s in range(1, subjects + 1):
        name = f"sub-{s:02d}"
        rng = np.random.default_rng([7, s])
        image = mask_image(voxels, s)
        weights = rng.standard_normal((features.shape[1], voxels), dtype=np.float32)
        signal = (features @ weights / np.sqrt(features.shape[1]))[:, None, :]  # (videos, 1, voxels)
        for split, n, reps, first in (("train", n_train, 3, 1), ("test", n_test, 10, n_train + 1)):
            rows = slice(first - 1, first - 1 + n)
            betas = np.empty((n, reps, voxels))
            for i in range(n):  # row by row: no float64 temporary of the whole array
                betas[i] = signal[rows][i] + rng.standard_normal((reps, voxels))
            betas[missing_repetitions(rng, betas.shape)] = np.nan
            order = [f"vid{k:04d}" for k in range(first, first + n)]
            path = bmd_files.whole_brain_path(root, name, split)
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "wb") as f:
                pickle.dump((betas, order, image), f, protocol=5)
            del betas


def measure(root: Path, step: str, features: int) -> dict:
    out = subprocess.run([sys.executable, "-c", _MEASURE.format(repo=str(REPO)), str(root), step, str(features)],
                         capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"step {step} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--subjects", type=int, default=10)
    p.add_argument("--voxels", type=int, default=108_000)
    p.add_argument("--train", type=int, default=1000)
    p.add_argument("--test", type=int, default=102)
    p.add_argument("--features", type=int, default=512)
    p.add_argument("--keep", action="store_true", help="keep the release and its caches")
    p.add_argument("--reuse", action="store_true", help="measure a release --out already holds (kept earlier)")
    p.add_argument("--steps", nargs="+", default=list(STEPS), choices=list(STEPS), help="the steps to measure")
    args = p.parse_args(argv)
    start = time.perf_counter()
    if not args.reuse:
        write_release(args.out, args.subjects, args.voxels, args.train, args.test, args.features)
        size = sum(f.stat().st_size for f in args.out.rglob("*.pkl")) / 2**30
        print(f"wrote {args.subjects} subjects ({args.train}+{args.test} videos, {args.voxels} voxels each, "
              f"float64): {size:.1f} GiB of pickles in {time.perf_counter() - start:.0f} s; this process peaked "
              f"at {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB", flush=True)
    print("| step | seconds | peak RSS (GiB) | of it not file-backed (RssAnon, GiB) | notes |\n"
          "| --- | ---: | ---: | ---: | --- |", flush=True)
    for step, label in (("first", "reader, first (pickles -> float32 cache)"),
                        ("later", "reader, later (memory-mapped cache)"),
                        ("setup", "data module set-up (repetition means written once, voxel report, noise ceiling)"),
                        ("export", f"ridge baseline over all voxels ({args.features} features, 20 penalties, "
                                   "5 folds), then prediction export (per-batch shards, merge, .npy, test score)")):
        if step not in args.steps:
            continue
        result = measure(args.out, step, args.features)
        print(f"| {label} | {result['seconds']:.0f} | {result['rss_gib']:.2f} | {result['anon_gib']:.2f} | "
              + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                          for k, v in result.items() if k not in ("seconds", "rss_gib", "anon_gib")) + " |",
              flush=True)
    cache = sum(f.stat().st_size for f in (args.out / ".response_cache").iterdir()) / 2**30
    print(f"cache on disk (float32 betas + repetition means): {cache:.1f} GiB")
    if not args.keep:
        shutil.rmtree(args.out)


if __name__ == "__main__":
    main()
