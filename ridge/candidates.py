"""Candidate band weights of banded ridge's random search (himalaya's ``random_search``).

Each candidate is one weighting of the feature bands on the simplex (``w_b >= 0``,
``sum_b w_b = 1``); :class:`~ridge.banded.BandedRidgeCV` scores every candidate and keeps,
per voxel, the best.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

DIRICHLET_CONCENTRATIONS = (
    0.1,
    1.0,
)  # himalaya's default: near-corners and uniform draws, alternating


def band_weight_candidates(
    n_bands: int,
    n_candidates: int = 20,
    seed: int = 0,
    concentrations: Sequence[float] = DIRICHLET_CONCENTRATIONS,
) -> Tensor:
    """Candidate band weights on the simplex, shape (n_candidates, n_bands), float64.

    Rows: the ``n_bands`` one-hot corners (each band alone), then the uniform
    weights ``1 / n_bands``, then Dirichlet draws whose concentration cycles
    through ``concentrations`` (0.1: close to a corner or an edge; 1: uniform
    over the simplex), from ``numpy.random.default_rng(seed)``. One band: one row.
    """
    if n_bands < 1:
        raise ValueError(f"n_bands must be >= 1; got {n_bands}")
    if n_bands == 1:
        return torch.ones(1, 1, dtype=torch.float64)
    if n_candidates < n_bands + 1:
        raise ValueError(
            f"band_weight_candidates must be at least n_bands + 1 = {n_bands + 1} (each band "
            f"alone, and the uniform weights); got {n_candidates}"
        )
    rows = [np.eye(n_bands), np.full((1, n_bands), 1.0 / n_bands)]
    rng = np.random.default_rng(seed)
    for i in range(n_candidates - n_bands - 1):
        conc = concentrations[i % len(concentrations)]
        rows.append(rng.dirichlet([conc] * n_bands, 1))
    return torch.from_numpy(np.vstack(rows)).to(torch.float64)


def check_candidates(cands, n_bands: int) -> Tensor:
    """Given candidates (n_candidates, n_bands) -> float64 rows normalised to sum 1."""
    W = torch.as_tensor(cands, dtype=torch.float64).cpu()
    if W.ndim != 2 or W.shape[1] != n_bands or len(W) == 0:
        raise ValueError(
            f"band_weight_candidates must have shape (n_candidates, n_bands={n_bands}); "
            f"got shape {tuple(W.shape)}"
        )
    if not bool(torch.isfinite(W).all()) or bool((W < 0).any()) or bool((W.sum(1) <= 0).any()):
        raise ValueError(
            "band_weight_candidates must be finite and >= 0, each row with a positive sum"
        )
    return W / W.sum(1, keepdim=True)


def candidates_for(spec: int | Tensor, n_bands: int, seed: int) -> Tensor:
    """``spec`` a number of candidates (drawn by :func:`band_weight_candidates` from ``seed``) or
    the rows themselves (:func:`check_candidates`) -> float64 (n_candidates, n_bands)."""
    if isinstance(spec, int | np.integer):
        return band_weight_candidates(n_bands, int(spec), seed)
    return check_candidates(spec, n_bands)
