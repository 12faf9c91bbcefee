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
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import mannwhitneyu, spearmanr

from benchmarks.accuracy_bootstrap import paired_bootstrap
from datamodules.algonauts import AlgonautsDataModule
from datamodules.safe_pickle import load_pickle
from lightning_modules.baseline.feature_bands import MOTION_BAND, feature_bands
from lightning_modules.networks.backbones import build_backbone
from lightning_modules.networks.encoder import VideoEncoder
from reports.band_maps import HIERARCHY, BandWeights, depth_table
from ridge.banded import BandedRidgeCV
from ridge.solver import DEFAULT_ALPHAS, RidgeCV
from simulator import brain
from simulator.truth import load_ground_truth, score_against_truth
from simulator.writer import TRUTH_DIR

MOTION_SCALARS = ("pixel_motion", "object_motion", "body_motion", "background_speed")
EARLY, CATEGORY = ("V1", "V2", "V3"), ("LOC", "EBA", "FFA", "PPA")


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


# ----------------------------------------------------------------------------- the truth
def true_drive_shares(root: Path, layout) -> dict[str, np.ndarray]:
    """Per voxel (layout order), the share of its noise-free response's variance due to each kind of
    drive: ``edges`` (the region's retinotopic block), ``objects`` (object/scene scalars), ``motion``
    (``MOTION_SCALARS``); each (n_voxels,), summing to 1 where the voxel has signal."""
    features = dict(np.load(root / TRUTH_DIR / "features.npz"))
    shares = {k: np.full(layout.n_voxels, np.nan) for k in ("edges", "objects", "motion")}
    for g in layout.groups:
        model = brain.REGIONS[g.roi]
        clean = load_pickle(root / TRUTH_DIR / "mini_track" / g.subject / f"{g.roi}.pkl")["clean"]
        blocks = {}
        if model.edges is not None:
            blocks["edges"] = brain.standardise(features[model.edges].reshape(len(clean), -1))
        for kind, keys in (("objects", [k for k in model.scalars if k not in MOTION_SCALARS]),
                           ("motion", [k for k in model.scalars if k in MOTION_SCALARS])):
            if keys:
                blocks[kind] = brain.standardise(np.stack([features[k] for k in keys], 1))
        Z = np.concatenate(list(blocks.values()), 1)
        y = clean - clean.mean(0)
        beta = np.linalg.lstsq(Z, y, rcond=None)[0]
        parts, start = {}, 0
        for kind, block in blocks.items():
            parts[kind] = (block @ beta[start:start + block.shape[1]]).var(0)
            start += block.shape[1]
        total = sum(parts.values())
        for kind in shares:
            value = parts.get(kind, np.zeros(g.n_voxels))
            shares[kind][g.start:g.stop] = np.where(total > 0, value / np.where(total > 0, total, 1), np.nan)
    return shares


