"""Frozen backbone features for the ridge baseline, extracted once and cached on disk.

The field's baseline reads the chosen layers of a frozen network, pools each
spatially, averages over frames and concatenates them: one row per video,
``(n_videos, sum(feature_dims))``. The cache file's name is a hash of the
backbone's weights, its read-out settings and the clips, so a changed
backbone or clip set never reads stale features.
"""

from __future__ import annotations

import errno
import hashlib
import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from datamodules.disk_space import DiskFullError, ensure_free_space
from lightning_modules.networks.encoder import VideoEncoder


def backbone_fingerprint(encoder: VideoEncoder, *extra) -> str:
    """A short hash of the backbone's weights and read-out settings plus ``extra`` (e.g. clip keys)."""
    digest = hashlib.sha256()
    backbone = encoder.backbone
    for name, tensor in backbone.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    digest.update(repr((backbone.layers, backbone.pool_grid, backbone.mean, backbone.std, extra)).encode())
    return digest.hexdigest()[:20]


@torch.no_grad()
def extract_features(encoder: VideoEncoder, loader: DataLoader, device: torch.device,
                     progress: bool = True) -> np.ndarray:
    """Frame-averaged pooled features of every video the loader serves, in loader order.

    Returns
    -------
    features : float32 array of shape (n_videos, sum(feature_dims))
    """
    was_training = encoder.backbone.training
    encoder.backbone.eval()
    rows = []
    try:
        for batch in tqdm(loader, desc="frozen features", disable=not progress, leave=False):
            per_layer = encoder.frame_features(batch["video"].to(device))
            rows.append(torch.cat([f.float().mean(dim=1) for f in per_layer], dim=1).cpu())
    finally:
        encoder.backbone.train(was_training)
    return torch.cat(rows).numpy()


def cached_features(cache_dir: str | Path, key: str, compute) -> np.ndarray:
    """``compute()`` once, stored as ``cache_dir/features-<key>.npy`` (written atomically).

    The free space is checked against the array's size first; a failed write (full disk,
    read-only folder) removes its temporary file and names the path and the size needed.
    """
    path = Path(cache_dir) / f"features-{key}.npy"
    if path.is_file():
        return np.load(path)
    features = compute()
    needed = features.nbytes + 128  # the .npy header
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OSError(err.errno, f"{path.parent}: cannot write the features cache here ({err.strerror}); set "
                                 "data.cache_dir to a writable folder") from err
    ensure_free_space(path, needed, "the frozen-features cache", "data.cache_dir")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            np.save(f, features)
        os.replace(tmp, path)
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        if isinstance(err, OSError) and not isinstance(err, DiskFullError):
            full = err.errno in (None, errno.ENOSPC)  # numpy reports a short write without an errno
            message = (f"{path}: writing the frozen-features cache ({needed:,} bytes) failed: {err}; free some "
                       "space or set data.cache_dir elsewhere")
            raise (DiskFullError if full else OSError)(errno.ENOSPC if full else err.errno, message) from err
        raise
    return features
