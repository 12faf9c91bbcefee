"""Predictions written shard by shard, then merged into video order.

Under DDP each rank sees a different part of the videos; every rank writes its
batches as it goes (memory stays at one batch), and rank 0 merges the shards
into one ``(n_videos, n_voxels)`` array once all ranks are done.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from pytorch_lightning.callbacks import BasePredictionWriter


class ShardedPredictionWriter(BasePredictionWriter):
    """Saves each predicted batch as ``shard_dir/rank{R}_batch{B}.npz`` (``index``, ``preds``).

    ``predict_step`` must return ``{"index": (batch,) int64, "preds": (batch, n_voxels) float}``.
    """

    def __init__(self, shard_dir: str | Path):
        super().__init__(write_interval="batch")
        self.shard_dir = Path(shard_dir)

    def write_on_batch_end(self, trainer, pl_module, prediction, batch_indices, batch, batch_idx,
                           dataloader_idx=0) -> None:
        self.shard_dir.mkdir(parents=True, exist_ok=True)
        path = self.shard_dir / f"rank{trainer.global_rank:03d}_batch{batch_idx:06d}.npz"
        np.savez(path, index=prediction["index"].cpu().numpy(),
                 preds=prediction["preds"].to(torch.float32).cpu().numpy())


def merge_shards(shard_dir: str | Path, n_rows: int, n_voxels: int, row_offset: int = 0) -> np.ndarray:
    """Gather every shard's rows into ``(n_rows, n_voxels)`` float32: the prediction for video
    ``index`` lands in row ``index - row_offset``.

    Rows predicted twice (a padded distributed sampler) must agree; a row never predicted
    is an error naming the missing rows.
    """
    merged = np.full((n_rows, n_voxels), np.nan, dtype=np.float32)
    seen = np.zeros(n_rows, dtype=bool)
    for path in sorted(Path(shard_dir).glob("rank*_batch*.npz")):
        with np.load(path) as shard:
            index, preds = shard["index"] - row_offset, shard["preds"]
        if preds.shape[1] != n_voxels or index.max(initial=-1) >= n_rows or index.min(initial=0) < 0:
            raise ValueError(f"{path}: shard of shape {preds.shape} with rows up to {index.max()} does not fit "
                             f"({n_rows}, {n_voxels})")
        merged[index] = preds
        seen[index] = True
    if not seen.all():
        missing = np.flatnonzero(~seen)
        raise ValueError(f"{shard_dir}: no prediction for {missing.size} of {n_rows} videos (rows {missing[:10].tolist()}...)")
    return merged
