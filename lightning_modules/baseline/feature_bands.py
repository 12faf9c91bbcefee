"""A frozen network's features as named bands, for banded ridge: one band per read-out layer, plus motion.

Band ``layer<i>`` holds the frame-averaged, spatially pooled features of hierarchy level ``i``
(the backbone's ``layers`` option), ``(n_videos, feature_dims[l])``: the very columns the
single-band ridge concatenates, sliced apart. Band ``motion`` (optional) holds the frame-averaged
magnitude of frame-to-frame feature change of every read-out layer, concatenated in layer order,
``(n_videos, sum(feature_dims))``: ``mean_t |f_l[t+1] - f_l[t]|``, the quantity
:class:`~lightning_modules.networks.temporal.FrameDiffPool` feeds the heads with ``frame_diff``.

Both parts are cached on disk beside the single-band features (:func:`frozen_features.cached_features`):
the layer bands under the very key the single-band ridge uses, so a run that fits both extracts once,
and the motion features under a key of their own. When neither is cached one pass computes both.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from lightning_modules.baseline import frozen_features
from lightning_modules.baseline.frozen_features import backbone_fingerprint, cached_features
from lightning_modules.networks.encoder import VideoEncoder

MOTION_BAND = "motion"


def layer_band_names(encoder: VideoEncoder) -> list[str]:
    """``["layer1", "layer2", ...]``: one name per read-out layer, by its hierarchy index, in read-out order."""
    return [f"layer{i}" for i in encoder.backbone.layers]


def band_depths(band_names: list[str]) -> dict[str, int]:
    """Hierarchy index of every ``layer<i>`` band, ``{"layer1": 1, ...}``; other bands (motion) have none."""
    return {name: int(name[len("layer"):]) for name in band_names
            if name.startswith("layer") and name[len("layer"):].isdigit()}


@torch.no_grad()
def extract_frame_and_motion(encoder: VideoEncoder, loader: DataLoader, device: torch.device,
                             progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """One pass over the loader's videos, in loader order.

    Returns
    -------
    frame_mean : float32 array (n_videos, sum(feature_dims)), identical to
        :func:`frozen_features.extract_features`
    motion : float32 array (n_videos, sum(feature_dims)), ``mean_t |f[t+1] - f[t]|`` per layer,
        concatenated in read-out order
    """
    was_training = encoder.backbone.training
    encoder.backbone.eval()
    frames, motion = [], []
    try:
        for batch in tqdm(loader, desc="frozen features (+ motion)", disable=not progress, leave=False):
            video = batch["video"]
            if video.shape[1] < 2:
                raise ValueError(f"the motion band needs at least 2 frames per clip; the loader gives "
                                 f"{video.shape[1]} (data.num_frames)")
            per_layer = [f.float() for f in encoder.frame_features(video.to(device))]
            frames.append(torch.cat([f.mean(dim=1) for f in per_layer], dim=1).cpu())
            motion.append(torch.cat([(f[:, 1:] - f[:, :-1]).abs().mean(dim=1) for f in per_layer], dim=1).cpu())
    finally:
        encoder.backbone.train(was_training)
    return torch.cat(frames).numpy(), torch.cat(motion).numpy()


def split_layers(features: np.ndarray, encoder: VideoEncoder) -> dict[str, np.ndarray]:
    """Columns of concatenated per-layer features ``(n_videos, sum(feature_dims))`` as ``{layer<i>: block}``."""
    dims = list(encoder.backbone.feature_dims)
    if features.shape[1] != sum(dims):
        raise ValueError(f"features have {features.shape[1]} columns, but the read-out layers "
                         f"{encoder.backbone.layers} have {sum(dims)} ({dims})")
    blocks = np.split(features, np.cumsum(dims)[:-1], axis=1)
    return dict(zip(layer_band_names(encoder), blocks, strict=True))


def feature_bands(encoder: VideoEncoder, loader: DataLoader, cache_dir: str | Path, key_extra: tuple,
                  device: torch.device, motion: bool = False, progress: bool = True) -> dict[str, np.ndarray]:
    """The bands of the loader's videos, ``{name: float32 (n_videos, n_features_b)}`` in read-out order,
    then ``motion`` if asked for.

    ``key_extra`` identifies the videos (the single-band ridge passes ``(clips.key, rows.tobytes())``):
    the layer bands are read from, or written to, that ridge's own cache file.
    """
    frame_key = backbone_fingerprint(encoder, *key_extra)
    motion_key = backbone_fingerprint(encoder, *key_extra, MOTION_BAND)
    frame_path = Path(cache_dir) / f"features-{frame_key}.npy"
    motion_path = Path(cache_dir) / f"features-{motion_key}.npy"
    computed: dict[str, np.ndarray] = {}
    # One pass when anything is missing; with the motion band it yields both parts.
    if not frame_path.is_file() or (motion and not motion_path.is_file()):
        if motion:
            computed["frame"], computed["motion"] = extract_frame_and_motion(encoder, loader, device, progress)
        else:
            computed["frame"] = frozen_features.extract_features(encoder, loader, device, progress)
    bands = split_layers(cached_features(cache_dir, frame_key, lambda: computed["frame"]), encoder)
    if motion:
        bands[MOTION_BAND] = cached_features(cache_dir, motion_key, lambda: computed["motion"])
    return bands
