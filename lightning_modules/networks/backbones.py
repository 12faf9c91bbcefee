"""Image backbones that read pooled features from several layers of a network.

``build_backbone`` wraps any timm model, or a torchvision AlexNet/VGG through a
small adapter, into a ``FrameFeatureExtractor``: frames in, one pooled feature
vector per requested layer out. Layer indices count the model's feature
hierarchy (``feature_info`` in timm: the stem and each stage of a CNN, each
block of a ViT); negative indices count from the end.
"""

from __future__ import annotations

from pathlib import Path

import timm
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from lightning_modules.networks.package_weights import (
    PACKAGE_WEIGHTS,
    load_checked,
    load_package_weights,
)
from lightning_modules.networks.vonenet import attach_vone_frontend
from lightning_modules.networks.weights_cache import create_pretrained

TORCHVISION_PREFIX = "torchvision/"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class TorchvisionFeatures(nn.Module):
    """Feature hierarchy of a torchvision ``features``/``avgpool``/``classifier`` net.

    Levels, in order: every ``ReLU`` of ``features`` (or the ``MaxPool2d`` right
    after it), then every ``ReLU`` of ``classifier``. For AlexNet that is
    conv1..conv5 (conv1, conv2, conv5 after their max-pool, as in the Algonauts
    devkit) then fc6, fc7: 7 levels. The logits are not a level. Modules past the
    last requested level are dropped, so no parameter goes unused.
    """

    def __init__(self, model: nn.Module, keep: list[int] | None = None):
        super().__init__()
        parts = {n: getattr(model, n, None) for n in ("features", "avgpool", "classifier")}
        if not all(isinstance(p, nn.Module) for p in parts.values()) or not isinstance(
            parts["features"], nn.Sequential
        ):
            raise ValueError(
                f"the torchvision adapter needs a model with features/avgpool/classifier "
                f"Sequentials (AlexNet, VGG); got {type(model).__name__}. Use timm for others."
            )
        taps: list[tuple[str, int]] = []
        for part in ("features", "classifier"):
            mods = list(parts[part])
            for i, m in enumerate(mods):
                if isinstance(m, nn.ReLU):
                    pooled = part == "features" and i + 1 < len(mods)
                    pooled = pooled and isinstance(mods[i + 1], nn.MaxPool2d)
                    taps.append((part, i + 1 if pooled else i))
        if not taps:
            raise ValueError(f"no ReLU layers found in {type(model).__name__}")
        self.feature_info = [{"module": f"{p}.{i}"} for p, i in taps]
        self._taps = taps
        last_part, last_i = taps[max(keep) if keep else -1]
        if last_part == "features":
            self.features = parts["features"][: last_i + 1]
            self.avgpool, self.classifier = nn.Identity(), nn.Sequential()
        else:
            self.features, self.avgpool = parts["features"], parts["avgpool"]
            self.classifier = parts["classifier"][: last_i + 1]

    def forward_intermediates(self, x, indices, intermediates_only=True):
        """``(n, 3, H, W)`` -> maps of the levels in ``indices``, in hierarchy order."""
        wanted = {self._taps[i] for i in indices}
        out = []
        for part in ("features", "classifier"):
            if part == "classifier":
                if len(self.classifier) == 0:
                    break
                x = torch.flatten(self.avgpool(x), 1)
            for i, m in enumerate(getattr(self, part)):
                x = m(x)
                if (part, i) in wanted:
                    out.append(x)
        return out


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


def _supports_intermediates(model: nn.Module) -> bool:
    return hasattr(model, "forward_intermediates") and hasattr(model, "feature_info")


def _create_timm(name, image_size, factory=timm.create_model, **kwargs) -> nn.Module:
    if image_size is None:
        return factory(name, **kwargs)
    try:  # ViT-like models are built for one input size; CNNs take any
        return factory(name, img_size=image_size, **kwargs)
    except TypeError as e:
        if "img_size" not in str(e):
            raise
        return factory(name, **kwargs)


def create_timm_model(name: str, pretrained: bool = False, checkpoint_path: str | None = None,
                      image_size: int | None = None, **kwargs) -> nn.Module:
    """A whole timm model (classifier included) with the weights asked for, and no network needed.

    Weights, in order of precedence:

    - ``checkpoint_path``: a state dict file, read with ``weights_only=True``, in timm's key
      naming or a foreign one ``package_weights`` translates (EfficientNet-PyTorch), checked
      tensor by tensor (a key missing, left over, or of another shape stops naming the key);
    - ``pretrained`` for a model in ``package_weights.PACKAGE_WEIGHTS``: the file that ships
      in its pip package (EfficientNet-Lite0/1/2), checked the same way;
    - ``pretrained`` otherwise: timm's weights, from the local cache filled by
      ``scripts/fetch_weights.py`` or downloaded; with neither, ``WeightsUnavailableError``.

    ``kwargs`` go to ``timm.create_model`` (e.g. ``features_only=True``, whose truncated model
    does not use every tensor of a file).
    """
    allow_unexpected = bool(kwargs.get("features_only"))
    if checkpoint_path and Path(checkpoint_path).suffix in (".npz", ".npy"):  # timm's own formats
        return _create_timm(name, image_size, checkpoint_path=checkpoint_path, **kwargs)
    if checkpoint_path:
        if not Path(checkpoint_path).is_file():
            raise FileNotFoundError(f"model.backbone.checkpoint_path: {checkpoint_path} is not a file")
        model = _create_timm(name, image_size, **kwargs)
        load_checked(model, timm.models.load_state_dict(checkpoint_path, weights_only=True),
                     str(checkpoint_path), allow_unexpected)
        return model
    if pretrained and name in PACKAGE_WEIGHTS:
        model = _create_timm(name, image_size, **kwargs)
        load_package_weights(model, name, allow_unexpected)
        return model
    if pretrained:
        return _create_timm(name, image_size, factory=create_pretrained, **kwargs)
    return _create_timm(name, image_size, **kwargs)


def _build_torchvision(arch, pretrained, checkpoint_path, layers, pool_grid, image_size):
    model = torchvision.models.get_model(arch, weights="DEFAULT" if pretrained else None)
    if checkpoint_path:
        load_checked(model, torch.load(checkpoint_path, map_location="cpu", weights_only=True),
                     str(checkpoint_path))
    n_levels = len(TorchvisionFeatures(model).feature_info)
    layers = _normalise_layers(layers, n_levels)
    adapter = TorchvisionFeatures(model, keep=layers)
    size = image_size or 224
    return FrameFeatureExtractor(
        adapter, layers, pool_grid, IMAGENET_MEAN, IMAGENET_STD, (3, size, size),
        [adapter.feature_info[i]["module"] for i in layers],
    )


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
