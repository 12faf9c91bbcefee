"""VOneNet front end: a fixed Gabor filter bank modelled on primate V1.

Follows Dapello et al. (2020), "Simulating a primary visual cortex at the front
of CNNs improves robustness to image perturbations", NeurIPS, and their code
(github.com/dicarlolab/vonenet). Filter parameters are drawn, with a seed, from
the empirical distributions VOneNet uses:

- orientation: De Valois, Yund & Hepler (1982), Vision Res. 22:531 (4 bins);
- spatial frequency (0.5-8 cycles/deg): De Valois, Albrecht & Thorell (1982),
  Vision Res. 22:545, correlated with nx through a Gaussian copula (rho = 0.75
  by default, after Schiller, Finlay & Volman 1976);
- envelope size nx, ny (in periods, joint histogram): Ringach (2002),
  J. Neurophysiol. 88:455;
- phase: uniform in [0, 360) degrees.

Simple cells: ReLU of one Gabor; complex cells: quadrature energy
``sqrt(q0**2 + q1**2) / sqrt(2)`` of a Gabor pair 90 degrees apart. Optional
stochasticity (Poisson-like "neuronal" or Gaussian) is off by default and, unlike
the original, applied only in training mode so predictions are deterministic.
No weights are learned or downloaded: the filters are registered buffers.
"""

from __future__ import annotations

import math

import numpy as np
import timm
import torch
import torch.nn.functional as F
from scipy.special import ndtr
from torch import nn

_ORI_BINS = np.array([-22.5, 22.5, 67.5, 112.5, 157.5])
_ORI_COUNTS = np.array([66, 49, 77, 54])
_SF_BINS = np.array([0.5, 0.7, 1.0, 1.4, 2.0, 2.8, 4.0, 5.6, 8.0])
_SF_COUNTS = np.array([4, 4, 8, 25, 32, 26, 28, 12])
_N_BINS = np.logspace(-1, 0.2, 6)
# Ringach 2002: rows nx bins, columns ny bins.
_N_JOINT = np.array([[2, 0, 1, 0, 0], [8, 9, 4, 1, 0], [1, 2, 19, 17, 3],
                     [0, 0, 1, 7, 4], [0, 0, 0, 0, 0]], dtype=float)


def _interp_cdf(u, counts, edges):
    cdf = np.concatenate([[0.0], np.cumsum(counts) / np.sum(counts)])
    return np.interp(u, cdf, edges)


def sample_gabor_params(n: int, seed: int = 0, sf_corr: float = 0.75, sf_max: float = 9.0,
                        sf_min: float = 0.0) -> dict[str, np.ndarray]:
    """Draw ``n`` V1-like Gabor parameter sets.

    Returns
    -------
    dict of arrays of shape ``(n,)``: ``sf`` (cycles/deg), ``theta`` and ``phase``
    (radians), ``nx``, ``ny`` (envelope s.d. in periods along / across the carrier).
    """
    rng = np.random.default_rng(seed)
    hi = np.where(_SF_BINS <= sf_max)[0][-1]
    lo = np.where(_SF_BINS >= sf_min)[0][0]
    sf_bins, sf_counts = _SF_BINS[lo:hi + 1], _SF_COUNTS[lo:hi]
    phase = rng.uniform(0.0, 360.0, n)
    ori = _interp_cdf(rng.random(n), _ORI_COUNTS, _ORI_BINS)
    ori[ori < 0] += 180.0
    cdf = ndtr(rng.multivariate_normal([0, 0], [[1, sf_corr], [sf_corr, 1]], n))
    nx = 10 ** _interp_cdf(cdf[:, 0], _N_JOINT.sum(1), np.log10(_N_BINS))
    ny_u = rng.random(n)
    ny = np.empty(n)
    for k in range(n):
        row = _N_JOINT[np.clip(np.searchsorted(_N_BINS, nx[k]) - 1, 0, 3)]
        ny[k] = 10 ** _interp_cdf(ny_u[k], row, np.log10(_N_BINS))
    sf = 2 ** _interp_cdf(cdf[:, 1], sf_counts, np.log2(sf_bins))
    return {"sf": sf, "theta": np.deg2rad(ori), "phase": np.deg2rad(phase), "nx": nx, "ny": ny}


def gabor_kernel(frequency, sigma_x, sigma_y, theta, phase, ksize) -> torch.Tensor:
    """Gabor of ``frequency`` cycles/pixel, envelope s.d. in pixels: ``(ksize, ksize)``."""
    grid = torch.arange(ksize, dtype=torch.float64) - ksize // 2
    y, x = torch.meshgrid(grid, grid, indexing="ij")
    rotx = x * math.cos(theta) + y * math.sin(theta)
    roty = -x * math.sin(theta) + y * math.cos(theta)
    g = torch.exp(-0.5 * (rotx**2 / sigma_x**2 + roty**2 / sigma_y**2))
    g = g / (2 * math.pi * sigma_x * sigma_y)
    return (g * torch.cos(2 * math.pi * frequency * rotx + phase)).float()


