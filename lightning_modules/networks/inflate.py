"""I3D inflation: an image network's ImageNet weights as a 3-D video network (Carreira & Zisserman, 2017).

Every 2-D convolution with a spatial kernel larger than 1 x 1 becomes a 3-D one whose kernel is
the 2-D kernel repeated over ``temporal_kernel`` frames and divided by ``temporal_kernel`` (1 x 1
convolutions stay 1 frame deep, as in I3D's Inception); temporal stride 1, so a clip of ``T``
frames keeps ``T`` steps at every layer. Time is padded by repeating the first and last frame
(not with zeros), so a clip whose frames are all equal gives, at every time step (edges
included), the 2-D network's features of that frame, to float32 rounding. BatchNorm layers keep
their weights and running statistics and normalise over batch, time and space (the frames of a
clip are the images of the 2-D network's batch); activations act elementwise; max/average
pooling acts frame by frame.

Fine-tuning can then learn motion from pretrained weights that ship with the package
(``inflated/tf_efficientnet_lite0``), or from a timm ResNet's weights in the local cache
(``inflated/resnet18``, ``inflated/resnet50``).

The inflated network keeps timm's module names (a BatchNorm ``bn1`` becomes ``bn1.module``) and
``group_matcher``, so ``layer_lr_decay`` and ``train_last_blocks`` work as for the 2-D one.
"""

from __future__ import annotations

import timm
import torch
import torch.nn.functional as F
from timm.layers import DropPath, SelectAdaptivePool2d
from timm.layers.padding import pad_same
from timm.models.efficientnet import EfficientNet
from timm.models.resnet import BasicBlock, Bottleneck, ResNet
from torch import nn

from lightning_modules.networks.backbones import (
    _normalise_layers,
    _supports_intermediates,
    create_timm_model,
)
from lightning_modules.networks.video_backbones import VideoFeatureExtractor

INFLATED_PREFIX = "inflated/"

# Blocks whose forward only chains their children and adds residuals (no pooling over space
# or reshaping of their own), so they run on (B, C, T, H, W) once their children do.
_CHAINS = (nn.Sequential, nn.ModuleList, EfficientNet, ResNet, BasicBlock, Bottleneck,
           timm.models._efficientnet_blocks.DepthwiseSeparableConv,
           timm.models._efficientnet_blocks.InvertedResidual)
_ELEMENTWISE = (nn.Identity, nn.ReLU, nn.ReLU6, nn.SiLU, nn.GELU, nn.Hardswish, nn.Hardsigmoid, nn.Sigmoid,
                nn.LeakyReLU, nn.Dropout, DropPath)
# The classifier end of a timm network: pruned to Identity or never run by forward_intermediates.
_HEAD = (SelectAdaptivePool2d, nn.Linear, nn.Flatten, nn.AdaptiveAvgPool2d)


