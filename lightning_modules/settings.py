"""The model's settings, in four typed groups: ``model.backbone``, ``model.temporal``,
``model.optimisation`` and ``model.ridge``.

Each group is a frozen dataclass, so LightningCLI reads it as a nested YAML section and
``train.py fit --help`` lists its fields (``--model.backbone.name`` ...). Checkpoints store the
groups as plain dicts (``weights_only=True`` still loads them). Checkpoints written before the
groups (flat keys such as ``backbone: resnet18``, ``lr``, ``ridge_pca``) are read through
:data:`FLAT_KEYS`; a config file with flat keys is refused by :func:`check_config_keys`, which
names the new key of each.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Literal

from lightning_modules.networks.temporal import TemporalKindName


@dataclass(frozen=True)
class BackboneSettings:
    """The frame network.

    Attributes
    ----------
    name : str
        A timm model name (``resnet18``, ``resnet50``, ``tf_efficientnet_lite0``,
        ``vit_base_patch16_224``, ...) or ``torchvision/alexnet``, ``torchvision/vgg16``.
    pretrained : bool
        Load the backbone's pretrained weights: from a pip package where one ships them
        (``tf_efficientnet_lite0``), else timm's (or torchvision's) download or local cache.
    checkpoint_path : str or None
        A local weights file for the backbone instead (offline machines, converted weights).
    layers : list of int or None
        Indices of the backbone's feature levels read out and concatenated (default: the last).
    pool_grid : int
        Each level is average-pooled to a ``pool_grid`` x ``pool_grid`` grid before the heads.
    vone_frontend : bool
        Put a fixed VOneNet Gabor front end ahead of a ResNet backbone.
    channels_last : bool
        Keep the backbone's weights and input frames in channels-last (NHWC) memory order. On a
        GPU, convolutional networks (ResNets, EfficientNets) run their bf16 convolutions faster
        so (no layout transposes around cuDNN's kernels); ViTs gain nothing. Same numbers
        either way (tested, within float rounding).
    compile : bool
        ``torch.compile`` the backbone (in place: checkpoint keys unchanged). Off by default: the
        first training step pays the compilation (74 s for a tiny ResNet-18 at 32 px on 2 busy CPU
        cores, against 0.1 s for an eager step; ``benchmarks/gpu_check.py`` measures ResNet-50 and
        Lite0 on a GPU), and again at each change the compiled graph depends on (the first
        validation, eval mode; unfreezing the backbone, gradients on). Worth it for long runs only.
    """

    name: str = "resnet18"
    pretrained: bool = False
    checkpoint_path: str | None = None
    layers: list[int] | None = None
    pool_grid: int = 1
    vone_frontend: bool = False
    channels_last: bool = False
    compile: bool = False


@dataclass(frozen=True)
class TemporalSettings:
    """How frames are pooled over time.

    Attributes
    ----------
    kind : {"mean", "weighted", "lstm"}
        The frames' mean, learned per-frame weights, or an LSTM (the table of kinds is
        ``lightning_modules.networks.temporal.TEMPORAL_KINDS``).
    lstm_hidden : int
        Hidden size of the LSTM (``kind: lstm``).
    bidirectional : bool
        Run the LSTM in both directions (``kind: lstm``).
    frame_diff : bool
        Also feed frame-to-frame feature differences to the temporal stage (for
        motion-driven regions).
    """

    kind: TemporalKindName = "mean"
    lstm_hidden: int = 512
    bidirectional: bool = False
    frame_diff: bool = False


@dataclass(frozen=True)
class OptimisationSettings:
    """The fine-tuning: AdamW, a warm-up then cosine schedule, and the backbone's freezing rules.

    Attributes
    ----------
    lr : float
        Peak learning rate of the heads and the temporal stage (AdamW).
    backbone_lr_scale : float
        The backbone's learning rate is ``lr * backbone_lr_scale`` once it trains.
    weight_decay : float
        AdamW weight decay.
    warmup_epochs : float
        Length of the linear learning-rate warm-up, in epochs; cosine decay follows.
    min_lr_ratio : float
        The cosine decay ends at ``min_lr_ratio * lr``.
    freeze_backbone_epochs : int
        The backbone is frozen for this many epochs at the start (0: never, -1: always).
    freeze_batchnorm : bool
        Keep the backbone's BatchNorm statistics fixed while fine-tuning (small batches of
        correlated frames make poor batch statistics, and switching a frozen backbone to
        batch statistics at unfreezing would shift the features the heads were fitted on).
    unfreeze_at_score : float or None
        If set, the backbone stays frozen until the validation ``val/score`` reaches it.
    mse_weight : float
        Weight of an MSE term added to the correlation loss (anchors the output scale).
    head_init_std : float
        Standard deviation of the heads' initial weights.
    layer_lr_decay : float or None
        Layer-wise learning-rate decay over the backbone's blocks (timm's block groups, counted
        from the deepest one the read-out layers reach): the deepest trains at
        ``lr * backbone_lr_scale``, each block below at ``layer_lr_decay`` times the one above.
        None: one rate for the whole backbone.
    train_last_blocks : int or None
        Once the backbone trains, only its last this-many blocks (as above) do; the blocks below
        stay as they were loaded. None: the whole backbone trains.
    """

    lr: float = 1e-3
    backbone_lr_scale: float = 0.1
    weight_decay: float = 1e-4
    warmup_epochs: float = 1.0
    min_lr_ratio: float = 0.01
    freeze_backbone_epochs: int = 1
    freeze_batchnorm: bool = True
    unfreeze_at_score: float | None = None
    mse_weight: float = 0.0
    head_init_std: float = 0.01
    layer_lr_decay: float | None = None
    train_last_blocks: int | None = None

    def __post_init__(self):
        """Refuse rates and scales out of range, naming each (a :class:`SettingsError`, which
        ``train.py`` prints as one ``error:`` line). torch checks only an optimiser's default rate,
        not the per-group rates set here, so a negative ``lr`` would climb the loss silently."""
        problems = [f"model.optimisation.{name}={value}: expected {what}"
                    for name, value, what in self._out_of_range()]
        if problems:
            raise SettingsError("; ".join(problems))

    def _out_of_range(self) -> list[tuple[str, object, str]]:
        """(setting, value, what it must be) for each setting out of its range (NaN and inf
        included); a setting that may be None is checked only when set."""
        frozen = "freeze_backbone_epochs: -1 keeps the backbone frozen"
        # setting: (lowest, whether the lowest itself is allowed, highest or None, what it must be)
        ranges = {
            "lr": (0, True, None, "a learning rate >= 0"),
            "backbone_lr_scale": (0, True, None, f"a factor >= 0 ({frozen})"),
            "weight_decay": (0, True, None, "a decay >= 0"),
            "warmup_epochs": (0, True, None, "a number of epochs >= 0"),
            "min_lr_ratio": (0, True, 1, "a ratio in [0, 1]"),
            "freeze_backbone_epochs": (-1, True, None, "epochs >= 0, or -1 (always frozen)"),
            "unfreeze_at_score": (-math.inf, False, None, "a finite score or None"),
            "mse_weight": (0, True, None, "a weight >= 0"),
            "head_init_std": (0, True, None, "a standard deviation >= 0"),
            "layer_lr_decay": (0, False, 1, "a factor in (0, 1]"),
            "train_last_blocks": (1, True, None, f"at least 1 ({frozen})"),
        }
        optional = ("unfreeze_at_score", "layer_lr_decay", "train_last_blocks")
        bad = []
        for name, (low, low_ok, high, what) in ranges.items():
            value = getattr(self, name)
            if value is None and name in optional:
                continue
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            if not (number and math.isfinite(value) and (value >= low if low_ok else value > low)
                    and (high is None or value <= high)):
                bad.append((name, value, what))
        return bad


@dataclass(frozen=True)
class RidgeSettings:
    """The closed-form ridge baseline on the frozen backbone's frame-averaged features.

    Attributes
    ----------
    fit : bool
        At the start of fitting, fit the ridge baseline on the training videos and log its
        validation scores beside the trained heads' at every validation (``val/ridge/score``,
        per subject and region).
    init_heads : bool
        Start the trainable heads from the ridge solution (a linear probe, then fine-tuning).
        Applies when the heads read frame-averaged features: temporal ``mean`` or ``weighted``
        (uniform at start) without ``frame_diff``; otherwise the heads start random.
    alphas : list of float or None
        The ridge penalties searched (default: 20 values from 1e-2 to 1e7, log-spaced).
    folds : int
        K of the K-fold cross-validation that chooses the penalty.
    alpha_per : {"voxel", "region"}
        "voxel": each voxel its own penalty (the field's usual choice); "region": one penalty
        per subject and region, the best mean CV score over its voxels (as the 2021 seed
        chose). With a few hundred videos per-voxel choices are noisy: in the accuracy study
        (BENCHMARKS.md) "region" scored higher on the test videos.
    pca : int or None
        Reduce the features to this many principal components before ridge (the 2021 seed
        used 100); None keeps them all.
    only : bool
        The ridge baseline alone: no gradient steps and no training batches; the heads are
        the ridge map (see ``configs/ridge_baseline.yaml``).
    banded : bool
        Also fit the baseline as banded ridge over the read-out layers (one band per layer, each
        voxel its own band weights and penalty by CV; ``alphas`` and ``folds`` as above, no PCA),
        logged as ``val/banded_ridge/score`` (per subject and region); the band weights go to
        ``band_weights.npz`` in the run folder (``report.py`` maps them). With ``init_heads`` (or
        ``only``) the heads start from the banded map instead of the single-band one.
    banded_motion : bool
        Add the frame-difference band ``motion`` (``mean_t |f[t+1] - f[t]|`` of every read-out layer).
        The heads can start from that map only with ``temporal.frame_diff``.
    banded_candidates : int
        Candidate band weightings searched per voxel (the one-hot corners, the uniform weights, then
        random draws on the simplex).
    """

    fit: bool = True
    init_heads: bool = True
    alphas: list[float] | None = None
    folds: int = 5
    alpha_per: Literal["voxel", "region"] = "voxel"
    pca: int | None = None
    only: bool = False
    banded: bool = False
    banded_motion: bool = False
    banded_candidates: int = 20


GROUPS: dict[str, type] = {"backbone": BackboneSettings, "temporal": TemporalSettings,
                           "optimisation": OptimisationSettings, "ridge": RidgeSettings}

#: Each flat model key written before the groups -> (group, field).
FLAT_KEYS: dict[str, tuple[str, str]] = {
    "backbone": ("backbone", "name"), "pretrained": ("backbone", "pretrained"),
    "checkpoint_path": ("backbone", "checkpoint_path"), "layers": ("backbone", "layers"),
    "pool_grid": ("backbone", "pool_grid"), "vone_frontend": ("backbone", "vone_frontend"),
    "temporal": ("temporal", "kind"), "lstm_hidden": ("temporal", "lstm_hidden"),
    "bidirectional": ("temporal", "bidirectional"), "frame_diff": ("temporal", "frame_diff"),
    **{name: ("optimisation", name) for name in ("lr", "backbone_lr_scale", "weight_decay", "warmup_epochs",
                                                  "min_lr_ratio", "freeze_backbone_epochs", "freeze_batchnorm",
                                                  "unfreeze_at_score", "mse_weight", "head_init_std")},
    "ridge": ("ridge", "fit"), "ridge_init_heads": ("ridge", "init_heads"), "ridge_alphas": ("ridge", "alphas"),
    "ridge_folds": ("ridge", "folds"), "ridge_alpha_per": ("ridge", "alpha_per"), "ridge_pca": ("ridge", "pca"),
    "ridge_only": ("ridge", "only"),
}


class SettingsError(ValueError):
    """Model settings that cannot be read (a flat pre-groups key, an unknown field)."""


def as_group(group: str, value) -> object:
    """A group's dataclass from itself, a dict of its fields (a checkpoint's), or None (defaults)."""
    cls = GROUPS[group]
    if value is None:
        return cls()
    if isinstance(value, cls):
        return value
    if isinstance(value, dict):
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(value) - known)
        if unknown:
            raise SettingsError(f"model.{group}: unknown setting(s) {', '.join(unknown)}; "
                                f"expected some of {', '.join(sorted(known))}")
        return cls(**value)
    raise SettingsError(f"model.{group}: expected its settings ({cls.__name__} or a dict), got {value!r}")


def plain(settings) -> dict:
    """A group as a plain dict (for checkpoints and summaries)."""
    return asdict(settings)


def grouped_hyperparameters(hparams: dict) -> dict:
    """A checkpoint's saved model arguments in today's grouped form.

    Already-grouped ones pass through; flat ones (before the groups) are moved into their groups
    by :data:`FLAT_KEYS`. Other keys (``voxel_counts``, ``num_frames``, ``image_size``) stay.
    """
    out, moved = {}, {}
    for key, value in hparams.items():
        if key in FLAT_KEYS and not (key in GROUPS and isinstance(value, dict)):
            group, field = FLAT_KEYS[key]
            moved.setdefault(group, {})[field] = value
        else:
            out[key] = value
    for group, values in moved.items():
        out[group] = {**(out.get(group) or {}), **values}
    return out


def check_config_keys(model_section: dict, where: str) -> None:
    """Refuse a config's ``model:`` section written with the flat keys of before the groups,
    naming the new key of each."""
    flat = [key for key, value in model_section.items()
            if key in FLAT_KEYS and not (key in GROUPS and isinstance(value, dict))]
    if flat:
        moves = "\n  ".join(f"model.{key} -> model.{'.'.join(FLAT_KEYS[key])}" for key in flat)
        raise SettingsError(f"{where}: the model settings are now grouped (backbone, temporal, optimisation, "
                            f"ridge); this config uses the old flat keys:\n  {moves}")


@dataclass(frozen=True)
class ModelSettings:
    """The four groups together, as the model holds them (``EncodingModel.settings``)."""

    backbone: BackboneSettings
    temporal: TemporalSettings
    optimisation: OptimisationSettings
    ridge: RidgeSettings

    @classmethod
    def from_arguments(cls, **groups) -> ModelSettings:
        """From the model's arguments: each a dataclass, a dict of its fields, or None."""
        return cls(**{name: as_group(name, groups.get(name)) for name in GROUPS})

    def as_dicts(self) -> dict[str, dict]:
        return {name: plain(getattr(self, name)) for name in GROUPS}
