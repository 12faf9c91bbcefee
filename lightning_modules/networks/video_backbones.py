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
The data module reads clips that way with ``data.frame_sampling: consecutive`` and
``data.frame_rate: <frame_rate>`` (``data.num_frames: <clip_len>``, or fewer where a clip is
shorter than ``clip_len`` frames at that rate: S3D's 128 frames are 8.5 s), as the
``configs/video_*.yaml`` recipes do (``tests/test_frame_sampling.py`` checks them against this
table). Its default, frames spread evenly over each clip (the Algonauts dev-kit convention), gives
a 3 s clip's 16 frames ~5 per second, a third of ``r3d_18``'s 15: the networks accept that, and
their motion filters then see larger steps than they were trained on.

The trunks (each family's levels) are :mod:`~lightning_modules.networks.video_trunks`'s, the
read-out :mod:`~lightning_modules.networks.video_features`'s; this module holds the model table
and builds the extractor.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torchvision
from torch import nn

from lightning_modules.networks.frame_features import _normalise_layers
from lightning_modules.networks.package_weights import load_checked
from lightning_modules.networks.video_features import (
    KINETICS_MEAN,
    KINETICS_STD,
    VideoFeatureExtractor,
)
from lightning_modules.networks.video_trunks import _trunk


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