# ----------------------------------------------------------------------------- tables
def score_table(results: dict, rois: list[str]) -> str:
    head = ("| model | test r | test score | r with noise-free truth | fraction of attainable r | "
            + " | ".join(rois) + " | fit s |")
    rows = [head, "|" + "---|" * (6 + len(rois))]
    for name, res in results.items():
        t = res["test"]
        per = " | ".join(f"{t['score']['rois'][r]:.3f}" for r in rois)
        rows.append(f"| {name} | {t['r']['overall']:.3f} | {t['score']['overall']:.3f} | "
                    f"{t['r_truth']['overall']:.3f} | {t['ceiling_fraction']['overall']:.3f} | {per} | "
                    f"{res['seconds']:.1f} |")
    return "\n".join(rows)


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

    rois = [r for r in HIERARCHY if r in layout.rois]
    pairs = [("banded ridge, layers", "single-band ridge, layers"),
             ("banded ridge, layers", "seed's choice: best layer per region by CV"),
             ("banded ridge, layers + motion", "single-band ridge, layers + motion"),
             ("banded ridge, layers + motion", "banded ridge, layers"),
             ("banded ridge, layers + motion", "seed's choice: best layer per region by CV")]
    boot_rows = ["| A minus B | overall [95% interval] | V1 | LOC | STS |", "|---|---|---|---|---|"]
    for a, b in pairs:
        cells = []
        for roi in (None, "V1", "LOC", "STS"):
            full, lo, hi = paired_bootstrap(preds[a], preds[b], truth, layout, roi, args.n_boot)
            cells.append(f"{full:+.3f} [{lo:+.3f}, {hi:+.3f}]")
        boot_rows.append(f"| {a} minus {b} | " + " | ".join(cells) + " |")

    # What the band weights found, against the truth.
    full = results["banded ridge, layers + motion"]
    groups = [(g.subject, g.roi, g.start, g.stop) for g in layout.groups]
    bw = BandWeights(full["band_names"], full["weights"], groups)
    subjects, rois_bw, preferred, motion = depth_table(bw)
    layers_only = results["banded ridge, layers"]
    bw_layers = BandWeights(layers_only["band_names"], layers_only["weights"], groups)
    _, _, preferred_layers, _ = depth_table(bw_layers)
    shares = true_drive_shares(root, layout)
    truth_groups = BandWeights(["truth"], np.zeros((1, layout.n_voxels)), groups)  # only its group_means
    true_by_group = {k: truth_groups.group_means(v) for k, v in shares.items()}
    recovery = ["| region | mean preferred layer (layers + motion) | mean preferred layer (layers only) | "
                "motion-band weight | true edge share | true motion share |", "|---|---|---|---|---|---|"]
    for j, roi in enumerate(rois_bw):
        mean_true = {k: np.nanmean([v[(s, roi)] for s in subjects]) for k, v in true_by_group.items()}
        recovery.append(f"| {roi} | {np.nanmean(preferred[:, j]):.2f} | {np.nanmean(preferred_layers[:, j]):.2f} | "
                        f"{np.nanmean(motion[:, j]):.2f} | {mean_true['edges']:.2f} | {mean_true['motion']:.2f} |")
    depth_voxel = bw.mean_depth()
    motion_weight = bw.weights[bw.band_names.index(MOTION_BAND)]
    ok = np.isfinite(shares["edges"]) & np.isfinite(depth_voxel)
    rho_depth = spearmanr(depth_voxel[ok], shares["edges"][ok]).statistic
    rho_pref = spearmanr(bw.preferred_layer()[ok], shares["edges"][ok]).statistic
    rho_motion = spearmanr(motion_weight[ok], shares["motion"][ok]).statistic
    # Most voxels have no motion drive at all (ties at 0), so also: how well does the motion band's
    # weight pick out the motion-driven voxels (true share > 1/2)? Area under the ROC curve.
    driven = shares["motion"][ok] > 0.5
    auc_motion = mannwhitneyu(motion_weight[ok][driven], motion_weight[ok][~driven]).statistic / (
        driven.sum() * (~driven).sum())
    region_rank = {r: i for i, r in enumerate(HIERARCHY)}
    early = np.nanmean([preferred[:, rois_bw.index(r)] for r in EARLY])
    category = np.nanmean([preferred[:, rois_bw.index(r)] for r in CATEGORY])
    sts = bw.group_means(bw.weights)
    sts_top = [bw.band_names[int(np.argmax(sts[(s, "STS")]))] for s in subjects]
    hier = [r for r in rois_bw if r in EARLY + ("V4",) + CATEGORY]
    rho_region = spearmanr([region_rank[r] if r in EARLY + ("V4",) else 4 for r in hier],
                           [np.nanmean(preferred[:, rois_bw.index(r)]) for r in hier]).statistic

    machine = f"{os.cpu_count()} CPU cores, {platform.processor() or platform.machine()}, torch CPU"
    command = shlex.join(["python", "-m", "benchmarks.banded_study", *(argv if argv is not None else sys.argv[1:])])
    meta = json.loads((root / TRUTH_DIR / "meta.json").read_text())
    n_test = meta["n_test"]
    text = f"""Command: `{command}`  
Machine: {machine} (shared, loaded by other jobs: times are indicative). Data: `{args.data}`, a synthetic
release: {meta['n_train']} training videos (all used for fitting; every penalty and band weighting
chosen by {args.folds}-fold CV inside them), {n_test} test videos scored against the simulator's truth
({meta['config']['n_test_repetitions']} repetitions each), {len(subjects)} subjects, {layout.n_voxels} voxels in
the nine regions. Backbone: pretrained {args.backbone} (pip-package weights) at {args.image_size} px,
{args.num_frames} frames, read out at layers {args.layers}; bands `{'`, `'.join(train)}` with
{', '.join(str(v.shape[1]) for v in train.values())} features; banded ridge searches {args.candidates}
band weightings per voxel (bands normalised to equal total variance). Feature extraction
{extract_s:.0f} s (clip decoding included unless cached).

### Test scores

Noise-normalised test score (per-voxel r / sqrt(true noise ceiling), mean over voxels, regions,
subjects); region columns give the same score per region.

{score_table(results, rois)}

Layers the seed's choice picked: {json.dumps(results["seed's choice: best layer per region by CV"]["chosen"])}

### Paired bootstrap over the {n_test} test videos

Difference in the noise-normalised test score, {args.n_boot} resamples of the test videos (the same
resample for both models), 95% percentile interval.

{chr(10).join(boot_rows)}

### Do the band weights recover what drives each region?

Per region (mean over subjects): the mean over voxels of the preferred layer (the layer band with
the largest weight; the motion band left out of the choice), the motion band's mean weight, and the
simulator's truth: the share of the noise-free response's variance due to the region's retinotopic
edge energy and due to its motion features.

{chr(10).join(recovery)}

- Mean preferred layer, early regions (V1-V3) {early:.2f} vs category regions (LOC, EBA, FFA, PPA)
  {category:.2f}; Spearman rho between hierarchy position (V1, V2, V3, V4, then the category regions
  tied) and the regions' mean preferred layer: {rho_region:+.2f}.
- STS's largest band, per subject: {', '.join(sts_top)}.
- Per voxel (all {int(ok.sum())} voxels with signal): Spearman rho of the weight-averaged layer depth with
  the true edge share {rho_depth:+.2f} (preferred layer: {rho_pref:+.2f}; negative = edge-driven voxels sit
  early), and of the motion band's weight with the true motion share {rho_motion:+.2f}. The
  {int(driven.sum())} voxels whose true motion share is above 1/2 are told from the other
  {int((~driven).sum())} by their motion-band weight with an area under the ROC curve of {auc_motion:.2f}.
"""
    out = Path(args.out)
    out.write_text(text)
    plot(bw, shares, groups, out.with_suffix(".png"))
    print(text)


