"""Ensemble weights learned from the members' validation predictions, and an honest estimate of the result.

Every member ``m`` of an ensemble predicts every voxel; the ensemble's prediction of voxel ``v`` is
``sum_m W[m, v] * P_m[:, v]`` with weights ``W`` of shape ``(n_members, n_voxels)`` that sum to 1
over members. The modes:

``mean``
    ``W[m, v] = 1 / n_members`` (no validation data needed).
``best_per_region``
    Each (subject, region) group is taken whole from the member with the highest mean validation r
    over the group's voxels (ties: the first member): ``W`` is one-hot per group.
``softmax``
    ``W[:, v] = softmax(r[:, v] / temperature)`` over members, with ``r`` the per-voxel validation r
    (``level="voxel"``) or each group's mean r broadcast to its voxels (``level="region"``, the 2025
    winner's parcel-wise softmax, temperature 0.3). A low temperature tends to ``best_per_region``
    (or best per voxel), a high one to ``mean``.

``r`` is the raw Pearson r across validation videos (not noise-normalised: within one voxel or one
group every member shares the ceiling, so normalising would change nothing but the temperature's
scale). Scores (:func:`validation_score`) are the project's ``val/score``: ``r / sqrt(ceiling)`` per
voxel, averaged over a group's voxels with a positive ceiling, then over groups.

Choosing weights and scoring them on the same videos inflates the score (the weights fit the noise
of those videos). :func:`cross_fitted_predictions` chooses them on part of the validation videos
and predicts the rest, rotating over ``n_splits`` parts, so every video's ensemble prediction comes
from weights that never saw it; scored once over all videos it is comparable, video for video, with
each member's own validation score.

Everything here is plain numpy on arrays; ``layout`` is a :class:`scoring.layout.TargetLayout`
(its ``groups`` give each (subject, region)'s columns ``start:stop``).
"""

from __future__ import annotations

import numpy as np
import torch

from scoring.layout import TargetLayout
from scoring.pearson import pearson_r as scoring_pearson_r
from scoring.summary import score_summary

MODES = ("mean", "best_per_region", "softmax")
LEVELS = ("voxel", "region")


def pearson_r(predictions: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Exact per-voxel Pearson r across videos (no n/(n-1) slip), 0 where either column is constant.

    Parameters
    ----------
    predictions, targets : arrays of shape (n_videos, n_voxels)

    Returns
    -------
    r : float64 array of shape (n_voxels,)
    """
    return scoring_pearson_r(np.asarray(predictions, np.float64), np.asarray(targets, np.float64))


def group_means(values: np.ndarray, layout: TargetLayout) -> np.ndarray:
    """Mean over each group's voxels, ``(..., n_voxels) -> (..., n_groups)`` (groups in the layout's order)."""
    return np.stack([values[..., g.start:g.stop].mean(axis=-1) for g in layout.groups], axis=-1)


def _broadcast_groups(per_group: np.ndarray, layout: TargetLayout) -> np.ndarray:
    """``(..., n_groups) -> (..., n_voxels)``: each group's value repeated over its voxels."""
    sizes = [g.stop - g.start for g in layout.groups]
    return np.repeat(per_group, sizes, axis=-1)


def validation_score(r: np.ndarray, ceiling: np.ndarray, layout: TargetLayout) -> float:
    """The project's ``val/score`` from per-voxel r: mean of ``r / sqrt(ceiling)`` over each group's
    voxels with a positive ceiling, then the mean over groups that have such voxels.

    Parameters
    ----------
    r, ceiling : arrays of shape (n_voxels,)
    """
    return score_summary(torch.as_tensor(np.asarray(r, np.float32)), torch.as_tensor(np.asarray(ceiling, np.float32)),
                         layout).main


def mean_weights(n_members: int, n_voxels: int) -> np.ndarray:
    """Equal weights, ``(n_members, n_voxels)``, every entry ``1 / n_members``."""
    return np.full((n_members, n_voxels), 1.0 / n_members)


def best_per_region_weights(r: np.ndarray, layout: TargetLayout) -> np.ndarray:
    """One-hot weights ``(n_members, n_voxels)``: each group from the member with the highest mean r
    over the group's voxels (the first such member on a tie).

    Parameters
    ----------
    r : array of shape (n_members, n_voxels), each member's per-voxel validation r
    """
    best = np.argmax(group_means(r, layout), axis=0)  # (n_groups,)
    one_hot = (np.arange(r.shape[0])[:, None] == best[None, :]).astype(np.float64)  # (n_members, n_groups)
    return _broadcast_groups(one_hot, layout)


def softmax_weights(r: np.ndarray, layout: TargetLayout, level: str = "region",
                    temperature: float = 0.3) -> np.ndarray:
    """Softmax over members of ``r / temperature``, per voxel or per group, ``(n_members, n_voxels)``.

    Parameters
    ----------
    r : array of shape (n_members, n_voxels), each member's per-voxel validation r
    level : "voxel" (each voxel's own r) or "region" (each group's mean r, the same weight on all
        of the group's voxels)
    temperature : positive; the softmax of ``r / temperature``
    """
    if level not in LEVELS:
        raise ValueError(f"ensemble level must be one of {LEVELS}, got {level!r}")
    if not temperature > 0:
        raise ValueError(f"the softmax temperature must be positive, got {temperature}")
    values = np.asarray(r, np.float64) if level == "voxel" else group_means(np.asarray(r, np.float64), layout)
    logits = values / temperature
    logits = logits - logits.max(axis=0, keepdims=True)  # stable; the softmax is unchanged
    weights = np.exp(logits)
    weights /= weights.sum(axis=0, keepdims=True)
    return weights if level == "voxel" else _broadcast_groups(weights, layout)


