"""Checks of the solvers' inputs: arrays of the right shape, finite numbers, a penalty grid.

Each check raises a one-line ``ValueError`` (or ``TypeError``) that names the argument and the
shape or values expected.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor


def as_tensor(name: str, A, ndim: int, device, dtype) -> Tensor:
    """``A`` (array or tensor, ``ndim`` dimensions, real numbers) on ``device`` in ``dtype``.

    ``name`` "X" is described as (n_videos, n_features), any other as (n_videos, n_targets).
    """
    A = torch.as_tensor(A) if not isinstance(A, Tensor) else A
    if A.ndim != ndim:
        shape = "(n_videos, n_features)" if name == "X" else "(n_videos, n_targets)"
        raise ValueError(f"{name} must have shape {shape}; got shape {tuple(A.shape)}")
    if not (A.is_floating_point() or A.dtype in (torch.int32, torch.int64, torch.bool)):
        raise TypeError(f"{name} must hold real numbers; got dtype {A.dtype}")
    return A.to(device=device, dtype=dtype)


def check_finite(name: str, A: Tensor) -> None:
    """Refuse NaN and inf in ``A`` (2-D), naming the first one's row and column."""
    bad = ~torch.isfinite(A)
    if bad.any():
        rows, cols = torch.nonzero(bad, as_tuple=True)
        raise ValueError(
            f"{name} has {int(bad.sum())} NaN/inf values (first at row {int(rows[0])}, "
            f"column {int(cols[0])}); drop or impute them before fitting"
        )


def check_alphas(alphas: Sequence[float]) -> Tensor:
    """The penalty grid as a float64 tensor of shape (n_alphas,); all finite and > 0."""
    grid = torch.as_tensor(alphas, dtype=torch.float64).reshape(-1)
    if len(grid) == 0 or not bool((grid > 0).all() & torch.isfinite(grid).all()):
        raise ValueError(f"alphas must be finite and > 0; got {alphas}")
    return grid


def check_bands(
    bands,
    device,
    dtype=torch.float64,
    names: Sequence[str] | None = None,
    n_features: Sequence[int] | None = None,
) -> tuple[list[str], list[Tensor]]:
    """Validate ``{name: (n_videos, n_features_b)}``; return the names and the tensors in order.

    ``names`` / ``n_features`` given (at predict time): the bands must be exactly
    those seen in fit, with the same feature counts.
    """
    if not isinstance(bands, Mapping) or len(bands) == 0:
        got = "an empty dict" if isinstance(bands, Mapping) else type(bands).__name__
        raise ValueError(
            f"bands must be a non-empty dict {{name: (n_videos, n_features) array}}; got {got}"
        )
    if names is not None and set(bands) != set(names):
        raise ValueError(f"bands must be the bands seen in fit, {list(names)}; got {list(bands)}")
    order = list(names) if names is not None else list(bands)
    tensors = []
    for i, name in enumerate(order):
        A = bands[name]
        A = torch.as_tensor(A) if not isinstance(A, Tensor) else A
        if A.ndim != 2 or A.shape[1] == 0:
            raise ValueError(
                f"band {name!r} must have shape (n_videos, n_features) with n_features >= 1; "
                f"got shape {tuple(A.shape)}"
            )
        if n_features is not None and A.shape[1] != n_features[i]:
            raise ValueError(
                f"band {name!r} must have {n_features[i]} features (as in fit); "
                f"got shape {tuple(A.shape)}"
            )
        if tensors and A.shape[0] != tensors[0].shape[0]:
            raise ValueError(
                f"bands must all have the same number of rows (videos): {order[0]!r} has "
                f"{tensors[0].shape[0]}, {name!r} has {A.shape[0]}"
            )
        A = A.to(device=device, dtype=dtype)
        check_finite(f"band {name!r}", A)
        tensors.append(A)
    return order, tensors


def check_targets(Y, n_videos: int) -> Tensor:
    """Y (n_videos, n_voxels) or (n_videos,) -> 2-D tensor, left on its device; finite."""
    Y = torch.as_tensor(Y) if not isinstance(Y, Tensor) else Y
    if Y.ndim == 1:
        Y = Y[:, None]
    if Y.ndim != 2 or Y.shape[0] != n_videos:
        raise ValueError(
            f"Y must have shape (n_videos, n_voxels) with n_videos={n_videos} (the rows of "
            f"the bands); got shape {tuple(Y.shape)}"
        )
    check_finite("Y", Y)
    return Y
