"""Trunks of torchvision's video classifiers: their levels, read out as ``(B, C, T', H', W')`` maps.

:mod:`lightning_modules.networks.video_backbones` picks the trunk of a model's family
(``VIDEO_MODELS``) and hands it to :class:`~lightning_modules.networks.video_features.VideoFeatureExtractor`.
"""

from __future__ import annotations

from torch import nn

# --------------------------------------------------------------------------- trunks
# Each trunk holds the torchvision model's modules under torchvision's own names (up to the
# deepest read-out level, so every parameter gets a gradient), lists its levels in
# ``feature_info`` and returns the maps of the requested ones as (B, C, T', H', W').


def _keep(keep: list[int] | None, n_levels: int) -> int:
    return max(keep) if keep else n_levels - 1


class VideoResNetTrunk(nn.Module):
    """``r3d_18`` / ``mc3_18`` / ``r2plus1d_18``. Levels: stem, layer1..layer4 (as timm's ResNets)."""

    LEVELS = ("stem", "layer1", "layer2", "layer3", "layer4")

    def __init__(self, model: nn.Module, keep: list[int] | None = None):
        super().__init__()
        self.feature_info = [{"module": n} for n in self.LEVELS]
        for name in self.LEVELS[: _keep(keep, len(self.LEVELS)) + 1]:
            self.add_module(name, getattr(model, name))

    def forward_intermediates(self, x, indices, intermediates_only=True):
        wanted, out = set(indices), []
        for i, name in enumerate(self.LEVELS[: max(indices) + 1]):
            x = getattr(self, name)(x)
            if i in wanted:
                out.append(x)
        return out

    def group_matcher(self, coarse: bool = False) -> dict:
        return {"stem": r"^stem", "blocks": r"^layer(\d+)\.(\d+)"}


class S3DTrunk(nn.Module):
    """``s3d``. Levels: each conv / inception module of ``features`` (its max-pools belong to the
    level after them): 12 levels."""

    def __init__(self, model: nn.Module, keep: list[int] | None = None):
        super().__init__()
        self._ends = [i for i, m in enumerate(model.features) if not isinstance(m, nn.MaxPool3d)]
        self.feature_info = [{"module": f"features.{i}"} for i in self._ends]
        self.features = model.features[: self._ends[_keep(keep, len(self._ends))] + 1]

    def forward_intermediates(self, x, indices, intermediates_only=True):
        wanted, out = {self._ends[i] for i in indices}, []
        for i in range(self._ends[max(indices)] + 1):
            x = self.features[i](x)
            if i in wanted:
                out.append(x)
        return out

    def group_matcher(self, coarse: bool = False) -> dict:
        return {"blocks": r"^features\.(\d+)"}


class MViTTrunk(nn.Module):
    """``mvit_v1_b`` / ``mvit_v2_s``. Levels: each transformer block (class token dropped from the maps)."""

    def __init__(self, model: nn.Module, arch: str, keep: list[int] | None = None):
        super().__init__()
        self.arch = arch
        self.feature_info = [{"module": f"blocks.{i}"} for i in range(len(model.blocks))]
        self.conv_proj, self.pos_encoding = model.conv_proj, model.pos_encoding
        self.blocks = model.blocks[: _keep(keep, len(model.blocks)) + 1]

    def forward_intermediates(self, x, indices, intermediates_only=True):
        x = self.conv_proj(x)
        thw = tuple(x.shape[2:])
        built = (self.pos_encoding.temporal_size, *self.pos_encoding.spatial_size)
        if thw != built:
            t, h = built[0] * self.conv_proj.stride[0], built[1] * self.conv_proj.stride[1]
            raise ValueError(f"{self.arch} is built for clips of {t} frames of {h} px (its position tables); "
                             f"set data.num_frames: {t} and data.image_size to the model's image size")
        x = self.pos_encoding(x.flatten(2).transpose(1, 2))
        wanted, out = set(indices), []
        for i in range(max(indices) + 1):
            x, thw = self.blocks[i](x, thw)
            if i in wanted:  # (B, 1 + T*H*W, C) -> (B, C, T, H, W)
                out.append(x[:, 1:].transpose(1, 2).reshape(x.shape[0], x.shape[2], *thw))
        return out

    def group_matcher(self, coarse: bool = False) -> dict:
        return {"stem": r"^conv_proj|^pos_encoding", "blocks": r"^blocks\.(\d+)"}


class Swin3DTrunk(nn.Module):
    """``swin3d_t/s/b``. Levels: the four stages (each patch merging belongs to the stage after it)."""

    def __init__(self, model: nn.Module, keep: list[int] | None = None):
        super().__init__()
        self._ends = [i for i, m in enumerate(model.features) if isinstance(m, nn.Sequential)]
        self.feature_info = [{"module": f"features.{i}"} for i in self._ends]
        self.patch_embed, self.pos_drop = model.patch_embed, model.pos_drop
        self.features = model.features[: self._ends[_keep(keep, len(self._ends))] + 1]

    def forward_intermediates(self, x, indices, intermediates_only=True):
        x = self.pos_drop(self.patch_embed(x))  # (B, T, H, W, C)
        wanted, out = {self._ends[i] for i in indices}, []
        for i in range(self._ends[max(indices)] + 1):
            x = self.features[i](x)
            if i in wanted:
                out.append(x.permute(0, 4, 1, 2, 3))
        return out

    def group_matcher(self, coarse: bool = False) -> dict:
        return {"stem": r"^patch_embed",
                "blocks": [(r"^features\.(\d+)\.(\d+)\.", None), (r"^features\.(\d+)\.(?:reduction|norm)", (0,))]}


def _trunk(family: str, model: nn.Module, arch: str, keep: list[int] | None) -> nn.Module:
    if family == "resnet":
        return VideoResNetTrunk(model, keep)
    if family == "s3d":
        return S3DTrunk(model, keep)
    if family == "mvit":
        return MViTTrunk(model, arch, keep)
    return Swin3DTrunk(model, keep)
