"""Features of a movie at several haemodynamic lags, per run, and the lag profile of a fit.

The BOLD response to what is on screen at TR ``t`` peaks some 4-6 s later and lasts ~15 s.
Two ways to let a linear model see it:

- finite-impulse-response (FIR) delays, as the field's voxelwise tutorials do: features at lags
  ``0..K`` TRs side by side, so ridge learns each target's response shape (:func:`fir_delays`);
- the Algonauts 2025 baseline's fixed-lag window: the ``window`` feature rows ending ``hrf_delay``
  TRs before the target TR, flattened (:func:`fixed_lag_window`).

Runs (episodes, film segments) are separate recordings concatenated along the time axis: a lag
never reaches across a run boundary. Before a run's first TR there was no stimulus, so FIR
delays are zero-padded there; the fixed-lag window copies the dev kit's clamping instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from scoring.run_splits import run_labels

#: 0-6 TRs: 0-8.9 s at the 1.49 s TR, the span of a canonical haemodynamic response's rise and peak.
DEFAULT_DELAYS = tuple(range(7))


def _runs(features: np.ndarray, run_lengths: Sequence[int]) -> list[np.ndarray]:
    features = np.asarray(features)
    if features.ndim != 2:
        raise ValueError(f"features must have shape (n_TRs, n_features), got {features.shape}")
    lengths = np.asarray(run_lengths, np.int64)
    run_labels(lengths)  # checks the lengths
    if lengths.sum() != len(features):
        raise ValueError(f"run_lengths add up to {int(lengths.sum())} TRs but features have "
                         f"{len(features)} rows")
    return np.split(features, np.cumsum(lengths)[:-1])


def fir_delays(features: np.ndarray, run_lengths: Sequence[int],
               delays: Sequence[int] = DEFAULT_DELAYS) -> np.ndarray:
    """Features at each lag side by side, lagged within each run.

    Parameters
    ----------
    features : (n_TRs, n_features), runs concatenated in order
    run_lengths : TRs per run, adding up to n_TRs
    delays : non-negative lags in TRs

    Returns
    -------
    (n_TRs, n_delays * n_features), block ``d`` (columns ``d * n_features .. (d + 1) * n_features``)
    holding ``features[t - delays[d]]`` of the same run, zero where that is before the run's start.
    """
    delays = [int(d) for d in delays]
    if not delays or min(delays) < 0:
        raise ValueError(f"delays must be a non-empty list of lags >= 0 TRs, got {delays}")
    runs = _runs(features, run_lengths)
    out = []
    for run in runs:
        blocks = np.zeros((len(run), len(delays), run.shape[1]), run.dtype)
        for i, d in enumerate(delays):
            if d < len(run):
                blocks[d:, i] = run[: len(run) - d]
        out.append(blocks.reshape(len(run), -1))
    return np.concatenate(out)


def fixed_lag_window(features: np.ndarray, run_lengths: Sequence[int], hrf_delay: int = 3,
                     window: int = 5) -> np.ndarray:
    """The Algonauts 2025 baseline's features: for TR ``s``, ``window`` rows to ``s - hrf_delay``.

    As the challenge's dev kit aligns them: rows ``s - hrf_delay - window + 1 .. s - hrf_delay``
    of the same run, flattened oldest first; near a run's start (``s < window + hrf_delay``) the
    run's first ``window`` rows; a run shorter than ``window`` is refused.

    Returns
    -------
    (n_TRs, window * n_features)
    """
    if hrf_delay < 0 or window < 1:
        raise ValueError(f"need hrf_delay >= 0 and window >= 1, got {hrf_delay}, {window}")
    out = []
    for i, run in enumerate(_runs(features, run_lengths)):
        if len(run) < window:
            raise ValueError(f"run {i} has {len(run)} TRs, fewer than the window of {window}")
        start = np.arange(len(run)) - hrf_delay - window + 1
        start[np.arange(len(run)) < window + hrf_delay] = 0
        rows = start[:, None] + np.arange(window)
        out.append(run[rows].reshape(len(run), -1))
    return np.concatenate(out)


def lag_profile(coef: np.ndarray, delays: Sequence[int]) -> np.ndarray:
    """Each target's response shape over the lags, from FIR weights.

    A response that is one shape ``h`` (over lags) times a mix ``b`` (over features) has weights
    ``W[d, f] = h[d] b[f]``, a rank-one matrix per target; its first singular pair recovers ``h``
    up to scale and sign. The sign is chosen so the largest value is positive, the scale so it is 1.

    Parameters
    ----------
    coef : (n_delays * n_features, n_targets), delay-major as :func:`fir_delays` lays columns out
    delays : the lags of the fit, (n_delays,)

    Returns
    -------
    (n_delays, n_targets) profile per target (zeros for an all-zero target).
    """
    coef = np.asarray(coef, np.float64)
    n_delays = len(delays)
    if coef.ndim != 2 or coef.shape[0] % n_delays:
        raise ValueError(f"coef must be (n_delays * n_features, n_targets) with "
                         f"n_delays={n_delays}, got {coef.shape}")
    # (n_targets, n_delays, n_features)
    w = coef.reshape(n_delays, coef.shape[0] // n_delays, coef.shape[1]).transpose(2, 0, 1)
    u, s, _ = np.linalg.svd(w, full_matrices=False)
    h = u[:, :, 0] * s[:, :1]  # (targets, d)
    peak = np.take_along_axis(h, np.abs(h).argmax(1)[:, None], 1)
    h = np.divide(h, peak, out=np.zeros_like(h), where=peak != 0)
    return h.T


def peak_lag(profile: np.ndarray, delays: Sequence[int]) -> np.ndarray:
    """Lag (TRs) of each target's largest profile value, (n_targets,) from (n_delays, n_targets)."""
    return np.asarray(delays)[np.asarray(profile).argmax(0)]