def plot(bw: BandWeights, shares: dict[str, np.ndarray], groups, png: Path) -> None:
    """Left: mean preferred layer per region along the hierarchy; right: motion-band weight beside the
    true motion share, per region (mean over subjects)."""
    from reports.figures import plt

    subjects, rois, preferred, motion = depth_table(bw)
    truth = BandWeights(["edges", "motion"], np.stack([shares["edges"], shares["motion"]]), groups)
    true_means = truth.group_means(truth.weights)
    edge_true = np.array([[true_means[(s, r)][0] for r in rois] for s in subjects])
    motion_true = np.array([[true_means[(s, r)][1] for r in rois] for s in subjects])
    x = np.arange(len(rois))
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    axes[0].plot(x, np.nanmean(preferred, 0), "o-", color="tab:blue", label="mean preferred layer (banded ridge)")
    axes[0].set_xticks(x, rois)
    axes[0].set_ylabel("preferred layer")
    twin = axes[0].twinx()
    twin.plot(x, np.nanmean(edge_true, 0), "s--", color="tab:grey", label="true edge share")
    twin.set_ylabel("true edge share")
    twin.set_ylim(-0.05, 1.05)
    axes[0].legend(loc="upper left", fontsize=7)
    twin.legend(loc="lower right", fontsize=7)
    width = 0.38
    axes[1].bar(x - width / 2, np.nanmean(motion, 0), width, color="tab:orange", label="motion-band weight")
    axes[1].bar(x + width / 2, np.nanmean(motion_true, 0), width, color="tab:grey", label="true motion share")
    axes[1].set_xticks(x, rois)
    axes[1].set_ylim(0, 1)
    axes[1].legend(fontsize=7)
    fig.suptitle("Banded ridge on the simulator: layer depth and motion, recovered vs true (mean over subjects)",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    main()
