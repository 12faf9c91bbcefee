"""The image backbones' read-out: pooled features of several layers of a network, per frame.

``FrameFeatureExtractor`` takes frames and returns one pooled feature vector per requested layer;
``_normalise_layers`` turns the requested hierarchy indices (negative from the end) into
non-negative ones. :mod:`lightning_modules.networks.backbones` builds it around a network.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class FrameFeatureExtractor(nn.Module):
    """Spatially pooled features of several layers of an image network.

    Parameters
    ----------
    model : nn.Module
        Has ``forward_intermediates(x, indices=..., intermediates_only=True)``, or
        (``features_only=True``) is a timm feature model returning the maps itself.
    layers : list of int
        Non-negative hierarchy indices, in the order the outputs are returned.
    pool_grid : int
        1: global average per channel; g > 1: adaptive average to a g x g grid.
    mean, std : 3-tuples
        Normalisation the network expects (applied by the caller, not here).
    input_size : tuple
        ``(3, H, W)`` the network was built for.
    features_only : bool
        ``model(x)`` already returns the requested maps.
    """

    def __init__(self, model, layers, pool_grid=1, mean=IMAGENET_MEAN, std=IMAGENET_STD,
                 input_size=(3, 224, 224), layer_names=None, features_only=False):
        super().__init__()
        if pool_grid < 1:
            raise ValueError(f"pool_grid must be >= 1, got {pool_grid}")
        self.model = model
        self.layers = list(layers)
        self.layer_names = list(layer_names or [str(i) for i in self.layers])
        self.pool_grid = int(pool_grid)
        self.mean, self.std = tuple(mean), tuple(std)
        self.input_size = tuple(input_size)
        self.features_only = features_only
        self._order = sorted(range(len(self.layers)), key=lambda k: self.layers[k])
        was_training = model.training
        model.eval()
        with torch.no_grad():
            dummy = torch.zeros(1, *self.input_size)
            self.feature_dims = [f.shape[1] for f in self(dummy)]
        model.train(was_training)

    def _pool(self, fmap: torch.Tensor) -> torch.Tensor:
        if fmap.ndim == 2:  # fully connected level: nothing to pool
            return fmap
        if fmap.ndim != 4:
            raise ValueError(f"expected NCHW feature maps, got shape {tuple(fmap.shape)}")
        if self.pool_grid == 1:
            return fmap.mean(dim=(2, 3))
        return F.adaptive_avg_pool2d(fmap, self.pool_grid).flatten(1)

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        """``(n_images, 3, H, W)`` normalised -> list of ``(n_images, feature_dims[l])``."""
        if self.features_only:
            maps = self.model(images)
        else:
            maps = self.model.forward_intermediates(
                images, indices=sorted(self.layers), intermediates_only=True
            )
        out: list[torch.Tensor] = [None] * len(self.layers)  # type: ignore[list-item]
        for fmap, k in zip(maps, self._order, strict=True):
            out[k] = self._pool(fmap)
        return out


def _normalise_layers(layers: list[int] | None, n_levels: int) -> list[int]:
    layers = [-1] if layers is None else list(layers)
    if not layers:
        raise ValueError("layers is empty")
    out = []
    for i in layers:
        if not -n_levels <= i < n_levels:
            raise ValueError(f"layer {i} out of range: this model has {n_levels} levels")
        out.append(i % n_levels)
    if len(set(out)) != len(out):
        raise ValueError(f"duplicate layers in {layers}")
    return out
