"""What other parts read from the data module, declared: the ridge fits (:class:`RidgeData`) and
the validation dump (:class:`ValidationData`). :class:`datamodules.algonauts.AlgonautsDataModule`
implements both; anything else that does can stand in for it (a test's, a benchmark's).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
from torch.utils.data import DataLoader


@runtime_checkable
class RidgeData(Protocol):
    """The training and validation videos, their repetition-mean responses, and their clips.

    ``train_indices``, ``val_indices``: int64 ``(n_train,)``, ``(n_val,)`` rows of ``mean_responses``.
    ``mean_responses``: float32 ``(n_videos, n_voxels)``, NaN where a voxel was never measured.
    ``evaluation_dataloader(rows)``: batches of those videos in that order, unshuffled.
    ``feature_cache``: ``(folder, key)`` under which frozen features of these clips may be cached.
    """

    train_indices: np.ndarray
    val_indices: np.ndarray

    @property
    def mean_responses(self) -> np.ndarray: ...

    def evaluation_dataloader(self, rows) -> DataLoader: ...

    @property
    def feature_cache(self) -> tuple[Path, str]: ...


@runtime_checkable
class ValidationData(Protocol):
    """Names and masks the validation dump records beside the predictions.

    ``train_indices``: int64 ``(n_train,)``. ``video_names(rows)``: the clips' file names.
    ``voxel_masks``: ``{subject: bool mask (x, y, z)}`` of whole-brain recordings (empty otherwise).
    """

    train_indices: np.ndarray

    def video_names(self, rows) -> list[str]: ...

    @property
    def voxel_masks(self) -> dict[str, np.ndarray]: ...


def require(data, interface: type, needed_by: str):
    """``data`` itself if it implements ``interface``, else a TypeError naming what it lacks."""
    if isinstance(data, interface):
        return data
    members = [m for m in interface.__protocol_attrs__ if not hasattr(data, m)] if hasattr(
        interface, "__protocol_attrs__") else []
    raise TypeError(f"{needed_by} needs a data module with {interface.__name__}'s members; "
                    f"{type(data).__name__} lacks {', '.join(members) or 'some of them'}")
