"""Variance partitioning of a fitted banded ridge: what each band explains that the others do not.

For two or three bands, every non-empty subset ``S`` of bands gets its own
model fitted on the training videos, and its R^2 on the test videos, ``R2(S)``,
is split by set algebra (Lescroart et al. 2015, de Heer et al. 2017) into the
parts of a Venn diagram: the part explained by exactly the bands in ``A`` and
none of the others ``C``::

    part(A) = sum over non-empty T in A of (-1)^(|T|+1) * (R2(T + C) - R2(C))

so, for bands a, b (and c)::

    unique[a]     = R2(a,b) - R2(b)                      (two bands)
    shared[a,b]   = R2(a) + R2(b) - R2(a,b)
    unique[a]     = R2(a,b,c) - R2(b,c)                  (three bands)
    shared[a,b]   = R2(a,c) + R2(b,c) - R2(c) - R2(a,b,c)
    shared[a,b,c] = R2(a) + R2(b) + R2(c) - R2(a,b) - R2(a,c) - R2(b,c) + R2(a,b,c)

The parts sum to ``R2(all bands)``, the joint model's. On held-out data a part
can be negative (a band that adds noise, or subset models that fit differently);
parts are returned as computed, not clipped.

How the subset models are fitted (``method``):

- ``"cv"`` (default): each subset is a :class:`BandedRidgeCV` of its own, with
  the joint model's alpha grid, folds, scoring and candidate weights (restricted
  to the subset and renormalised), so each subset model is at its own best, the
  usual variance partitioning. Fit the joint model with ``scoring="r2"``: chosen
  by Pearson r, which ignores the scale of a prediction, a model can have a good
  r and a poor (even negative) R^2, and the parts inherit that noise.
- ``"fixed"``: the joint model's per-voxel penalty and band weights, the other
  bands' weights set to 0 (not renormalised: each band keeps its effective
  penalty ``alpha_t / w_tb``). No search, but a band the joint model gave weight
  0 explains nothing alone, so variance that two bands share is counted as unique
  to the one the search preferred (seen in the tests' planted shared voxels).
"""

from __future__ import annotations

from itertools import combinations

import torch
from torch import Tensor

from ridge.banded import BandedRidgeCV
from ridge.cv import centre_targets
from ridge.ops import Refit, one_thread_on_cpu, r2_scores, spectral_decomposition
from ridge.validation import check_bands, check_targets


def subset_r2_fixed(
    model: BandedRidgeCV,
    subset: tuple[int, ...],
    train: list[Tensor],
    Y_train: Tensor,
    test: list[Tensor],
    Y_test: Tensor,
) -> Tensor:
    """R^2 on the test videos (n_voxels,) of the model restricted to the bands ``subset``.

    train, test : lists of float64 tensors (n_videos, n_features_b), in ``model.band_names`` order
    Y_train (n_train, n_voxels), Y_test (n_test, n_voxels), both in ``model.dtype`` on its device.
    A voxel whose weights on ``subset`` are all 0 is predicted by its training mean.
    """
    dtype, device = model.dtype, model.coef_.device
    y_mean, Yc, _ = centre_targets(Y_train, model.n_folds)
    pred = y_mean.expand(Y_test.shape[0], -1).clone()
    alpha_idx = model.alpha_index_
    cands = model.band_weight_candidates_.to(device)
    for c in torch.unique(model.best_candidate_).tolist():
        w = cands[c]
        kept = [b for b in subset if w[b] > 0]
        if not kept:
            continue
        cols = torch.nonzero(model.best_candidate_ == c).flatten()
        scaled = [w[b].sqrt() / model.x_scales_[b] for b in kept]
        Z = torch.cat([(train[b] - model.x_means_[b]) * s for b, s in zip(kept, scaled, strict=True)], dim=1)
        Zt = torch.cat([(test[b] - model.x_means_[b]) * s for b, s in zip(kept, scaled, strict=True)], dim=1)
        with one_thread_on_cpu(Z.device):
            refit = Refit(spectral_decomposition(Z), model.alpha_grid_, dtype)
        pred[:, cols] += Zt.to(dtype) @ refit.coef(alpha_idx[cols], Yc[:, cols])
    tiny = torch.zeros(Y_test.shape[1], dtype=dtype, device=device)
    return r2_scores(pred[None], Y_test, tiny)[0]


