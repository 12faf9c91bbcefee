"""Banded ridge's random search over candidate band weights (himalaya's ``random_search``).

For each candidate weighting of the bands (:mod:`ridge.candidates`: the one-hot corners, the
uniform weights, then Dirichlet draws), every penalty of the grid is scored by the mean over folds
of the validation score, per voxel, and each voxel keeps its best (candidate, penalty). A later
candidate replaces an earlier one only if it scores higher by more than the float epsilon of
``dtype`` (himalaya's rule). Per candidate and fold, one float64 eigendecomposition of the fold's
weighted kernel (or covariance, when features are fewer than videos) is shared by every penalty
and every voxel (:class:`~ridge.ops.FoldPredictor`). Unlike himalaya, nothing is refitted inside
the search.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor
from tqdm.auto import tqdm

from ridge.cv import best_alpha
from ridge.ops import FoldPredictor, fold_grams, mean_fold_scores, one_thread_on_cpu


def weighted_bands(Xc: list[Tensor], kernels: Tensor, w: Tensor) -> tuple[Tensor, Tensor]:
    """Features ``Z = [sqrt(w_b) Xc_b]`` of the bands with w_b > 0 (n_videos, p_w) and
    the kernel ``Z Z^T = sum_b w_b Xc_b Xc_b^T`` (n_videos, n_videos).

    Xc : list of (n_videos, p_b) centred bands; kernels (n_bands, n_videos, n_videos) their
    ``Xc_b Xc_b^T``; w (n_bands,) one candidate's weights.
    """
    w = w.to(kernels.device)
    Z = torch.cat([X * w[b].sqrt() for b, X in enumerate(Xc) if w[b] > 0], dim=1)
    return Z, torch.einsum("b,bij->ij", w, kernels)


@dataclass
class SearchResult:
    """Each voxel's best (candidate, penalty).

    score : float64 (n_voxels,), its best mean CV score
    candidate : int64 (n_voxels,), row of the candidates
    alpha_index : int64 (n_voxels,), position in the penalty grid
    candidate_scores : float64 (n_candidates, n_voxels), each candidate's mean CV score at its
        best penalty (himalaya's ``cv_scores_``)
    """

    score: Tensor
    candidate: Tensor
    alpha_index: Tensor
    candidate_scores: Tensor


def random_search(Xc: list[Tensor], kernels: Tensor, cands: Tensor, alphas: Tensor, splits: list,
                  batches: list[slice],
                  batch_data: Callable[[slice], tuple[Tensor, Tensor, Tensor]],
                  scoring: str, dtype: torch.dtype, progress: bool = False) -> SearchResult:
    """Score every candidate (n_candidates, n_bands) at every penalty ``alphas`` (n_alphas,) on the
    folds ``splits`` ((train, val) index pairs), voxels in ``batches`` of columns.

    Xc, kernels : as :func:`weighted_bands`, float64 on the device of the work
    batch_data : batch -> (means, centred targets (n_videos, b), sum-of-squares floor (b,)), as
        :func:`~ridge.cv.centre_targets` gives them, in ``dtype``
    scoring : "correlation" or "r2"
    """
    device = kernels.device
    n_targets = batches[-1].stop
    tie = torch.finfo(dtype).eps
    best_score = torch.full((n_targets,), -torch.inf, dtype=torch.float64, device=device)
    best_cand = torch.zeros(n_targets, dtype=torch.long, device=device)
    best_index = torch.zeros(n_targets, dtype=torch.long, device=device)
    cand_scores = torch.empty(len(cands), n_targets, dtype=torch.float64, device=device)
    bar = tqdm(cands, desc="banded ridge: band weights", disable=not progress, leave=False)
    for c, w in enumerate(bar):
        Z, K = weighted_bands(Xc, kernels, w)
        folds = []
        for train, val in splits:
            train, val = train.to(device), val.to(device)
            grams = fold_grams(Z, train, val, standardize=False, center=True, kernel=K)
            with one_thread_on_cpu(device):
                folds.append(
                    FoldPredictor(grams, alphas, train, val, scoring == "correlation", dtype)
                )
        for batch in batches:
            _, Yc, tiny = batch_data(batch)
            scores = mean_fold_scores(folds, Yc, tiny, scoring, intercept=True)  # (n_alphas, b)
            a_best = best_alpha(scores, alphas)
            s_best = scores.gather(0, a_best[None])[0]
            cand_scores[c, batch] = s_best
            better = s_best > best_score[batch] + tie
            best_score[batch] = torch.where(better, s_best, best_score[batch])
            best_cand[batch] = torch.where(better, c, best_cand[batch])
            best_index[batch] = torch.where(better, a_best, best_index[batch])
        del folds
    return SearchResult(best_score, best_cand, best_index, cand_scores)
