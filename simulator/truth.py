"""The simulator's ground truth for the test videos, and scores of predictions against it.

A real release withholds the test videos' fMRI; the simulator keeps it in
``ROOT/synthetic_truth/``: the noise-free response of every voxel, ten noisy
repetitions, and each voxel's noise level. So predictions can be scored three
ways: against the measured mean of the repetitions (what a benchmark does),
normalised by the true noise ceiling, and against the noise-free responses
themselves (what a benchmark would like to do).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from datamodules.safe_pickle import load_pickle
from scoring.layout import TargetLayout
from scoring.pearson import pearson_r
from scoring.summary import group_means, means_over_groups
from simulator import brain
from simulator.writer import TRUTH_DIR


@dataclass
class GroundTruth:
    """Test-set truth in a model's voxel order.

    Attributes
    ----------
    clean : (n_test, n_voxels) noise-free responses
    measured : (n_test, n_voxels) mean over the test repetitions
    ceiling : (n_voxels,) true noise ceiling of ``measured``: the share of its variance that is
        signal, ``var(clean) / (var(clean) + noise_sd**2 / n_test_repetitions)``
    """

    clean: np.ndarray
    measured: np.ndarray
    ceiling: np.ndarray


def load_ground_truth(root: str | Path, track: str, layout: TargetLayout) -> GroundTruth:
    """Read ``root/synthetic_truth`` for every subject and region of ``layout``, concatenated in its order."""
    folder = Path(root) / TRUTH_DIR / f"{track}_track"
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no simulator truth here; is {root} a synthetic dataset?")
    clean, measured, ceiling = [], [], []
    for group in layout.groups:
        path = folder / group.subject / f"{group.roi}.pkl"
        truth = load_pickle(path)
        n_test, n_reps, n_voxels = truth["test"].shape
        if n_voxels != group.stop - group.start:
            raise ValueError(f"{path}: {n_voxels} voxels, but the model has {group.stop - group.start} "
                             f"for {group.subject}/{group.roi}")
        test_clean = truth["clean"][-n_test:]
        clean.append(test_clean)
        measured.append(truth["test"].mean(axis=1))
        has_signal = truth["noise_ceiling"] > 0
        ceiling.append(np.where(has_signal, brain.true_ceiling(truth["clean"], truth["noise_sd"], n_reps), 0.0))
    return GroundTruth(clean=np.concatenate(clean, axis=1).astype(np.float32),
                     measured=np.concatenate(measured, axis=1).astype(np.float32),
                     ceiling=np.concatenate(ceiling).astype(np.float32))


def score_against_truth(predictions: np.ndarray, truth: GroundTruth, layout: TargetLayout) -> dict[str, dict]:
    """How well ``predictions`` (n_test, n_voxels) recover the test set, per group and overall.

    Returns ``{measure: {"overall": x, "rois": {roi: x}, "groups": {"sub01/V1": x}}}`` for
    measures
      ``r``: Pearson r with the measured mean, averaged over voxels;
      ``score``: ``r / sqrt(ceiling)`` averaged over voxels with a positive ceiling (the
        benchmark's noise-normalised score, with the true rather than an estimated ceiling);
      ``r_truth``: Pearson r with the noise-free responses;
      ``ceiling_fraction``: mean ``r`` over mean r of the noise-free responses themselves with
        the measured mean, i.e. the share of the best attainable r that the model reaches.
    Groups count equally: a region's value is the mean over subjects, the overall value the
    mean over all (subject, region) groups. Voxels without signal (ceiling 0) are left out of
    every measure, as the benchmark's score leaves them out.
    """
    r = pearson_r(predictions, truth.measured)
    signal = truth.ceiling > 0
    means = {
        "r": group_means(r, layout, signal),
        "score": group_means(r / np.sqrt(np.where(signal, truth.ceiling, 1.0)), layout, signal),
        "r_truth": group_means(pearson_r(predictions, truth.clean), layout, signal),
    }
    best = group_means(pearson_r(truth.clean, truth.measured), layout, signal).groups
    # NaN where even the noise-free responses reach no r (constant over the few test videos).
    means["ceiling_fraction"] = means_over_groups(
        {g: v / best[g] if best[g] != 0 else float("nan") for g, v in means["r"].groups.items()})
    return {measure: {"overall": m.overall, "rois": m.rois,
                      "groups": {f"{s}/{roi}": v for (s, roi), v in m.groups.items()}}
            for measure, m in means.items()}