def subset_r2_cv(
    model: BandedRidgeCV,
    subset: tuple[int, ...],
    train: list[Tensor],
    Y_train: Tensor,
    test: list[Tensor],
    Y_test: Tensor,
) -> Tensor:
    """R^2 on the test videos (n_voxels,) of a BandedRidgeCV fitted on the bands ``subset`` alone,
    with the joint model's alpha grid, folds, options and candidates (restricted, renormalised).
    Arguments as :func:`subset_r2_fixed`."""
    names = [model.band_names[b] for b in subset]
    cands = model.band_weight_candidates_[:, list(subset)]
    cands = cands[cands.sum(1) > 0]
    cands = torch.unique(cands / cands.sum(1, keepdim=True), dim=0)
    sub = BandedRidgeCV(
        cands,
        model.alpha_grid_.tolist(),
        n_folds=model.n_folds,
        device=model.coef_.device,
        dtype=model.dtype,
        normalize_bands=model.normalize_bands,
        scoring=model.scoring,
    )
    sub.fit({n: train[b] for n, b in zip(names, subset, strict=True)}, Y_train)
    pred = sub.predict({n: test[b] for n, b in zip(names, subset, strict=True)})
    tiny = torch.zeros(Y_test.shape[1], dtype=model.dtype, device=Y_test.device)
    return r2_scores(pred[None], Y_test, tiny)[0]


def variance_partition(
    model: BandedRidgeCV, train_bands, Y_train, test_bands, Y_test, method: str = "cv"
) -> dict[str, Tensor]:
    """Unique and shared variance of 2 or 3 bands, per voxel.

    Parameters
    ----------
    model : a fitted :class:`BandedRidgeCV` with 2 or 3 bands
    train_bands : dict {name: (n_train, n_features_b)}, the videos the model was fitted on
    Y_train : (n_train, n_voxels), the targets it was fitted on
    test_bands : dict {name: (n_test, n_features_b)}
    Y_test : (n_test, n_voxels)
    method : "cv" or "fixed", how the subset models are fitted (module doc)

    Returns
    -------
    dict of str -> tensor of shape (n_voxels,), in ``model.dtype``:
        ``"r2[a]"``, ``"r2[a,b]"``, ... : test R^2 of every subset model (band names
        joined by commas, in ``model.band_names`` order);
        ``"unique[a]"`` for each band; ``"shared[a,b]"`` for each pair (explained by
        both and, with three bands, not by the third); ``"shared[a,b,c]"`` with three.
        The ``unique`` and ``shared`` parts sum to ``r2`` of all bands.
    """
    if not hasattr(model, "coef_"):
        raise RuntimeError(
            "variance_partition needs a fitted BandedRidgeCV: call fit(bands, Y) first"
        )
    names = model.band_names
    if len(names) not in (2, 3):
        raise ValueError(
            f"variance partitioning needs 2 or 3 bands; the model has {len(names)}: {names}"
        )
    if method not in ("cv", "fixed"):
        raise ValueError(f"method must be 'cv' or 'fixed'; got {method!r}")
    device = model.coef_.device
    _, train = check_bands(train_bands, device, names=names, n_features=model.n_features_)
    _, test = check_bands(test_bands, device, names=names, n_features=model.n_features_)
    Y_train = check_targets(Y_train, train[0].shape[0]).to(device=device, dtype=model.dtype)
    Y_test = check_targets(Y_test, test[0].shape[0]).to(device=device, dtype=model.dtype)
    if Y_train.shape[1] != model.coef_.shape[1] or Y_test.shape[1] != model.coef_.shape[1]:
        raise ValueError(
            f"Y_train and Y_test must have {model.coef_.shape[1]} voxels (as in fit); got "
            f"{Y_train.shape[1]} and {Y_test.shape[1]}"
        )

    bands = tuple(range(len(names)))
    r2 = {(): torch.zeros(Y_test.shape[1], dtype=model.dtype, device=device)}
    for k in range(1, len(bands) + 1):
        for S in combinations(bands, k):
            if method == "fixed" or len(S) == len(bands):  # all bands: the joint model itself
                r2[S] = subset_r2_fixed(model, S, train, Y_train, test, Y_test)
            else:
                r2[S] = subset_r2_cv(model, S, train, Y_train, test, Y_test)

    def key(S):
        return ",".join(names[b] for b in S)

    out = {f"r2[{key(S)}]": v for S, v in r2.items() if S}
    for k in range(1, len(bands) + 1):
        for A in combinations(bands, k):
            C = tuple(b for b in bands if b not in A)
            part = torch.zeros_like(r2[()])
            for j in range(1, len(A) + 1):
                for T in combinations(A, j):
                    part += (-1) ** (j + 1) * (r2[tuple(sorted(T + C))] - r2[C])
            out[f"{'unique' if k == 1 else 'shared'}[{key(A)}]"] = part
    return out
