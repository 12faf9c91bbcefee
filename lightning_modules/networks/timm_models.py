"""Whole timm models with the weights asked for (a checkpoint file, a pip package's, timm's cache),
and no network needed; :mod:`lightning_modules.networks.backbones` reads features out of them."""

from __future__ import annotations

from pathlib import Path

import timm
from torch import nn

from lightning_modules.networks.package_weights import (
    PACKAGE_WEIGHTS,
    load_checked,
    load_package_weights,
)
from lightning_modules.networks.weights_cache import create_pretrained


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
