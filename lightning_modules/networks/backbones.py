"""Image backbones that read pooled features from several layers of a network.

``build_backbone`` wraps any timm model, or a torchvision AlexNet/VGG through a
small adapter, into a ``FrameFeatureExtractor``: frames in, one pooled feature
vector per requested layer out. Layer indices count the model's feature
hierarchy (``feature_info`` in timm: the stem and each stage of a CNN, each
block of a ViT); negative indices count from the end. The extractor is
:mod:`~lightning_modules.networks.frame_features`'s, timm model creation
:mod:`~lightning_modules.networks.timm_models`'s, the torchvision adapter
:mod:`~lightning_modules.networks.torchvision_images`'s.
"""

from __future__ import annotations

import timm
from torch import nn

from lightning_modules.networks.frame_features import (  # noqa: F401 (re-exported)
    IMAGENET_MEAN,
    IMAGENET_STD,
    FrameFeatureExtractor,
    _normalise_layers,
)
from lightning_modules.networks.timm_models import create_timm_model
from lightning_modules.networks.torchvision_images import TorchvisionFeatures, _build_torchvision  # noqa: F401
from lightning_modules.networks.vonenet import attach_vone_frontend

TORCHVISION_PREFIX = "torchvision/"


def _supports_intermediates(model: nn.Module) -> bool:
    return hasattr(model, "forward_intermediates") and hasattr(model, "feature_info")


def build_backbone(
    name: str,
    pretrained: bool = False,
    checkpoint_path: str | None = None,
    layers: list[int] | None = None,
    pool_grid: int = 1,
    vone_frontend: bool = False,
    image_size: int | None = None,
) -> FrameFeatureExtractor:
    """Build a multi-layer frame feature extractor.

    Parameters
    ----------
    name : str
        A timm model name (``resnet50``, ``vit_base_patch16_224``, ...),
        ``torchvision/<arch>`` for torchvision's AlexNet/VGG family, or a video backbone
        (a ``VideoFeatureExtractor``, which reads whole clips): ``torchvision/<video arch>``
        (``r3d_18``, ``r2plus1d_18``, ``s3d``, ``mvit_v2_s``, ``swin3d_t``, ...; see
        ``video_backbones``) or ``inflated/<timm name>`` (an image network inflated to 3-D,
        see ``inflate``).
    pretrained : bool
        ImageNet weights: from a pip package for the models in ``PACKAGE_WEIGHTS``
        (``tf_efficientnet_lite0/1/2``), otherwise timm's (local cache or download; see
        ``create_timm_model``), or torchvision's ``DEFAULT`` weights enum.
    checkpoint_path : str, optional
        A state-dict file loaded into the model instead, with ``weights_only=True``, in timm's
        naming or EfficientNet-PyTorch's, checked tensor by tensor.
    layers : list of int, optional
        Feature-hierarchy indices to read (default: the last level).
    pool_grid : int
        Spatial pooling: 1 = global average, g = g x g adaptive average grid
        (feature dims grow by g**2).
    vone_frontend : bool
        Replace the stem with a VOneNet block (timm ResNets only), see ``vonenet``.
    image_size : int, optional
        Frame size the model is built for (``img_size`` for ViT-like timm models);
        default: the model's own input size.
    """
    if name.startswith((TORCHVISION_PREFIX, "inflated/")):  # video backbones: networks/video_backbones.py
        from lightning_modules.networks.inflate import INFLATED_PREFIX, build_inflated_backbone
        from lightning_modules.networks.video_backbones import build_video_backbone, is_video_model

        arch = name.split("/", 1)[1]
        if (name.startswith(INFLATED_PREFIX) or is_video_model(arch)) and vone_frontend:
            raise ValueError("vone_frontend supports timm ResNets, not video backbones")
        if name.startswith(INFLATED_PREFIX):
            return build_inflated_backbone(arch, pretrained, checkpoint_path, layers, pool_grid, image_size)
        if is_video_model(arch):
            return build_video_backbone(arch, pretrained, checkpoint_path, layers, pool_grid, image_size)
    if name.startswith(TORCHVISION_PREFIX):
        if vone_frontend:
            raise ValueError("vone_frontend supports timm ResNets, not torchvision models")
        return _build_torchvision(
            name[len(TORCHVISION_PREFIX):], pretrained, checkpoint_path, layers, pool_grid,
            image_size,
        )
    model = create_timm_model(name, pretrained, checkpoint_path, image_size)
    data_config = timm.data.resolve_model_data_config(model)
    input_size = (3, image_size, image_size) if image_size else tuple(data_config["input_size"])
    n_levels = len(model.feature_info)
    layers = _normalise_layers(layers, n_levels)
    names = [model.feature_info[i]["module"] for i in layers]
    features_only = not _supports_intermediates(model)
    if features_only:
        model = create_timm_model(name, pretrained, checkpoint_path, image_size, features_only=True,
                                  out_indices=tuple(sorted(layers)))
    if vone_frontend:
        attach_vone_frontend(model, image_size=input_size[-1])
    if not features_only and hasattr(model, "prune_intermediate_layers"):
        # Drop the classifier and any block past the deepest read-out (e.g. the ViT
        # final norm, unused with norm=False) so no parameter goes without a gradient.
        model.prune_intermediate_layers(sorted(layers), prune_norm=True, prune_head=True)
    return FrameFeatureExtractor(
        model, layers, pool_grid, data_config["mean"], data_config["std"], input_size, names,
        features_only=features_only,
    )
