"""Temporal stages of the movie mode: from per-frame features to haemodynamic responses, with a
learned lag.

Both stages map ``(batch, n_frames, in_dim)`` features of frames sampled at ``rate_hz`` to
``(batch, n_frames, out_dim)``, causally: the output at frame ``p`` depends only on frames
``p - window_frames + 1 .. p`` of the same sequence, so a caller that puts ``window_frames - 1``
frames of context before the frames it keeps gets outputs that do not depend on where the
sequence started (overlapping segments agree:
:class:`lightning_modules.movie_finetune.MovieFinetune`).

- :class:`DepthwiseTemporal`: a learned FIR per feature channel (a depthwise causal convolution;
  MedARC's 2025 entry), started from the canonical HRF (:mod:`simulator.movies.hrf`) or from
  noise. Its kernel is the lag profile.
- :class:`WindowTransformer`: a small transformer whose attention reaches ``window_frames``
  frames back, with a learned bias per head and per lag (the lag profile), TRIBE/VIBE-like.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from simulator.movies.hrf import hrf_kernel

INITS = ("hrf", "noise")


def window_frames(window_s: float, rate_hz: float) -> int:
    """Frames a window of ``window_s`` seconds holds at ``rate_hz`` (at least 1)."""
    if window_s <= 0 or rate_hz <= 0:
        raise ValueError(f"model.window_s and data.rate_hz must be > 0, got {window_s}, {rate_hz}")
    return max(1, int(round(window_s * rate_hz)))


class DepthwiseTemporal(nn.Module):
    """``out[b, p, c] = sum_k kernel[c, k] x[b, p - k, c]`` (zero before the sequence starts).

    Parameters
    ----------
    dim : feature channels (in = out)
    n_taps : kernel length in frames (the window)
    rate_hz : frames per second (for :meth:`peak_lag_s` and the HRF start)
    init : ``hrf`` (every channel the canonical HRF sampled at ``rate_hz``, truncated to
        ``n_taps`` and scaled to sum 1) or ``noise`` (N(0, 1 / n_taps) per tap)
    seed : the noise's generator seed
    """

    def __init__(self, dim: int, n_taps: int, rate_hz: float, init: str = "hrf", seed: int = 0):
        super().__init__()
        if init not in INITS:
            raise ValueError(f"model.temporal_init must be one of {INITS}, got {init!r}")
        self.dim = self.out_dim = dim
        self.window_frames, self.rate_hz = int(n_taps), float(rate_hz)
        if init == "hrf":
            h = hrf_kernel(rate_hz)[:n_taps]
            h = np.pad(h, (0, n_taps - len(h))) / h.sum()
            kernel = torch.from_numpy(np.tile(h, (dim, 1))).float()
        else:
            g = torch.Generator().manual_seed(seed)
            kernel = torch.randn(dim, n_taps, generator=g) / math.sqrt(n_taps)
        self.kernel = nn.Parameter(kernel)  # (dim, n_taps), tap k = lag k frames

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, n_frames, dim) -> (batch, n_frames, dim)."""
        # conv1d correlates: flip the kernel so tap k multiplies x[p - k]; pad on the left (causal)
        weight = self.kernel.flip(-1).unsqueeze(1).to(x.dtype)  # (dim, 1, n_taps)
        y = F.conv1d(F.pad(x.transpose(1, 2), (self.window_frames - 1, 0)), weight, groups=self.dim)
        return y.transpose(1, 2)

    def lag_profile(self, weights: torch.Tensor | None = None) -> torch.Tensor:
        """(n_taps,) the response to a unit impulse, averaged over channels; with ``weights``
        (dim,) (e.g. a head's row), the channels weighted by them: the impulse response of the
        stage followed by that read-out."""
        kernel = self.kernel.detach().float()
        if weights is None:
            return kernel.mean(0)
        return (weights.detach().float()[:, None] * kernel).sum(0)

    def peak_lag_s(self, weights: torch.Tensor | None = None) -> float:
        """Seconds from a frame to the largest value of :meth:`lag_profile`."""
        return float(self.lag_profile(weights).argmax()) / self.rate_hz


