"""Linear voxel heads for every subject and region, as one matmul per layer.

For voxel ``v`` in group ``g(v)`` (one subject's region) and layers ``l``::

    y[:, v] = b[v] + sum_l gain[g(v), l] * (f_l @ W_l)[:, v]
    gain    = n_layers * softmax(mix_logits, dim=1)       (n_groups, n_layers)

Each group's linear map is the column block of ``W_l`` at its voxels; the gains
let a region weight the layers it prefers (zero logits: gain 1 for every layer).
"""

from __future__ import annotations

import torch
from torch import nn

from scoring.layout import TargetLayout


class VoxelHeads(nn.Module):
    """Per-(subject, region) linear read-out from multi-layer features.

    Parameters
    ----------
    feature_dims : list of int
        Size of each layer's feature vector.
    layout : TargetLayout
        Voxel groups in the flat target vector, ``n_voxels`` in all.
    init_std : float
        Standard deviation of the initial weights (biases and logits start at 0).

    Attributes
    ----------
    weights : ParameterList of ``(feature_dims[l], n_voxels)``
    bias : Parameter ``(n_voxels,)``
    mix_logits : Parameter ``(n_groups, n_layers)``
    """

    def __init__(self, feature_dims: list[int], layout: TargetLayout, init_std: float = 0.01):
        super().__init__()
        if not feature_dims:
            raise ValueError("feature_dims is empty")
        self.feature_dims = [int(d) for d in feature_dims]
        self.layout = layout
        n_vox = layout.n_voxels
        self.weights = nn.ParameterList(
            nn.Parameter(torch.randn(d, n_vox) * init_std) for d in self.feature_dims
        )
        self.bias = nn.Parameter(torch.zeros(n_vox))
        self.mix_logits = nn.Parameter(torch.zeros(layout.n_groups, len(self.feature_dims)))
        self.register_buffer("group_index", layout.group_index(), persistent=False)

    @property
    def n_layers(self) -> int:
        return len(self.feature_dims)

    def layer_gains(self) -> torch.Tensor:
        """Per-group layer gains ``n_layers * softmax(mix_logits)``: ``(n_groups, n_layers)``."""
        return self.n_layers * torch.softmax(self.mix_logits, dim=1)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        """``features[l]`` of shape ``(batch, feature_dims[l])`` -> ``(batch, n_voxels)``."""
        if len(features) != self.n_layers:
            raise ValueError(f"expected {self.n_layers} feature tensors, got {len(features)}")
        voxel_gains = self.layer_gains()[self.group_index]  # (n_voxels, n_layers)
        out = self.bias
        for i, (f, w) in enumerate(zip(features, self.weights, strict=True)):
            out = out + (f @ w) * voxel_gains[:, i]
        return out

    @torch.no_grad()
    def load_linear(self, coef: torch.Tensor, intercept: torch.Tensor) -> None:
        """Set the heads to ``concat(features) @ coef + intercept``.

        ``coef`` is ``(sum(feature_dims), n_voxels)`` with rows in layer order,
        ``intercept`` is ``(n_voxels,)``. Layer gains are reset to 1.
        """
        n_vox = self.layout.n_voxels
        if tuple(coef.shape) != (sum(self.feature_dims), n_vox):
            raise ValueError(
                f"coef must be ({sum(self.feature_dims)}, {n_vox}), got {tuple(coef.shape)}"
            )
        if tuple(intercept.shape) != (n_vox,):
            raise ValueError(f"intercept must be ({n_vox},), got {tuple(intercept.shape)}")
        for w, block in zip(self.weights, torch.split(coef, self.feature_dims, dim=0), strict=True):
            w.copy_(block)
        self.bias.copy_(intercept)
        self.mix_logits.zero_()
