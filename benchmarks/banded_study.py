"""Banded ridge on the simulator: do the band weights recover what drives each region, and does it predict better?

    python -m benchmarks.banded_study                      # the demo release, Lite0 at 96 px, CPU, a few minutes
    python -m benchmarks.banded_study --data data/synthetic_accuracy --out benchmarks/results_banded_study.md

A pretrained EfficientNet-Lite0 (weights from its pip package, no download) reads every clip
of a synthetic release at four depths (``layer1`` .. ``layer4``, as ``configs/demo.yaml``);
:mod:`lightning_modules.baseline.feature_bands` gives each layer's frame-averaged features as a
band and the frame-difference ``motion`` band. On all training videos (CV inside each model):

- ``single-band ridge``: the layers concatenated, one penalty per voxel (the run's baseline);
- ``seed's choice``: one layer per (subject, region), the one whose ridge has the best mean CV
  score over the region's voxels (the 2021 seed picked a layer per region), ridge on it alone;
- ``banded ridge, layers``: one band per layer, per-voxel band weights and penalty by CV;
- ``banded ridge, layers + motion``: the same with the motion band;
- ``single-band ridge, layers + motion``: the five concatenated (is it the bands or the features?).

Each model predicts the release's test videos, scored against the simulator's truth
(:func:`simulator.truth.score_against_truth`; noise-normalised with the true ceiling) with paired
bootstrap intervals over the test videos (:func:`benchmarks.accuracy_bootstrap.paired_bootstrap`).

What the band weights should find: the simulator drives V1-V3 by edge energy in receptive fields,
V4 by shape plus coarse edges, LOC/EBA/FFA/PPA by object and scene presence, STS by motion
(:mod:`simulator.brain`). Per voxel, the true share of each kind of drive is computed from the
simulator's own features (``synthetic_truth/features.npz``): the noise-free response is regressed
(exactly: it is linear in them) on the region's edge block, object/scene scalars and motion scalars,
and each group's part of the variance is its share. Rank correlations over voxels then say how well
the mean preferred depth follows the true edge share (negatively) and the motion band's weight the
true motion share.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.banded_study_report import write_report
from datamodules.algonauts import AlgonautsDataModule
from lightning_modules.baseline.feature_bands import MOTION_BAND, feature_bands
from lightning_modules.networks.backbones import build_backbone
from lightning_modules.networks.encoder import VideoEncoder
from ridge.banded import BandedRidgeCV
from ridge.solver import DEFAULT_ALPHAS, RidgeCV
from simulator.truth import load_ground_truth, score_against_truth
from simulator.writer import TRUTH_DIR


# ----------------------------------------------------------------------------- features
def extract(args) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], AlgonautsDataModule]:
    """Bands of the training videos and of the test videos, ``{name: (n_videos, n_features)}``."""
    data = AlgonautsDataModule(root=args.data, track="mini", num_frames=args.num_frames,
                               image_size=args.image_size, split="holdout", n_val=3, batch_size=16,  # rows are passed explicitly
                               num_workers=args.num_workers, cache_dir=args.cache_dir)
    data.setup("fit")
    torch.manual_seed(0)
    backbone = build_backbone(args.backbone, pretrained=True, layers=args.layers, image_size=args.image_size)
    encoder = VideoEncoder(backbone, "mean", args.num_frames, data.target_layout)
    cpu = torch.device("cpu")
    train_rows = np.arange(data.release.n_train)
    train = feature_bands(encoder, data.evaluation_dataloader(train_rows), data.clips.cache_dir,
                          (data.clips.key, train_rows.tobytes()), cpu, motion=True)
    test = feature_bands(encoder, data.predict_dataloader(), data.clips.cache_dir, (data.clips.key, "test"),
                         cpu, motion=True)
    return train, test, data


# ----------------------------------------------------------------------------- models
def single_band(train, test, Y, names, args):
    X = np.concatenate([train[n] for n in names], 1)
    ridge = RidgeCV(alphas=DEFAULT_ALPHAS, n_folds=args.folds).fit(torch.from_numpy(X), torch.from_numpy(Y))
    return ridge.predict(torch.from_numpy(np.concatenate([test[n] for n in names], 1))).numpy(), {}


def seed_choice(train, test, Y, layers, layout, args):
    """Per (subject, region), the layer whose ridge has the best mean CV r over the region's voxels."""
    fits = {}
    for name in layers:
        ridge = RidgeCV(alphas=DEFAULT_ALPHAS, n_folds=args.folds).fit(torch.from_numpy(train[name]),
                                                                       torch.from_numpy(Y))
        fits[name] = (ridge.cv_scores_.max(0).values.numpy(), ridge.predict(torch.from_numpy(test[name])).numpy())
    preds = np.zeros((len(next(iter(test.values()))), Y.shape[1]), np.float32)
    chosen = {}
    for g in layout.groups:
        cols = slice(g.start, g.stop)
        best = max(layers, key=lambda n: fits[n][0][cols].mean())
        preds[:, cols] = fits[best][1][:, cols]
        chosen[g.name] = best
    return preds, {"chosen": chosen}


