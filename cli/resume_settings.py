"""Refuse to resume a checkpoint with settings that change the model it holds.

Resuming with another ``data.num_frames`` (or backbone, layers, subjects, ...) used to fail deep in
``load_state_dict`` with a raw size mismatch, after ``config.yaml`` in the run folder had already
been overwritten with the new settings. ``check_resume_settings`` runs before the run starts:
it reads the checkpoint's saved hyper-parameters (memory-mapped, tensors only) and names every
setting that differs, so nothing in the run folder is touched.
"""

from __future__ import annotations

from pathlib import Path

import torch

from lightning_modules.settings import grouped_hyperparameters

#: Model settings that decide the shapes of the weights in a checkpoint (or what they mean):
#: ``(key,)`` for a top-level argument, ``(group, field)`` for a grouped one.
ARCHITECTURE = (("voxel_counts",), ("backbone", "name"), ("backbone", "layers"), ("backbone", "pool_grid"),
                ("backbone", "vone_frontend"), ("temporal", "kind"), ("num_frames",), ("image_size",),
                ("temporal", "lstm_hidden"), ("temporal", "bidirectional"), ("temporal", "frame_diff"),
                ("ridge", "pca"))
#: Where the user sets the model settings that train.py links from the data.
_SET_AS = {("num_frames",): "data.num_frames", ("image_size",): "data.image_size",
           ("voxel_counts",): "data.subjects / data.rois / data.track (the voxels per subject and region)"}
_MISSING = object()


class ResumeSettingsError(ValueError):
    """The run's settings differ from the checkpoint's in a way the weights cannot follow."""


def _saved_hyperparameters(ckpt_path: str | Path) -> dict:
    from pytorch_lightning.utilities.parsing import AttributeDict

    try:
        with torch.serialization.safe_globals([AttributeDict]):
            checkpoint = torch.load(ckpt_path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as err:  # noqa: BLE001
        raise ResumeSettingsError(f"{ckpt_path}: not a loadable checkpoint ({type(err).__name__}: {err})") from err
    if "hyper_parameters" in checkpoint and not {"optimizer_states", "loops"} <= checkpoint.keys():
        last = Path(ckpt_path).parent / "last.ckpt"
        raise ResumeSettingsError(
            f"{ckpt_path} holds the weights only (a best checkpoint, kept for prediction): no optimiser, scheduler "
            f"or loop state to resume from. Resume from {last} (--ckpt_path last), or use this one with predict.py. "
            "Nothing was written")
    return dict(checkpoint.get("hyper_parameters", {}))


def setting_differences(saved: dict, current: dict) -> list[str]:
    """``"data.num_frames: checkpoint 4, this run 8"`` for every architecture setting that differs.

    Both are saved model arguments, grouped or (checkpoints from before the groups) flat.
    """
    saved, current = grouped_hyperparameters(dict(saved)), grouped_hyperparameters(dict(current))
    lines = []
    for path in ARCHITECTURE:
        old, new = _lookup(saved, path), _lookup(current, path)
        if old is not _MISSING and new is not _MISSING and _plain(old) != _plain(new):
            lines.append(f"{_SET_AS.get(path, 'model.' + '.'.join(path))}: checkpoint {_plain(old)}, "
                         f"this run {_plain(new)}")
    return lines


def _lookup(hparams: dict, path: tuple[str, ...]):
    value = hparams
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return _MISSING
        value = value[key]
    return value


def check_resume_settings(ckpt_path: str | Path, model_hparams) -> None:
    """Raise :class:`ResumeSettingsError` naming each architecture setting of ``model_hparams``
    that differs from the checkpoint's."""
    differences = setting_differences(_saved_hyperparameters(ckpt_path), dict(model_hparams))
    if differences:
        raise ResumeSettingsError(
            f"cannot resume from {ckpt_path}: its model was built with other settings than this run's:\n  "
            + "\n  ".join(differences)
            + "\nResume with the checkpoint's settings (the run folder's config.yaml), or start a new run "
              "(another --trainer.logger.init_args.version, without --ckpt_path). Nothing was written.")


def _plain(value):
    """Containers as plain dicts/lists, so YAML-loaded and checkpoint-loaded values compare equal."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