class InflatedConv3d(nn.Module):
    """A ``Conv2d`` (or timm's ``Conv2dSame``) inflated to ``(out, in/groups, k, kh, kw)``.

    Input and output ``(B, C, T, H, W)``; ``k`` frames with replicate padding of ``k // 2`` on
    each side, so ``T`` is kept. Spatial padding, stride, dilation and groups as the 2-D conv.
    """

    def __init__(self, conv: nn.Conv2d, temporal_kernel: int):
        super().__init__()
        if isinstance(conv.padding, str) or conv.padding_mode != "zeros":
            raise ValueError(f"inflate: a Conv2d with padding={conv.padding!r}, padding_mode={conv.padding_mode!r} "
                             "is not supported (integer zero padding or timm's Conv2dSame)")
        if temporal_kernel < 1 or temporal_kernel % 2 == 0:
            raise ValueError(f"temporal_kernel must be odd and >= 1 (centred in time), got {temporal_kernel}")
        k = temporal_kernel if max(conv.kernel_size) > 1 else 1
        weight = conv.weight.detach()
        self.weight = nn.Parameter(weight.unsqueeze(2).repeat(1, 1, k, 1, 1) / k)
        self.bias = None if conv.bias is None else nn.Parameter(conv.bias.detach().clone())
        self.temporal_pad = k // 2
        self.stride, self.dilation = (1, *conv.stride), (1, *conv.dilation)
        self.padding, self.groups = (0, *conv.padding), conv.groups
        self.same = isinstance(conv, timm.layers.Conv2dSame)  # TensorFlow "same": asymmetric, size-dependent

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.temporal_pad:
            p = self.temporal_pad
            x = torch.cat([x[:, :, :1].expand(-1, -1, p, -1, -1), x, x[:, :, -1:].expand(-1, -1, p, -1, -1)], dim=2)
        if self.same:
            x = pad_same(x, self.weight.shape[-2:], self.stride[1:], self.dilation[1:])
        return F.conv3d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class FoldTime(nn.Module):
    """Run a per-channel module (BatchNorm, with timm's fused activation) on ``(B, C, T, H, W)``
    as ``(B, C, T*H, W)``: the same statistics over batch, time and space, no copy."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = x.shape
        return self.module(x.reshape(b, c, t * h, w)).reshape(b, -1, t, h, w)


class PerFrame(nn.Module):
    """Run a 2-D module (a pooling) on each frame of ``(B, C, T, H, W)``."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t = x.shape[0], x.shape[2]
        y = self.module(x.transpose(1, 2).flatten(0, 1))
        return y.unflatten(0, (b, t)).transpose(1, 2)


def _converted(module: nn.Module, temporal_kernel: int, path: str) -> nn.Module:
    if isinstance(module, nn.Conv2d):
        return InflatedConv3d(module, temporal_kernel)
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        return FoldTime(module)
    if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
        return PerFrame(module)
    if isinstance(module, _ELEMENTWISE + _HEAD):
        return module
    if isinstance(module, _CHAINS):
        inflate_(module, temporal_kernel, path)
        return module
    raise ValueError(f"inflate: {path or 'the model'} is a {type(module).__name__}, which inflation does not know "
                     "how to run on clips (supported: timm EfficientNet-Lite/ResNet-style blocks of Conv2d, "
                     "BatchNorm, pooling and elementwise activations)")


def inflate_(model: nn.Module, temporal_kernel: int = 3, path: str = "") -> nn.Module:
    """Inflate ``model``'s children in place (see the module docstring); returns ``model``."""
    for name, child in model.named_children():
        where = f"{path}.{name}" if path else name
        new = _converted(child, temporal_kernel, where)
        if new is not child:
            setattr(model, name, new)
    return model


def build_inflated_backbone(name: str, pretrained: bool = False, checkpoint_path: str | None = None,
                            layers: list[int] | None = None, pool_grid: int = 1, image_size: int | None = None,
                            temporal_kernel: int = 3) -> VideoFeatureExtractor:
    """A ``VideoFeatureExtractor`` around timm image network ``name`` inflated to 3-D.

    Weights as ``backbones.create_timm_model`` (package-shipped for ``tf_efficientnet_lite0``,
    the local cache for others, or ``checkpoint_path`` in timm's 2-D names), loaded before
    inflation. Levels and ``layers`` as the 2-D backbone's (``feature_info``); the output keeps
    every frame (no temporal stride).
    """
    model = create_timm_model(name, pretrained, checkpoint_path, image_size)
    if not _supports_intermediates(model):
        raise ValueError(f"model.backbone.name: {INFLATED_PREFIX}{name}: timm's {name} has no forward_intermediates")
    data_config = timm.data.resolve_model_data_config(model)
    size = image_size or data_config["input_size"][-1]
    layers = _normalise_layers(layers, len(model.feature_info))
    names = [model.feature_info[i]["module"] for i in layers]
    model.prune_intermediate_layers(sorted(layers), prune_norm=True, prune_head=True)
    inflate_(model, temporal_kernel)
    return VideoFeatureExtractor(model, layers, pool_grid, data_config["mean"], data_config["std"],
                                 (8, 3, size, size), names)
