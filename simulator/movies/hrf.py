"""The canonical haemodynamic response: SPM's double gamma.

``h(t) = g(t; 6) - g(t; 16) / 6`` with ``g(t; a) = t^(a-1) e^-t / Gamma(a)`` (t in seconds, unit
dispersion): it peaks at 5.0 s and dips below zero from about 12 s (the undershoot, deepest near
16 s, about 9% of the peak) before returning to 0 by about 30 s.
"""

from __future__ import annotations

import numpy as np
from scipy.special import gammaln

PEAK_SHAPE, UNDERSHOOT_SHAPE, UNDERSHOOT_RATIO = 6.0, 16.0, 1.0 / 6.0
#: Long enough that what is left of the response is below 1e-4 of its peak.
HRF_LENGTH_S = 32.0


def _gamma_pdf(t: np.ndarray, shape: float) -> np.ndarray:
    out = np.zeros_like(t)
    pos = t > 0
    out[pos] = np.exp((shape - 1) * np.log(t[pos]) - t[pos] - gammaln(shape))
    return out


def double_gamma(times: np.ndarray) -> np.ndarray:
    """The canonical response at ``times`` (seconds, any shape), scaled so its peak is 1."""
    t = np.asarray(times, np.float64)
    h = _gamma_pdf(t, PEAK_SHAPE) - UNDERSHOOT_RATIO * _gamma_pdf(t, UNDERSHOOT_SHAPE)
    fine = np.linspace(0, HRF_LENGTH_S, 32001)
    peak = (_gamma_pdf(fine, PEAK_SHAPE)
            - UNDERSHOOT_RATIO * _gamma_pdf(fine, UNDERSHOOT_SHAPE)).max()
    return h / peak


def peak_time() -> float:
    """Seconds from stimulus to the response's peak (5.0 s)."""
    fine = np.linspace(0, HRF_LENGTH_S, 32001)
    return float(fine[double_gamma(fine).argmax()])


def hrf_kernel(rate_hz: float) -> np.ndarray:
    """The response sampled at ``rate_hz`` from t = 0 over :data:`HRF_LENGTH_S`, as a convolution
    kernel ``(n_taps,)`` that sums to 1 (so a constant input gives back the same constant)."""
    if rate_hz <= 0:
        raise ValueError(f"rate_hz must be > 0, got {rate_hz}")
    h = double_gamma(np.arange(0, HRF_LENGTH_S, 1.0 / rate_hz))
    return h / h.sum()


def convolve_runs(signal: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Causal convolution along time: ``out[t] = sum_k kernel[k] signal[t - k]``, zero before t = 0.

    ``signal`` (n_samples, n_columns), ``kernel`` (n_taps,) -> (n_samples, n_columns), float64.
    """
    signal = np.asarray(signal, np.float64)
    n = len(signal)
    size = 1 << int(np.ceil(np.log2(n + len(kernel))))
    spectrum = np.fft.rfft(signal, size, axis=0) * np.fft.rfft(kernel, size)[:, None]
    return np.fft.irfft(spectrum, size, axis=0)[:n]