def banded(train, test, Y, names, args):
    model = BandedRidgeCV(band_weight_candidates=args.candidates, alphas=DEFAULT_ALPHAS, n_folds=args.folds,
                          normalize_bands=True)
    model.fit({n: torch.from_numpy(train[n]) for n in names}, torch.from_numpy(Y))
    preds = model.predict({n: torch.from_numpy(test[n]) for n in names}).numpy()
    return preds, {"band_names": model.band_names, "weights": model.band_weights_.float().numpy()}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default="data/synthetic_demo", help="a synthetic release (with synthetic_truth/)")
    p.add_argument("--cache-dir", default=None, help="clip and feature cache (default: the data module's)")
    p.add_argument("--backbone", default="tf_efficientnet_lite0")
    p.add_argument("--layers", type=int, nargs="+", default=[1, 2, 3, 4])
    p.add_argument("--image-size", type=int, default=96)
    p.add_argument("--num-frames", type=int, default=8)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--candidates", type=int, default=20, help="band weightings searched per voxel")
    p.add_argument("--n-boot", type=int, default=2000)
    p.add_argument("--num-workers", type=int, default=2)
    p.add_argument("--out", default="benchmarks/results_banded_study.md")
    args = p.parse_args(argv)
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    root = Path(args.data)
    if not (root / TRUTH_DIR).is_dir():
        raise SystemExit(f"{root}: not a synthetic release (no {TRUTH_DIR}/); generate one with "
                         "python -m simulator, or train.py fit --config configs/demo.yaml once")

    start = time.perf_counter()
    train, test, data = extract(args)
    extract_s = time.perf_counter() - start
    layout = data.target_layout
    Y = np.nan_to_num(data.mean_responses.astype(np.float32))
    truth = load_ground_truth(root, "mini", layout)
    layers = [n for n in train if n != MOTION_BAND]
    models = {
        "single-band ridge, layers": lambda: single_band(train, test, Y, layers, args),
        "seed's choice: best layer per region by CV": lambda: seed_choice(train, test, Y, layers, layout, args),
        "banded ridge, layers": lambda: banded(train, test, Y, layers, args),
        "single-band ridge, layers + motion": lambda: single_band(train, test, Y, [*layers, MOTION_BAND], args),
        "banded ridge, layers + motion": lambda: banded(train, test, Y, [*layers, MOTION_BAND], args),
    }
    results, preds = {}, {}
    for name, fit in models.items():
        t0 = time.perf_counter()
        preds[name], info = fit()
        results[name] = {"seconds": time.perf_counter() - t0, "test": score_against_truth(preds[name], truth, layout),
                         **info}
        print(f"{name}: test score {results[name]['test']['score']['overall']:.4f} "
              f"({results[name]['seconds']:.1f} s)", flush=True)
    write_report(args, argv, root, train, extract_s, layout, truth, results, preds)


if __name__ == "__main__":
    main()
