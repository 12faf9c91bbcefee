"""Refuse to resume a run on other data than it trained on.

Resuming after the data changed went on silently: a changed split (``--data.n_val``) continued
training on former validation videos, and a region file replaced by another subject's with the
same voxel count was compared with a ridge baseline restored from the old data. The
:class:`TrainingDataRecord` callback saves in every checkpoint what the run trains on: the
training and validation video rows, and a fingerprint (BLAKE2b) of each subject/region's training
responses. When a checkpoint is resumed (its callback state is loaded, after the data module's
set-up), the same is computed from this run's data and any difference is a
:class:`ResumeDataError` naming it. Checkpoints written before this record resume unchecked.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytorch_lightning as pl


class ResumeDataError(ValueError):
    """The data of a resumed run differ from those its checkpoint trained on."""


def _rows(indices) -> list[int]:
    return [int(i) for i in np.asarray(indices).ravel()]


def data_record(datamodule) -> dict:
    """``{"train_rows", "val_rows", "responses": {"sub01/V1": hex digest}}`` of a set-up data module."""
    responses = datamodule.responses  # (n_videos, n_reps, n_voxels); a lazy stack is read per group
    digests = {}
    for group in datamodule.target_layout.groups:
        block = np.ascontiguousarray(responses[..., group.start:group.stop])
        digest = hashlib.blake2b(str(block.shape).encode(), digest_size=16)
        digest.update(block.tobytes())
        digests[f"{group.subject}/{group.roi}"] = digest.hexdigest()
    return {"train_rows": _rows(datamodule.train_indices), "val_rows": _rows(datamodule.val_indices),
            "responses": digests}


def _rows_change(name: str, saved: list[int], now: list[int]) -> str | None:
    if saved == now:
        return None
    gone, new = sorted(set(saved) - set(now)), sorted(set(now) - set(saved))
    return (f"the {name} videos (data.split, data.n_val, data.n_folds, data.fold, data.seed): checkpoint "
            f"{len(saved)}, this run {len(now)}; rows only in the checkpoint's {gone[:5]}{' ...' * (len(gone) > 5)}, "
            f"only in this run's {new[:5]}{' ...' * (len(new) > 5)}")


def differences(saved: dict, now: dict) -> list[str]:
    """One line per thing that changed between two :func:`data_record` results."""
    lines = [line for line in (_rows_change("training", saved["train_rows"], now["train_rows"]),
                               _rows_change("validation", saved["val_rows"], now["val_rows"])) if line]
    changed = [g for g, digest in saved["responses"].items() if now["responses"].get(g, digest) != digest]
    if changed:
        lines.append(f"the training responses of {', '.join(changed)} (their files under data.root) are not "
                     "those the checkpoint trained on")
    groups_saved, groups_now = set(saved["responses"]), set(now["responses"])
    if groups_saved != groups_now:
        lines.append(f"the subjects/regions: checkpoint {sorted(groups_saved)}, this run {sorted(groups_now)}")
    return lines


class TrainingDataRecord(pl.Callback):
    """Saves :func:`data_record` in checkpoints; on resume, raises :class:`ResumeDataError` when
    this run's data differ."""

    def __init__(self):
        self._trainer = None
        self._record = None

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self._trainer = trainer if stage == "fit" else None
        self._record = None

    def _current(self) -> dict | None:
        datamodule = getattr(self._trainer, "datamodule", None)
        if datamodule is None or getattr(datamodule, "train_indices", None) is None:
            return None
        if self._record is None:  # the data do not change during a fit: hashed once
            self._record = data_record(datamodule)
        return self._record

    def state_dict(self) -> dict:
        return self._current() or {}

    def load_state_dict(self, state_dict: dict) -> None:
        now = self._current()
        if not state_dict or now is None:
            return
        lines = differences(state_dict, now)
        if lines:
            path = getattr(self._trainer, "ckpt_path", None)
            raise ResumeDataError(
                f"cannot resume from {path}: this run's data are not those it trained on:\n  " + "\n  ".join(lines)
                + "\nResume with the data and split it trained on (the run folder's config.yaml), or start a new "
                  "run (another --trainer.logger.init_args.version, without --ckpt_path)")