class WindowTransformer(nn.Module):
    """Pre-norm transformer layers over frames, each layer's attention restricted to the last
    ``n_frames`` frames (causal band), plus a learned bias per head and lag (the attention's lag
    profile). Stacked, an output depends on ``window_frames = n_layers * (n_frames - 1) + 1``
    frames.

    Parameters
    ----------
    in_dim : feature channels in; projected to ``d_model``
    n_frames : the window, in frames
    rate_hz : frames per second (for :meth:`peak_lag_s`)
    d_model, n_heads, n_layers, dropout : the transformer's size
    """

    def __init__(self, in_dim: int, n_frames: int, rate_hz: float, d_model: int = 64,
                 n_heads: int = 4, n_layers: int = 1, dropout: float = 0.1):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"model.d_model ({d_model}) must be a multiple of model.n_heads "
                             f"({n_heads})")
        # each layer looks n_frames back; stacked, an output reaches n_layers * (n_frames - 1) back
        self.lag_frames, self.rate_hz, self.out_dim = int(n_frames), float(rate_hz), d_model
        self.window_frames = n_layers * (self.lag_frames - 1) + 1
        self.n_heads = n_heads
        self.project = nn.Linear(in_dim, d_model)
        self.lag_bias = nn.Parameter(torch.zeros(n_layers, n_heads, n_frames))  # [layer, head, lag]
        self.layers = nn.ModuleList(_Block(d_model, n_heads, dropout) for _ in range(n_layers))
        self.norm = nn.LayerNorm(d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, n_frames_in, in_dim) -> (batch, n_frames_in, d_model)."""
        n = x.shape[1]
        lag = torch.arange(n, device=x.device)[:, None] - torch.arange(n, device=x.device)[None, :]
        inside = (lag >= 0) & (lag < self.lag_frames)  # (query, key): key in the query's window
        h = self.project(x)
        for i, block in enumerate(self.layers):
            bias = self.lag_bias[i][:, lag.clamp(0, self.lag_frames - 1)]  # (heads, n, n)
            bias = bias.masked_fill(~inside, float("-inf")).to(h.dtype)
            h = block(h, bias)
        return self.norm(h)

    def lag_profile(self) -> torch.Tensor:
        """(n_frames,) the learned attention bias per lag, averaged over layers and heads."""
        return self.lag_bias.detach().float().mean((0, 1))

    def peak_lag_s(self) -> float:
        return float(self.lag_profile().argmax()) / self.rate_hz


class _Block(nn.Module):
    def __init__(self, d_model: int, n_heads: int, dropout: float):
        super().__init__()
        self.n_heads, self.dropout = n_heads, dropout
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.qkv, self.out = nn.Linear(d_model, 3 * d_model), nn.Linear(d_model, d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, 2 * d_model), nn.GELU(),
                                 nn.Linear(2 * d_model, d_model))

    def forward(self, h: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        b, n, d = h.shape
        qkv = self.qkv(self.norm1(h)).view(b, n, 3, self.n_heads, d // self.n_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.unsqueeze(0),
                                           dropout_p=self.dropout if self.training else 0.0)
        h = h + self.out(a.transpose(1, 2).reshape(b, n, d))
        return h + self.mlp(self.norm2(h))


def build_temporal(kind: str, in_dim: int, n_frames: int, rate_hz: float, init: str = "hrf",
                   seed: int = 0, d_model: int = 64, n_heads: int = 4, n_layers: int = 1,
                   dropout: float = 0.1) -> nn.Module:
    """``depthwise`` (:class:`DepthwiseTemporal`) or ``transformer``
    (:class:`WindowTransformer`)."""
    if kind == "depthwise":
        return DepthwiseTemporal(in_dim, n_frames, rate_hz, init, seed)
    if kind == "transformer":
        return WindowTransformer(in_dim, n_frames, rate_hz, d_model, n_heads, n_layers, dropout)
    raise ValueError(f"model.temporal must be 'depthwise' or 'transformer', got {kind!r}")
