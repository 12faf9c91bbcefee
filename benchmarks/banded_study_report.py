"""The tables and figure of :mod:`benchmarks.banded_study`: test scores, paired bootstrap, and how well
the band weights recover the simulator's drives (written as markdown plus a PNG)."""

from __future__ import annotations

import json
import os
import platform
import shlex
import sys
from pathlib import Path

import numpy as np
from scipy.stats import mannwhitneyu, spearmanr

from benchmarks.accuracy_bootstrap import paired_bootstrap
from benchmarks.banded_study_truth import true_drive_shares
from lightning_modules.baseline.feature_bands import MOTION_BAND
from reports.band_maps import HIERARCHY, BandWeights, depth_table
from simulator.writer import TRUTH_DIR

EARLY, CATEGORY = ("V1", "V2", "V3"), ("LOC", "EBA", "FFA", "PPA")


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


def write_report(args, argv, root: Path, train: dict[str, np.ndarray], extract_s: float, layout, truth,
                 results: dict, preds: dict[str, np.ndarray]) -> None:
    """The study's markdown (``args.out``) and figure (beside it, ``.png``) from the fitted models'
    ``results`` and test predictions ``preds`` (``{model: (n_test, n_voxels)}``)."""
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
    text = f"""Command: `{command}`{"  "}
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