def ensemble_weights(mode: str, r: np.ndarray, layout: TargetLayout, level: str = "region",
                     temperature: float = 0.3) -> np.ndarray:
    """The weights of ``mode`` (one of :data:`MODES`) from members' per-voxel r ``(n_members, n_voxels)``;
    returns ``(n_members, n_voxels)``, summing to 1 over members."""
    if mode == "mean":
        return mean_weights(r.shape[0], r.shape[1])
    if mode == "best_per_region":
        return best_per_region_weights(r, layout)
    if mode == "softmax":
        return softmax_weights(r, layout, level, temperature)
    raise ValueError(f"ensemble mode must be one of {MODES}, got {mode!r}")


def combine(predictions: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The ensemble's prediction ``sum_m weights[m] * predictions[m]``.

    Parameters
    ----------
    predictions : array of shape (n_members, n_videos, n_voxels)
    weights : array of shape (n_members, n_voxels)

    Returns
    -------
    array of shape (n_videos, n_voxels)
    """
    return np.einsum("mnv,mv->nv", np.asarray(predictions, np.float64), np.asarray(weights, np.float64))


def split_parts(n_videos: int, n_splits: int, seed: int = 0) -> list[np.ndarray]:
    """``n_splits`` disjoint, sorted row sets covering ``range(n_videos)`` (a seeded shuffle, then
    ``np.array_split``). The number of parts is kept between 2 and ``n_videos // 2``, so every part
    has at least two videos and leaves at least two to choose weights on."""
    if n_videos < 4:
        raise ValueError(f"a cross-fitted estimate needs at least 4 validation videos, got {n_videos}")
    n_splits = max(2, min(n_splits, n_videos // 2))
    order = np.random.default_rng(seed).permutation(n_videos)
    return [np.sort(part) for part in np.array_split(order, n_splits)]


def cross_fitted_predictions(predictions: np.ndarray, targets: np.ndarray, layout: TargetLayout, mode: str,
                             level: str = "region", temperature: float = 0.3, n_splits: int = 5,
                             seed: int = 0) -> tuple[np.ndarray, list[np.ndarray]]:
    """Each validation video's ensemble prediction, with weights chosen on the other parts' videos.

    The rows are cut into parts (:func:`split_parts`); for each part the weights are computed from
    the members' r on the remaining rows only and applied to the part's rows. Each part's weighted
    prediction is first standardised per voxel with its own mean and standard deviation over *all*
    validation videos (predictions only, no targets: nothing about the scored videos' responses is
    used). Without that, the pooled rows would mix the offsets and scales of different weightings
    (different members' heads), which lowers Pearson r over the pooled videos although a single
    weighting on the test set has no such mix; with it, a mode that picks the same weights in every
    part gets exactly the r of those weights (``mean``: the in-sample score).

    Parameters
    ----------
    predictions : array of shape (n_members, n_videos, n_voxels), the members' predictions of the
        same validation videos (held out by every member)
    targets : array of shape (n_videos, n_voxels), the measured responses

    Returns
    -------
    ensemble : array of shape (n_videos, n_voxels)
    parts : the row sets used, in order
    """
    parts = split_parts(predictions.shape[1], n_splits, seed)
    ensemble = np.zeros(predictions.shape[1:], np.float64)
    for part in parts:
        fit_rows = np.setdiff1d(np.arange(predictions.shape[1]), part)
        r = np.stack([pearson_r(p[fit_rows], targets[fit_rows]) for p in predictions])
        full = combine(predictions, ensemble_weights(mode, r, layout, level, temperature))  # (n_videos, n_voxels)
        sd = full.std(axis=0)
        ensemble[part] = (full[part] - full.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    return ensemble, parts


def out_of_fold_score(predictions: list[np.ndarray], targets: list[np.ndarray], ceilings: list[np.ndarray],
                      layout: TargetLayout) -> float:
    """K-fold members: the mean over members of each one's score on its own held-out fold.

    Every fold is scored by the one member that never trained on it, so the estimate is held out;
    it is the usual K-fold estimate of one fold model's score, which the K-member ensemble is
    expected to reach or exceed (the benchmark measures by how much). The folds are scored apart,
    not pooled: pooling rows of different models mixes their heads' offsets and scales, which lowers
    Pearson r over the pooled videos (0.609 pooled against 0.714 apart on the demo's 5 folds).

    Parameters
    ----------
    predictions, targets : lists over members of arrays (n_fold_videos_m, n_voxels)
    ceilings : list over members of arrays (n_voxels,), each fold's own noise ceiling
    """
    return float(np.mean([validation_score(pearson_r(p, t), c, layout)
                          for p, t, c in zip(predictions, targets, ceilings)]))


def weight_summary(weights: np.ndarray, layout: TargetLayout) -> list[dict[str, dict[str, float]]]:
    """Per member, each group's mean weight (and, where the weights vary within the group, min and max):
    ``[{"sub01/V1": {"mean": ..., "min": ..., "max": ...}, ...}, ...]`` for the manifest."""
    out = []
    for w in weights:
        member = {}
        for g in layout.groups:
            cols = w[g.start:g.stop]
            entry = {"mean": round(float(cols.mean()), 6)}
            if cols.max() - cols.min() > 1e-9:
                entry.update(min=round(float(cols.min()), 6), max=round(float(cols.max()), 6))
            member[f"{g.subject}/{g.roi}"] = entry
        out.append(member)
    return out
