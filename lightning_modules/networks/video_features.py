"""The video backbones' read-out: per-frame features of several layers of a 3-D network, pooled over
space and kept over time (each input frame given the step whose window it falls in; see
:mod:`lightning_modules.networks.video_backbones` for why)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

KINETICS_MEAN = (0.43216, 0.394666, 0.37645)
KINETICS_STD = (0.22803, 0.22145, 0.216989)


class VideoFeatureExtractor(nn.Module):
    """Per-frame features of several layers of a video network, pooled over space.

    Parameters
    ----------
    model : nn.Module
        Has ``forward_intermediates(x, indices, intermediates_only=True)`` taking a clip
        ``(n, 3, T, H, W)`` and returning the requested maps ``(n, C, T', H', W')``, and
        ``feature_info`` (a trunk above, or an inflated timm network).
    layers : list of int
        Non-negative level indices, in the order the outputs are returned.
    pool_grid : int
        1: average over space; g > 1: adaptive average to a g x g grid per time step.
    mean, std : 3-tuples
        Normalisation the network expects (applied by the caller).
    input_size : tuple
        ``(T, 3, H, W)``: the clip the network is probed with (and built for, where it is fixed).
    clip_len, frame_rate
        The clips the pretrained weights were trained on (documentation; see the module docstring).

    ``consumes_clips`` tells ``VideoEncoder`` to hand it whole clips rather than frames.
    """

    consumes_clips = True

    def __init__(self, model, layers, pool_grid=1, mean=KINETICS_MEAN, std=KINETICS_STD,
                 input_size=(16, 3, 112, 112), layer_names=None, clip_len=None, frame_rate=None):
        super().__init__()
        if pool_grid < 1:
            raise ValueError(f"pool_grid must be >= 1, got {pool_grid}")
        self.model = model
        self.layers = list(layers)
        self.layer_names = list(layer_names or [str(i) for i in self.layers])
        self.pool_grid = int(pool_grid)
        self.mean, self.std = tuple(mean), tuple(std)
        self.input_size = tuple(input_size)
        self.clip_len, self.frame_rate = clip_len, frame_rate
        self._order = sorted(range(len(self.layers)), key=lambda k: self.layers[k])
        was_training = model.training
        model.eval()
        with torch.no_grad():
            self.feature_dims = [f.shape[2] for f in self(torch.zeros(1, *self.input_size))]
        model.train(was_training)

    def _pool(self, fmap: torch.Tensor, n_frames: int) -> torch.Tensor:
        """``(n, C, T', H', W')`` -> ``(n, n_frames, C * pool_grid**2)``, each frame given its step."""
        if fmap.ndim != 5:
            raise ValueError(f"expected (n, C, T, H, W) feature maps, got shape {tuple(fmap.shape)}")
        steps = fmap.shape[2]
        if self.pool_grid == 1:
            pooled = fmap.mean(dim=(3, 4)).transpose(1, 2)
        else:
            grid = F.adaptive_avg_pool3d(fmap, (steps, self.pool_grid, self.pool_grid))
            pooled = grid.permute(0, 2, 1, 3, 4).flatten(2)
        if steps == n_frames:
            return pooled
        index = torch.arange(n_frames, device=fmap.device) * steps // n_frames
        return pooled.index_select(1, index)

    def forward(self, clips: torch.Tensor) -> list[torch.Tensor]:
        """``(n, T, 3, H, W)`` normalised -> list of ``(n, T, feature_dims[l])``."""
        if clips.ndim != 5:
            raise ValueError(f"expected clips (n, T, 3, H, W), got shape {tuple(clips.shape)}")
        maps = self.model.forward_intermediates(clips.transpose(1, 2), indices=sorted(self.layers),
                                                intermediates_only=True)
        out: list[torch.Tensor] = [None] * len(self.layers)  # type: ignore[list-item]
        for fmap, k in zip(maps, self._order, strict=True):
            out[k] = self._pool(fmap, clips.shape[1])
        return out
