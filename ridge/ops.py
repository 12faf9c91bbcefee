"""Linear-algebra kernels of the cross-validated ridge in :mod:`ridge`.

Notation
--------
``Xc`` are the centred (optionally standardised) features, shape (n, p). The
ridge solution for one regularisation ``a`` is::

    coef_a = (Xc^T Xc + a I)^-1 Xc^T Y

Every alpha and every target share one eigendecomposition of the smaller Gram
matrix, written as ``coef_a = P diag(1 / (lam + a)) Q^T Y``:

- primal (n >= p): ``Xc^T Xc = V diag(lam) V^T``, ``P = V``, ``Q = Xc V``  (r = p)
- dual   (n <  p): ``Xc Xc^T = U diag(lam) U^T``, ``P = Xc^T U``, ``Q = U`` (r = n)

Both follow from ``(Xc^T Xc + aI)^-1 Xc^T = Xc^T (Xc Xc^T + aI)^-1``. The Gram
matrix and its eigendecomposition are computed in float64 (they are small:
r x r), so small alphas stay accurate even when ``Y`` is float32.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor

from scoring.pearson import r_of_centred
from scoring.splits import kfold_folds


def kfold_splits(
    n_samples: int, n_folds: int, shuffle: bool = False, seed: int = 0
) -> list[tuple[Tensor, Tensor]]:
    """K-fold (train, validation) index pairs, as scikit-learn's ``KFold``.

    The first ``n_samples % n_folds`` folds hold ``n_samples // n_folds + 1``
    samples, the others ``n_samples // n_folds``. Without shuffling the folds
    are contiguous blocks in the given order (identical to
    ``KFold(n_folds)``); with shuffling the order is
    ``torch.randperm(n_samples)`` drawn from a generator seeded with ``seed``,
    so the folds are deterministic. Indices are sorted within each part.

    Returns
    -------
    splits : list of n_folds tuples (train, val) of int64 tensors
        ``train`` of shape (n_samples - n_val,), ``val`` of shape (n_val,).
    """
    if shuffle:
        gen = torch.Generator().manual_seed(int(seed))
        order = torch.randperm(n_samples, generator=gen)
    else:
        order = torch.arange(n_samples)
    return [(torch.from_numpy(train), torch.from_numpy(val)) for train, val in kfold_folds(order.numpy(), n_folds)]


@dataclass
class Spectral:
    """``coef_a = P diag(1 / (lam + a)) Q^T Y`` for every alpha ``a``.

    P : tensor of shape (n_features, r)
    Q : tensor of shape (n_samples, r)
    lam : tensor of shape (r,), eigenvalues of the Gram matrix, clamped >= 0
    """

    P: Tensor
    Q: Tensor
    lam: Tensor


def spectral_decomposition(Xc: Tensor, kernel: Tensor | None = None) -> Spectral:
    """One ``eigh`` of the smaller Gram matrix of ``Xc`` (n, p); see module doc.

    The dual form (kernel ``Xc Xc^T``, or ``kernel`` if given) is used when
    n < p, the primal form (covariance ``Xc^T Xc``) otherwise. Computed in
    ``Xc``'s dtype (float64 here).
    """
    n, p = Xc.shape
    if n < p:
        lam, U = torch.linalg.eigh(Xc @ Xc.T if kernel is None else kernel)
        return Spectral(P=Xc.T @ U, Q=U, lam=lam.clamp_min(0))
    lam, V = torch.linalg.eigh(Xc.T @ Xc)
    return Spectral(P=V, Q=Xc @ V, lam=lam.clamp_min(0))


def ridge_weights(lam: Tensor, alphas: Tensor) -> Tensor:
    """``W[a, j] = 1 / (lam_j + alphas_a)``, shape (n_alphas, r)."""
    return 1.0 / (lam[None, :] + alphas[:, None])


class Refit:
    """The refit on all rows, each target at its own penalty, from one decomposition.

    ``coef[:, t] = P diag(W[a_t]) Q^T Yc[:, t]`` with ``W = ridge_weights(lam, alphas)``: each
    target's penalty is a diagonal scaling in the eigenbasis, so targets need no grouping by
    penalty. Built from :func:`spectral_decomposition` (float64), applied in ``dtype``.
    """

    def __init__(self, full: Spectral, alphas: Tensor, dtype: torch.dtype):
        self.weights = ridge_weights(full.lam, alphas).to(dtype)  # (n_alphas, r)
        self.P, self.Qt = full.P.to(dtype), full.Q.T.to(dtype).contiguous()

    def coef(self, alpha_index: Tensor, Yc: Tensor) -> Tensor:
        """alpha_index int64 (m,) into ``alphas``, centred targets Yc (n, m) -> coef (p, m)."""
        return self.P @ (self.weights[alpha_index].T * (self.Qt @ Yc))


@contextmanager
def one_thread_on_cpu(device: torch.device) -> Iterator[None]:
    """Run LAPACK's eigh on one CPU thread. On a shared 2-core box under load, a 2-thread
    eigh of an 800 x 800 kernel took 15-25 s against 0.5 s on one thread (its threads wait
    on each other while descheduled); quiet, the second thread gains little on matrices
    this small. The big matrix products outside stay multi-threaded."""
    if device.type != "cpu":
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def fold_grams(X: Tensor, train: Tensor, val: Tensor, standardize: bool, center: bool,
               kernel: Tensor | None = None):
    """Centred Gram blocks of one fold, the train part's statistics only.

    ``Xc = (X - m) / s`` with m, s the mean (if ``center``) and population std
    (if ``standardize``, constant features unscaled) of ``X[train]``.

    Parameters
    ----------
    X : tensor of shape (n_samples, n_features), float64
    train, val : int64 tensors of shape (n_train,) and (n_val,)
    kernel : None, or tensor of shape (n_samples, n_samples)
        ``X X^T`` computed once for all folds (X centred or not: the fold's
        centring below removes any shift), used when not standardising:
        ``Kc[i, j] = K[i, j] - k_i - k_j + k`` with ``k_i = mean_{t in train} K[i, t]``
        and ``k`` the mean of ``k_t`` over train.

    Returns
    -------
    ("dual", K_tt, K_vt) when n_train < n_features: kernels ``Xc_tr Xc_tr^T``
        (n_train, n_train) and ``Xc_val Xc_tr^T`` (n_val, n_train);
    ("primal", Xc_tr, Xc_val) otherwise.
    """
    dual = len(train) < X.shape[1]
    if dual and kernel is not None and not standardize:
        K_tt, K_vt = kernel[train][:, train], kernel[val][:, train]
        if center:
            k_t = K_tt.mean(0)
            k = k_t.mean()
            K_tt = K_tt - k_t[None] - k_t[:, None] + k
            K_vt = K_vt - K_vt.mean(1, keepdim=True) - k_t[None] + k
        return "dual", K_tt, K_vt
    Xtr, Xval = X[train], X[val]
    mean = Xtr.mean(0) if center else torch.zeros_like(Xtr[0])
    Xtr, Xval = Xtr - mean, Xval - mean
    if standardize:
        scale = Xtr.square().mean(0).sqrt()
        scale = torch.where(scale > 0, scale, 1.0)
        Xtr, Xval = Xtr / scale, Xval / scale
    if dual:
        return "dual", Xtr @ Xtr.T, Xval @ Xtr.T
    return "primal", Xtr, Xval


class FoldPredictor:
    """Validation predictions of one fold, for every alpha at once.

    For alpha ``a``: ``pred_a = C A diag(W[a]) Q^T Ytr``, with ``W[a] = 1 / (lam + a)``,
    ``C`` the centring over validation rows (when ``center_val``, for
    correlation scoring, whose value is shift-invariant), and

    - dual:   ``K_tt = U diag(lam) U^T``, ``A = K_vt U``,   ``Q = U``
    - primal: ``Xc_tr^T Xc_tr = V diag(lam) V^T``, ``A = Xc_val V``, ``Q = Xc_tr V``

    one float64 ``eigh`` per fold. Stacking the alphas gives ``L`` of shape
    (n_alphas * n_val, r), applied in the cheaper of two exact orders:

    - ``'project'``  : ``L @ (Q^T Ytr)``, cost per target r * (n_train + n_alphas * n_val)
    - ``'smoother'`` : ``(L Q^T) @ Ytr``, cost per target n_alphas * n_val * n_train

    The dual form (r = n_train) always uses the smoother, the primal form with
    few features (PCA-100, say) the projection.

    Parameters
    ----------
    grams : output of :func:`fold_grams` (float64)
    alphas : tensor of shape (n_alphas,), float64
    train, val : int64 tensors of shape (n_train,) and (n_val,), row indices
    center_val : bool
    dtype : dtype of the matrices applied to Y
    """

    def __init__(self, grams, alphas, train, val, center_val, dtype):
        form, a, b = grams
        if form == "dual":
            lam, U = torch.linalg.eigh(a)
            A, Q = b @ U, U
        else:
            lam, V = torch.linalg.eigh(a.T @ a)
            A, Q = b @ V, a @ V
        n_alphas, (n_val, r), n_train = len(alphas), A.shape, len(train)
        left = ridge_weights(lam.clamp_min(0), alphas)[:, None, :] * A[None]
        if center_val:
            left = left - left.mean(1, keepdim=True)
        left = left.reshape(n_alphas * n_val, r)
        self.route = (
            "smoother" if n_alphas * n_val * n_train <= r * (n_train + n_alphas * n_val)
            else "project"
        )
        if self.route == "smoother":
            self.left, self.right = left.to(dtype) @ Q.T.to(dtype), None
        else:
            self.left, self.right = left.to(dtype), Q.T.to(dtype).contiguous()
        self.train, self.val, self.n_alphas = train, val, n_alphas

    def predict(self, Yc: Tensor) -> Tensor:
        """Yc : tensor of shape (n_samples, n_targets) -> (n_alphas, n_val, n_targets)."""
        Ytr = Yc.index_select(0, self.train)
        if self.right is not None:
            Ytr = self.right @ Ytr
        return (self.left @ Ytr).view(self.n_alphas, len(self.val), -1)


def correlation_scores(pred: Tensor, y_val: Tensor, tiny_ss: Tensor) -> Tensor:
    """Pearson r of each alpha's prediction with the validation targets.

    Parameters
    ----------
    pred : tensor of shape (n_alphas, n_val, n_targets), centred over n_val
    y_val : tensor of shape (n_val, n_targets)
    tiny_ss : tensor of shape (n_targets,)
        A validation sum of squares at or below this counts as zero variance.

    Returns
    -------
    r : tensor of shape (n_alphas, n_targets)
        ``sum(p y) / sqrt(sum(p^2) sum(y^2))`` with y centred over n_val; 0
        where either variance is zero (constant target or prediction).
    """
    yc = y_val - y_val.mean(0, keepdim=True)
    varies = yc.square().sum(0) > tiny_ss
    return torch.where(varies, r_of_centred(pred, yc, dim=-2), 0.0)


def r2_scores(pred: Tensor, y_val: Tensor, tiny_ss: Tensor) -> Tensor:
    """Coefficient of determination ``1 - SS_res / SS_tot`` per (alpha, target).

    pred : tensor of shape (n_alphas, n_val, n_targets), intercept included
    y_val : tensor of shape (n_val, n_targets)
    tiny_ss : tensor of shape (n_targets,); a smaller SS_tot scores 0
    Returns r2 : tensor of shape (n_alphas, n_targets)
    """
    ss_tot = (y_val - y_val.mean(0, keepdim=True)).square().sum(0)
    ss_res = (pred - y_val[None]).square().sum(1)
    ok = ss_tot > tiny_ss
    return torch.where(ok, 1.0 - ss_res / torch.where(ok, ss_tot, 1.0), 0.0)


#: Targets per CV step inside a batch on CPU: the (n_alphas, n_val, chunk) predictions then stay in
#: cache (10-20% faster than 20k at once).
CV_CHUNK = 2048


def mean_fold_scores(folds: list[FoldPredictor], Yc: Tensor, tiny_ss: Tensor, scoring: str,
                     intercept: bool) -> Tensor:
    """Mean over folds of each alpha's validation score, ``(n_alphas, n_targets)`` float64.

    Yc : tensor of shape (n_videos, n_targets), centred targets
    tiny_ss : tensor of shape (n_targets,); a validation sum of squares at or below it scores 0
    scoring : "correlation" or "r2"; for "r2" with ``intercept``, each prediction gets its
        intercept back (the training part's mean of ``Yc``)
    """
    total = torch.zeros(folds[0].n_alphas, Yc.shape[1], dtype=torch.float64, device=Yc.device)
    chunk = CV_CHUNK if Yc.device.type == "cpu" else Yc.shape[1]
    for start in range(0, Yc.shape[1], chunk):
        cols = slice(start, start + chunk)
        Ych, tiny = Yc[:, cols].contiguous(), tiny_ss[cols]
        for fold in folds:
            pred, y_val = fold.predict(Ych), Ych.index_select(0, fold.val)
            if scoring == "correlation":
                total[:, cols] += correlation_scores(pred, y_val, tiny)
            else:
                if intercept:
                    pred += ((Ych.sum(0) - y_val.sum(0)) / len(fold.train))[None, None]
                total[:, cols] += r2_scores(pred, y_val, tiny)
    return total / len(folds)
