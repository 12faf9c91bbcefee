"""What other parts read from the data module, declared: the ridge fits (:class:`RidgeData`) and
the validation dump (:class:`ValidationData`, declared beside its reader in :mod:`run_folder.validation_dump`,
which sits below the data). :class:`datamodules.algonauts.AlgonautsDataModule`
implements both; anything else that does can stand in for it (a test's, a benchmark's).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
from torch.utils.data import DataLoader

from run_folder.validation_dump import ValidationData  # noqa: F401  (re-exported)


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


def require(data, interface: type, needed_by: str):
    """``data`` itself if it implements ``interface``, else a TypeError naming what it lacks."""
    if isinstance(data, interface):
        return data
    members = [m for m in interface.__protocol_attrs__ if not hasattr(data, m)] if hasattr(
        interface, "__protocol_attrs__") else []
    raise TypeError(f"{needed_by} needs a data module with {interface.__name__}'s members; "
                    f"{type(data).__name__} lacks {', '.join(members) or 'some of them'}")