class VOneBlock(nn.Module):
    """Fixed V1 model: ``(n, 3, H, W)`` -> ``(n, simple + complex, H/stride, W/stride)``.

    ``image_size`` pixels span ``visual_degrees`` of visual angle (VOneNet: 224 px =
    8 deg), which converts the cycles/deg of the V1 data to cycles/pixel.
    """

    def __init__(self, simple_channels=256, complex_channels=256, ksize=25, stride=4,
                 image_size=224, visual_degrees=8.0, k_exc=25.0, seed=0, sf_corr=0.75,
                 sf_max=9.0, sf_min=0.0, noise_mode: str | None = None, noise_scale=0.35,
                 noise_level=0.07, in_channels=3):
        super().__init__()
        if noise_mode not in (None, "neuronal", "gaussian"):
            raise ValueError(f"noise_mode must be None, 'neuronal' or 'gaussian', got {noise_mode}")
        self.simple_channels, self.complex_channels = simple_channels, complex_channels
        self.out_channels = simple_channels + complex_channels
        self.stride, self.padding = stride, ksize // 2
        self.k_exc, self.noise_mode = k_exc, noise_mode
        self.noise_scale, self.noise_level = noise_scale, noise_level
        p = sample_gabor_params(self.out_channels, seed, sf_corr, sf_max, sf_min)
        sf = p["sf"] / (image_size / visual_degrees)  # cycles per pixel
        channel = np.random.default_rng(seed + 1).integers(0, in_channels, self.out_channels)
        q0 = torch.zeros(self.out_channels, in_channels, ksize, ksize)
        q1 = torch.zeros_like(q0)
        for i in range(self.out_channels):
            args = (sf[i], p["nx"][i] / sf[i], p["ny"][i] / sf[i], p["theta"][i])
            q0[i, channel[i]] = gabor_kernel(*args, p["phase"][i], ksize)
            q1[i, channel[i]] = gabor_kernel(*args, p["phase"][i] + math.pi / 2, ksize)
        self.register_buffer("weight_q0", q0)
        self.register_buffer("weight_q1", q1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s0 = F.conv2d(x, self.weight_q0.to(x.dtype), stride=self.stride, padding=self.padding)
        s1 = F.conv2d(x, self.weight_q1.to(x.dtype), stride=self.stride, padding=self.padding)
        n = self.simple_channels
        simple = F.relu(s0[:, :n])
        complex_ = torch.sqrt(s0[:, n:] ** 2 + s1[:, n:] ** 2) / math.sqrt(2)
        x = self.k_exc * torch.cat([simple, complex_], 1)
        if self.training and self.noise_mode == "neuronal":
            x = x * self.noise_scale + self.noise_level
            x = x + torch.randn_like(x) * torch.sqrt(F.relu(x) + 1e-4)
            x = (x - self.noise_level) / self.noise_scale
        elif self.training and self.noise_mode == "gaussian":
            x = x + torch.randn_like(x) * self.noise_scale
        return F.relu(x)


class VOneFrontEnd(nn.Sequential):
    """VOneBlock then a learned 1x1 conv bottleneck to ``out_channels`` (no bias)."""

    def __init__(self, out_channels: int = 64, **vone_kwargs):
        block = VOneBlock(**vone_kwargs)
        bottleneck = nn.Conv2d(block.out_channels, out_channels, 1, bias=False)
        nn.init.kaiming_normal_(bottleneck.weight, mode="fan_out", nonlinearity="relu")
        super().__init__()
        self.vone_block, self.bottleneck = block, bottleneck


def attach_vone_frontend(model: nn.Module, image_size: int = 224, **vone_kwargs) -> nn.Module:
    """Replace a timm ResNet's stem (conv1, bn1, act1, maxpool) with a VOneFrontEnd, in place.

    As in VOneResNet, the bottleneck feeds ``layer1`` directly; its stride-4
    output matches the stem's reduction. With pretrained weights the later stages
    meet a new front end and need fine-tuning.
    """
    if not isinstance(model, timm.models.resnet.ResNet):
        raise ValueError(
            f"the VOneNet front end replaces a ResNet stem; timm ResNets are supported, "
            f"got {type(model).__name__}"
        )
    vone_kwargs.setdefault("stride", 4)
    model.conv1 = VOneFrontEnd(model.bn1.num_features, image_size=image_size, **vone_kwargs)
    model.bn1, model.act1, model.maxpool = nn.Identity(), nn.Identity(), nn.Identity()
    return model
