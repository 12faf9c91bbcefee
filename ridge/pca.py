"""PCA compression of features, fitted on training rows only (torch).

The 2021 challenge baseline compressed each layer's features to 100
principal components ("PCA-100") before its linear read-out. The components
must be fitted on the training videos alone, then applied to every video::

    mean = mean(X[fit_rows], 0)
    X[fit_rows] - mean = U diag(s) Vt          (thin SVD)
    components = Vt[:n_components]
    X_reduced = (X - mean) @ components.T

Signs follow scikit-learn's ``svd_flip(u_based_decision=False)``: the largest
absolute loading of each component is positive, so the output matches
``sklearn.decomposition.PCA(n_components).fit(X[fit_rows]).transform(X)``.
"""

from __future__ import annotations

import torch
from torch import Tensor


def pca_reduce(
    X, n_components: int, fit_rows=None, lowrank: bool = False, seed: int = 0
) -> tuple[Tensor, Tensor, Tensor]:
    """Project all rows of X on the top principal components of ``X[fit_rows]``.

    Parameters
    ----------
    X : array or tensor of shape (n_videos, n_features)
    n_components : int, 1 <= n_components <= min(n_fit, n_features)
    fit_rows : None, or index / boolean mask over the n_videos rows
        Rows the mean and components are fitted on (the training videos);
        None: all rows.
    lowrank : bool
        Use the randomised ``torch.pca_lowrank`` (faster for very wide X,
        approximate) instead of the exact thin SVD.
    seed : int
        Seed of the randomised algorithm (``lowrank=True`` only).

    Returns
    -------
    X_reduced : tensor of shape (n_videos, n_components)
    components : tensor of shape (n_components, n_features), orthonormal rows
    mean : tensor of shape (n_features,)
    """
    X = torch.as_tensor(X) if not isinstance(X, Tensor) else X
    if X.ndim != 2:
        raise ValueError(f"X must have shape (n_videos, n_features); got {tuple(X.shape)}")
    if not X.is_floating_point():
        X = X.to(torch.get_default_dtype())
    X_fit = X if fit_rows is None else X[torch.as_tensor(fit_rows, device=X.device)]
    if not 1 <= n_components <= min(X_fit.shape):
        raise ValueError(
            f"n_components must be in [1, min(n_fit_rows, n_features) = {min(X_fit.shape)}]; "
            f"got {n_components}"
        )
    if not bool(torch.isfinite(X_fit).all()):
        raise ValueError("X has NaN/inf values in the rows PCA is fitted on")
    mean = X_fit.mean(0)
    if lowrank:
        with torch.random.fork_rng(devices=[X.device] if X.device.type == "cuda" else []):
            torch.manual_seed(seed)
            q = min(n_components + 10, *X_fit.shape)  # oversampled, then truncated
            _, _, V = torch.pca_lowrank(X_fit - mean, q=q, center=False, niter=4)
        components = V.T[:n_components]
    else:
        components = torch.linalg.svd(X_fit - mean, full_matrices=False).Vh[:n_components]
    rows = torch.arange(n_components, device=X.device)
    signs = torch.sign(components[rows, components.abs().argmax(1)])
    components = components * torch.where(signs == 0, 1.0, signs)[:, None]
    return pca_transform(X, components, mean), components, mean


def pca_transform(X, components: Tensor, mean: Tensor) -> Tensor:
    """``(X - mean) @ components.T``: X (n_videos, n_features) -> (n_videos, n_components)."""
    X = torch.as_tensor(X).to(components)
    return (X - mean) @ components.T
