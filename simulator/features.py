"""What the hidden brain sees of a clip: frame-wise features, pooled like a slow BOLD response.

Pixel features come from a fixed low-resolution grayscale copy (``LOWRES`` px a
side, whatever the clip size): Gabor energy at 4 orientations and 2 scales, pooled
on coarse retinotopic grids (finer grids for earlier regions), and frame-to-frame
change. Object and scene features come from the renderer's annotations (visible
area per object kind, speeds, buildings).

fMRI integrates slowly, so a clip's feature is a weighted mean over frames with
weights rising towards the end of the clip (the rising flank of a haemodynamic
response sampled shortly after it): ``w(t) ~ exp((t - duration) / HRF_TAU)``.
A model that learns its temporal pooling can exploit this; a flat mean only approximates it.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F

from simulator.scenes import Clip
from simulator.sprites import KINDS

LOWRES = 48
WAVELENGTHS = (4.0, 8.0)  # pixels at LOWRES
ORIENTATIONS = (0.0, np.pi / 4, np.pi / 2, 3 * np.pi / 4)
HRF_TAU = 1.0  # seconds

#: Retinotopic blocks: name -> (scales used, grid side). Shape (n_channels, grid, grid).
EDGE_BLOCKS = {"edges_fine": ((0,), 6), "edges_mid": ((0, 1), 4), "edges_coarse": ((1,), 3),
               "edges_v4": ((1,), 2)}
SCALARS = (
    *(f"{k}_area" for k in KINDS), "face_count", "body_count",
    "curved_area", "angular_area", "spiky_area", "elongated_area",
    "fg_area", "n_objects", "object_size", "object_motion", "body_motion",
    "background_speed", "pixel_motion", "place", "house_area", "ground_edges",
)


@functools.cache
def _gabor_bank() -> torch.Tensor:
    """Quadrature Gabor pairs (2 * n_scales * n_orientations, 1, k, k); order scale, ori, phase."""
    size = int(2 * np.ceil(WAVELENGTHS[-1]) + 1)
    r = np.arange(size) - size // 2
    y, x = np.meshgrid(r, r, indexing="ij")
    kernels = []
    for lam in WAVELENGTHS:
        envelope = np.exp(-(x**2 + y**2) / (2 * (0.5 * lam) ** 2))
        for theta in ORIENTATIONS:
            u = x * np.cos(theta) + y * np.sin(theta)
            even = envelope * np.cos(2 * np.pi * u / lam)
            even -= envelope * even.sum() / envelope.sum()  # no response to flat luminance
            odd = envelope * np.sin(2 * np.pi * u / lam)
            norm = np.sqrt((even**2).sum())
            kernels += [even / norm, odd / norm]
    return torch.tensor(np.stack(kernels)[:, None], dtype=torch.float32)


def hrf_weights(times: np.ndarray, duration: float) -> np.ndarray:
    """Temporal weights of the frames at ``times`` (n_frames,) seconds; they sum to 1."""
    w = np.exp((np.asarray(times, np.float64) - duration) / HRF_TAU)
    return (w / w.sum()).astype(np.float32)


def edge_energy(gray: torch.Tensor) -> torch.Tensor:
    """Gabor energy of low-res frames.

    (n_frames, LOWRES, LOWRES) -> (n_frames, n_scales, n_orientations, LOWRES, LOWRES).
    """
    bank = _gabor_bank()
    pad = bank.shape[-1] // 2
    out = F.conv2d(F.pad(gray[:, None], (pad,) * 4, mode="replicate"), bank)
    out = out.view(len(gray), len(WAVELENGTHS), len(ORIENTATIONS), 2, LOWRES, LOWRES)
    return out.pow(2).sum(3).sqrt()


def _area_matrix(n: int, m: int) -> np.ndarray:
    """(m, n) float32 matrix averaging ``n`` pixels into ``m`` equal bins (partial pixels count)."""
    edges = np.linspace(0, n, m + 1)
    left, right = np.arange(n), np.arange(1, n + 1)
    overlap = np.minimum(edges[1:, None], right) - np.maximum(edges[:-1, None], left)
    overlap = np.clip(overlap, 0, None)
    return (overlap / overlap.sum(1, keepdims=True)).astype(np.float32)


def lowres_gray(frames: np.ndarray, chunk: int = 16) -> torch.Tensor:
    """Area-downsampled luminance in [0, 1].

    uint8 (n_frames, H, W, 3) -> float32 tensor (n_frames, LOWRES, LOWRES).
    """
    rows = torch.from_numpy(_area_matrix(frames.shape[1], LOWRES))
    cols = torch.from_numpy(_area_matrix(frames.shape[2], LOWRES).T / (3 * 255))
    out = torch.empty((len(frames), LOWRES, LOWRES))
    for t in range(0, len(frames), chunk):  # in chunks: no full-size float copy of the clip
        rgb_sum = torch.from_numpy(frames[t : t + chunk]).to(torch.float32).sum(-1)
        out[t : t + chunk] = rows @ rgb_sum @ cols
    return out


def frame_features(clip: Clip) -> dict[str, np.ndarray]:
    """Frame-wise features ``{name: (n_frames, ...)}`` float32.

    Names: the ``EDGE_BLOCKS`` (each (n_frames, n_channels, grid, grid)), then ``SCALARS``.
    """
    with torch.no_grad():
        gray = lowres_gray(clip.frames)
        energy = edge_energy(gray)
        out = {}
        for name, (scales, grid) in EDGE_BLOCKS.items():
            e = energy[:, list(scales)].flatten(1, 2)
            out[name] = F.adaptive_avg_pool2d(e, grid).numpy()
        # Horizontal structure (orientation pi/2 is horizontal stripes) in the lower half.
        ground = energy[:, 1, 2, LOWRES // 2 :].mean((1, 2)).numpy()
        change = (gray[1:] - gray[:-1]).abs().mean((1, 2)).numpy() * clip.fps
    n = len(clip.times)
    area = {k: clip.kind_area[:, i] for i, k in enumerate(KINDS)}
    scalars = {
        **{f"{k}_area": a for k, a in area.items()},
        "face_count": clip.kind_count[:, KINDS.index("face")],
        "body_count": clip.kind_count[:, KINDS.index("body")],
        "curved_area": area["face"] + area["circle"],
        "angular_area": area["square"] + area["triangle"],
        "spiky_area": area["star"],
        "elongated_area": area["body"],
        "fg_area": clip.kind_area.sum(1),
        "n_objects": clip.kind_count.sum(1),
        "object_size": clip.object_size,
        "object_motion": clip.kind_motion.sum(1),
        "body_motion": clip.kind_motion[:, KINDS.index("body")],
        "background_speed": clip.background_speed,
        "pixel_motion": np.concatenate([change[:1], change]) if n > 1 else np.zeros(1),
        "place": np.full(n, float(clip.is_place)),
        "house_area": clip.house_area,
        "ground_edges": ground,
    }
    assert tuple(scalars) == SCALARS
    out.update({k: np.asarray(v, np.float32) for k, v in scalars.items()})
    return out


def clip_features(clip: Clip) -> dict[str, np.ndarray]:
    """One clip's features ``{name: array (...)}`` float32, frames pooled by :func:`hrf_weights`."""
    w = hrf_weights(clip.times, clip.duration)
    frames = frame_features(clip)
    return {k: np.tensordot(w, v, axes=(0, 0)).astype(np.float32) for k, v in frames.items()}


def stack(per_clip: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Stack clips' features: ``{name: (n_videos, ...)}``."""
    return {k: np.stack([f[k] for f in per_clip]) for k in per_clip[0]}
