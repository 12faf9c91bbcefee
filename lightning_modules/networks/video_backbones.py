"""Video backbones: 3-D networks that read a whole clip, with the image backbones' multi-layer read-out.

``build_video_backbone`` wraps one of torchvision's video classifiers (``r3d_18``, ``mc3_18``,
``r2plus1d_18``, ``s3d``, ``mvit_v1_b``, ``mvit_v2_s``, ``swin3d_t/s/b``; config name
``torchvision/<arch>``) into a ``VideoFeatureExtractor``: a clip in, one feature vector per
frame and requested layer out, pooled over space and kept over time, so the temporal stages
(``networks/temporal.py``) pool it exactly as they pool an image backbone's per-frame features.
``inflate.py`` builds the same extractor around an image network inflated to 3-D.

Time. A video network strides over time (``r3d_18`` halves it at layer2, 3 and 4; ``s3d`` at
its first conv and two max-pools; the transformers at the patch embedding), so a layer has
``T_out <= T`` steps. Each of the ``T`` input frames is given the features of the step whose
window it falls in (nearest-neighbour upsampling, step ``floor(t * T_out / T)``): the output
always has ``T = data.num_frames`` rows, and with ``T`` a multiple of ``T_out`` the mean over
frames (the ridge baseline's features, ``temporal.kind: mean``) equals the mean over steps.

Frames. The Kinetics-400 weights were trained on ``clip_len`` consecutive frames at
``frame_rate`` frames per second (``VIDEO_MODELS``), normalised with ``mean``/``std`` (the
extractor carries them, as ``FrameFeatureExtractor`` does, and the encoder applies them).
The data module samples ``data.num_frames`` frames spread evenly over each clip (the Algonauts
dev-kit convention): for a 3 s clip, 16 frames are ~5 per second, a third of ``r3d_18``'s 15.
The networks accept that; their motion filters then see larger steps than they were trained on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from lightning_modules.networks.backbones import _normalise_layers
from lightning_modules.networks.package_weights import load_checked

KINETICS_MEAN = (0.43216, 0.394666, 0.37645)
KINETICS_STD = (0.22803, 0.22145, 0.216989)


@dataclass(frozen=True)
class VideoModel:
    """What one torchvision video model expects: its trunk adapter, normalisation and clips.

    ``clip_len`` frames at ``frame_rate`` fps: the clips torchvision's Kinetics-400 weights were
    evaluated on (the weights' documentation). ``crop``: their frame side. ``fixed_clip``: the
    network is built for exactly ``clip_len`` frames (MViT's position tables).
    """

    family: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    clip_len: int
    frame_rate: float
    crop: int
    fixed_clip: bool = False


_MVIT_MEAN, _MVIT_STD = (0.45, 0.45, 0.45), (0.225, 0.225, 0.225)
_IMAGENET_MEAN, _IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)

VIDEO_MODELS: dict[str, VideoModel] = {
    "r3d_18": VideoModel("resnet", KINETICS_MEAN, KINETICS_STD, 16, 15, 112),
    "mc3_18": VideoModel("resnet", KINETICS_MEAN, KINETICS_STD, 16, 15, 112),
    "r2plus1d_18": VideoModel("resnet", KINETICS_MEAN, KINETICS_STD, 16, 15, 112),
    "s3d": VideoModel("s3d", KINETICS_MEAN, KINETICS_STD, 128, 15, 224),
    "mvit_v1_b": VideoModel("mvit", _MVIT_MEAN, _MVIT_STD, 16, 7.5, 224, fixed_clip=True),
    "mvit_v2_s": VideoModel("mvit", _MVIT_MEAN, _MVIT_STD, 16, 7.5, 224, fixed_clip=True),
    "swin3d_t": VideoModel("swin", _IMAGENET_MEAN, _IMAGENET_STD, 32, 15, 224),
    "swin3d_s": VideoModel("swin", _IMAGENET_MEAN, _IMAGENET_STD, 32, 15, 224),
    "swin3d_b": VideoModel("swin", _IMAGENET_MEAN, _IMAGENET_STD, 32, 15, 224),
}


def is_video_model(arch: str) -> bool:
    return arch in VIDEO_MODELS


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


# ------------------------------------------------------------------------ extractor


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


def torchvision_state_dict(arch: str) -> dict[str, torch.Tensor]:
    """torchvision's Kinetics-400 weights of ``arch``, from the local cache (or downloaded)."""
    from lightning_modules.networks.weights_cache import torchvision_weights

    return torch.load(torchvision_weights(arch), map_location="cpu", weights_only=True)


def create_torchvision_video(arch: str, pretrained: bool = False, checkpoint_path: str | None = None,
                             image_size: int | None = None) -> nn.Module:
    """The whole torchvision video classifier ``arch`` with the weights asked for.

    ``checkpoint_path``: a state-dict file in torchvision's key names, checked tensor by tensor;
    ``pretrained``: torchvision's ``DEFAULT`` (Kinetics-400) weights from the local torch hub cache
    (``$TORCH_HOME/hub/checkpoints``, filled by ``scripts/fetch_weights.py``) or downloaded.
    """
    spec = VIDEO_MODELS[arch]
    if spec.fixed_clip and image_size not in (None, spec.crop):  # torchvision builds MViTs for 224 px only
        raise ValueError(f"{arch} is built for {spec.crop} px frames only: set data.image_size: {spec.crop}")
    model = torchvision.models.get_model(arch, weights=None)
    if checkpoint_path:
        if not Path(checkpoint_path).is_file():
            raise FileNotFoundError(f"model.backbone.checkpoint_path: {checkpoint_path} is not a file")
        load_checked(model, torch.load(checkpoint_path, map_location="cpu", weights_only=True), str(checkpoint_path))
    elif pretrained:
        load_checked(model, torchvision_state_dict(arch), f"torchvision's {arch} weights")
    return model


def build_video_backbone(arch: str, pretrained: bool = False, checkpoint_path: str | None = None,
                         layers: list[int] | None = None, pool_grid: int = 1,
                         image_size: int | None = None) -> VideoFeatureExtractor:
    """A ``VideoFeatureExtractor`` around torchvision video model ``arch`` (see ``VIDEO_MODELS``).

    ``layers`` index the trunk's levels (``VideoResNetTrunk.LEVELS`` etc.), negative from the end;
    ``image_size`` defaults to the weights' crop. The probe clip has ``clip_len`` frames
    (for MViT: the only length it takes), else 8 (any length works).
    """
    if arch not in VIDEO_MODELS:
        raise ValueError(f"model.backbone.name: torchvision/{arch} is not a torchvision video model; "
                         f"known: {', '.join(VIDEO_MODELS)}")
    spec = VIDEO_MODELS[arch]
    model = create_torchvision_video(arch, pretrained, checkpoint_path, image_size)
    n_levels = len(_trunk(spec.family, model, arch, None).feature_info)
    layers = _normalise_layers(layers, n_levels)
    trunk = _trunk(spec.family, model, arch, layers)
    size = image_size or spec.crop
    frames = spec.clip_len if spec.fixed_clip else 8
    return VideoFeatureExtractor(trunk, layers, pool_grid, spec.mean, spec.std, (frames, 3, size, size),
                                 [trunk.feature_info[i]["module"] for i in layers], spec.clip_len, spec.frame_rate)
