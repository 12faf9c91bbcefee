"""Scores on the test videos, the challenge's way, where a release holds their responses.

For every subject and region:

    target_v   the mean of voxel v's test repetitions present (NaN = missing, skipped), per video
    r_v        Pearson r over the test videos between the prediction and target_v (a video with no
               repetition of v is left out of v's r)
    nc_v       the noise ceiling of target_v from the test repetitions
               (:func:`scoring.noise_ceiling.present_mean_ceiling`: Spearman-Brown to the
               repetitions averaged)
    score_v    r_v / sqrt(nc_v), for voxels with nc_v > 0

averaged over voxels per (subject, region), then over regions and subjects exactly as the
validation score (:func:`scoring.summary.score_summary`). ``test_scores.json`` holds the overall,
per-subject, per-region and per-group values, each as the normalised score and the raw mean r.

(No function here is named ``test_*``: a test module importing one would have pytest collect it.)
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

from scoring.layout import TargetLayout
from scoring.noise_ceiling import present_mean_ceiling
from scoring.pearson import pearson_r
from scoring.repetitions import repetition_mean
from scoring.summary import ScoreSummary, score_summary

TEST_SCORES_FILE = "test_scores.json"
DEFINITION = (
    "per voxel: Pearson r over the test videos between the prediction and the mean of the test "
    "repetitions present (NaN skipped); score = r / sqrt(noise ceiling of that mean from the "
    "test repetitions, Spearman-Brown to the repetitions averaged), for voxels with a positive "
    "ceiling; averaged over voxels per subject and region, then over regions and subjects"
)

Nested = Mapping[str, Mapping[str, np.ndarray]]


def voxel_test_r(prediction: np.ndarray, responses: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-voxel r against the repetition mean, and the noise ceiling of that mean.

    Parameters
    ----------
    prediction : (n_test, n_voxels)
    responses : (n_test, n_repetitions, n_voxels), NaN = missing repetition; at least 2 repetitions

    Returns
    -------
    r, ceiling : float64 (n_voxels,) each; r is NaN for a voxel with a non-finite prediction
    """
    prediction = np.asarray(prediction, np.float64)
    responses = np.asarray(responses, np.float64)
    if responses.ndim != 3 or prediction.shape != (responses.shape[0], responses.shape[2]):
        raise ValueError(f"expected a prediction (n_test, n_voxels) and responses (n_test, "
                         f"n_repetitions, n_voxels) of the same videos and voxels, got "
                         f"{prediction.shape} and {responses.shape}")
    target = repetition_mean(responses)
    r = pearson_r(prediction, target)
    # A non-finite prediction for a measured video is a broken model: NaN, never r = 0 (as the
    # validation metric, lightning_modules/metrics.py).
    broken = (~np.isfinite(prediction) & ~np.isnan(target)).any(axis=0)
    return np.where(broken, np.nan, r), present_mean_ceiling(responses)


def score_on_test(predictions: Nested, responses: Nested) -> ScoreSummary:
    """The test score of ``predictions`` ``{subject: {region: (n_test, n_voxels)}}`` against
    ``responses`` ``{subject: {region: (n_test, n_repetitions, n_voxels)}}``.

    Every (subject, region) of ``responses`` must be predicted (extra predictions are an error
    too); subjects and regions keep the order of ``responses``.
    """
    missing = [f"{s}/{g}" for s, regions in responses.items() for g in regions
               if g not in predictions.get(s, {})]
    extra = [f"{s}/{g}" for s, regions in predictions.items() for g in regions
             if g not in responses.get(s, {})]
    if missing or extra:
        raise ValueError("predictions and test responses differ: no prediction for "
                         f"{missing or 'none'}, no test responses for {extra or 'none'}")
    counts, rs, ceilings = {}, [], []
    for subject, regions in responses.items():
        for region, resp in regions.items():
            try:
                r, c = voxel_test_r(predictions[subject][region], resp)
            except ValueError as err:
                raise ValueError(f"{subject}/{region}: {err}") from None
            counts.setdefault(subject, {})[region] = len(r)
            rs.append(r)
            ceilings.append(c)
    layout = TargetLayout(counts)
    return score_summary(torch.from_numpy(np.concatenate(rs)),
                         torch.from_numpy(np.concatenate(ceilings)), layout)


def scores_json(summary: ScoreSummary, n_test_videos: int) -> dict:
    """``{"overall": {"score", "r"}, "subjects": {s: {...}}, "rois": {roi: {...}},
    "groups": {"sub/roi": {...}}, "n_test_videos", "n_unreliable_voxels", "definition"}``;
    a value that is not a number (NaN) is null."""
    if summary.score is None:
        raise ValueError("a test score needs noise ceilings (the summary has none)")

    def pair(score: float, r: float) -> dict:
        return {"score": _finite(score), "r": _finite(r)}

    s, r = summary.score, summary.r
    groups = list(dict.fromkeys([*r.groups, *s.groups]))
    nan = float("nan")
    return {
        "overall": pair(s.overall, r.overall),
        "subjects": {k: pair(s.subjects.get(k, nan), v) for k, v in r.subjects.items()},
        "rois": {k: pair(s.rois.get(k, nan), v) for k, v in r.rois.items()},
        "groups": {f"{g[0]}/{g[1]}": pair(s.groups.get(g, nan), r.groups.get(g, nan))
                   for g in groups},
        "n_test_videos": int(n_test_videos),
        "n_unreliable_voxels": summary.n_unreliable_voxels,
        "definition": DEFINITION,
    }


def write_test_scores(out_dir: str | Path, summary: ScoreSummary, n_test_videos: int) -> Path:
    """Write ``out_dir/test_scores.json`` (:func:`scores_json`); returns its path."""
    path = Path(out_dir) / TEST_SCORES_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(scores_json(summary, n_test_videos), indent=1) + "\n")
    return path


def one_line(summary: ScoreSummary, n_test_videos: int) -> str:
    """``test score 0.512 (mean r 0.301) over 102 test videos, 10 subjects, 9 regions``."""
    assert summary.score is not None
    return (f"test score {summary.score.overall:.3f} (mean r {summary.r.overall:.3f}) over "
            f"{n_test_videos} test videos, {len(summary.r.subjects)} subjects, "
            f"{len(summary.r.rois)} regions")


def _finite(value: float) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None
