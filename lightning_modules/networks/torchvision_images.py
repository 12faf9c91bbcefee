"""torchvision's AlexNet/VGG family as image backbones: their ReLUs as a feature hierarchy."""

from __future__ import annotations

import torch
import torchvision
from torch import nn

from lightning_modules.networks.frame_features import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    FrameFeatureExtractor,
    _normalise_layers,
)
from lightning_modules.networks.package_weights import load_checked


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
