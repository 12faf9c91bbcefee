"""The banded-ridge baseline inside a training run: each voxel weighs the read-out layers itself.

Beside the single-band ridge (:mod:`baseline`, all layers concatenated under one penalty), the
same frozen features are fitted as banded ridge (:class:`BandedRidgeCV`): one band per read-out
layer (``layer1`` .. ``layer4``), optionally the frame-difference ``motion`` band, and per voxel a
weighting of the bands on the simplex and a penalty, both chosen by K-fold CV. Its validation
scores are logged as ``val/banded_ridge/...``; its band weights go to ``band_weights.npz`` in the
run folder (:func:`write_band_weights`), where :mod:`reports.band_maps` reads them.

Hand-over to the heads. Banded ridge's map is linear in the raw band features: ``coef_`` stacks
one block per band, already scaled by its band weight (the primal weights of band ``b`` are
``sqrt(w_b)`` times those of the scaled features ``sqrt(w_b) X_b``, times ``sqrt(w_b)`` again on
the way back). The heads read, per layer ``l``, the frame mean ``f_l`` (and with ``frame_diff``
also ``mean_t |f_l[t+1] - f_l[t]|``), so :func:`to_head_space` puts band ``layer<l>`` in the rows of
``f_l`` and the motion band's slice of layer ``l`` in the rows of that layer's differences: the
heads then compute exactly banded ridge's prediction (up to the per-voxel rescaling that
:func:`.frozen_fit.rescale_to_targets` applies, which leaves correlations unchanged).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from lightning_modules.baseline.feature_bands import MOTION_BAND, feature_bands
from lightning_modules.baseline.frozen_fit import BaselineVideos, fill_missing, rescale_and_score
from lightning_modules.networks.encoder import VideoEncoder
from ridge.banded import BandedRidgeCV
from run_folder.contract import RunFolder
from scoring.layout import TargetLayout
from scoring.summary import ScoreSummary

log = logging.getLogger(__name__)


@dataclass
class BandedBaseline:
    """Banded ridge from named bands of frozen features to voxels.

    Attributes
    ----------
    band_names : list of str, ``layer<i>`` per read-out layer, then ``motion`` if fitted
    band_weights : tensor (n_bands, n_voxels), each column on the simplex
    alphas : tensor (n_voxels,), chosen penalty
    cv_scores : tensor (n_voxels,), best mean CV Pearson r on the training videos
    coef : tensor (sum_b n_features_b, n_voxels), bands' blocks in ``band_names`` order, raw features
    intercept : tensor (n_voxels,)
    band_dims : list of int, n_features_b per band
    val_r : tensor (n_voxels,), Pearson r on the validation videos
    val_split_r : tensor (n_bands, n_voxels), each band's share of ``val_r`` (``score_split``)
    val_summary : ScoreSummary, :func:`scoring.summary.score_summary` of ``val_r``
    head_coef, head_intercept : the map in the heads' feature space (:func:`to_head_space`), each
        voxel rescaled to its targets' spread; None if the heads cannot hold it
    """

    band_names: list[str]
    band_weights: torch.Tensor
    alphas: torch.Tensor
    cv_scores: torch.Tensor
    coef: torch.Tensor
    intercept: torch.Tensor
    band_dims: list[int]
    val_r: torch.Tensor
    val_split_r: torch.Tensor
    val_summary: ScoreSummary
    head_coef: torch.Tensor | None = None
    head_intercept: torch.Tensor | None = None


def to_head_space(coef: torch.Tensor, band_names: list[str], band_dims: list[int], layer_dims: list[int],
                  frame_diff: bool) -> torch.Tensor | None:
    """Banded ridge's ``coef`` (sum_b n_features_b, n_voxels) in the heads' concatenated feature space.

    The heads' rows: per read-out layer ``l``, ``layer_dims[l]`` rows of the frame mean, followed
    (``frame_diff``) by ``layer_dims[l]`` rows of the mean absolute frame difference. A motion band
    holds the latter for all layers, concatenated in layer order. Returns None when the map cannot
    be expressed there (a motion band, but heads without ``frame_diff``); rows the bands do not
    cover (``frame_diff`` heads, no motion band) are 0.
    """
    blocks = dict(zip(band_names, torch.split(coef, list(band_dims), dim=0), strict=True))
    has_motion = MOTION_BAND in blocks
    if has_motion and not frame_diff:
        return None
    layers = [n for n in band_names if n != MOTION_BAND]
    if [blocks[n].shape[0] for n in layers] != list(layer_dims):
        raise ValueError(f"layer bands {layers} have {[blocks[n].shape[0] for n in layers]} features, "
                         f"the heads' layers {list(layer_dims)}")
    return _heads_order(blocks, layers, layer_dims, frame_diff, dim=0)


def head_space_features(bands: dict[str, torch.Tensor], layer_names: list[str], layer_dims: list[int],
                        frame_diff: bool) -> torch.Tensor:
    """The bands' columns arranged as the heads read them, (n_videos, n_head_features); see
    :func:`to_head_space` (no motion band with ``frame_diff``: zeros in its place)."""
    return _heads_order(bands, layer_names, layer_dims, frame_diff, dim=1)


def _heads_order(parts: dict[str, torch.Tensor], layers: list[str], layer_dims: list[int], frame_diff: bool,
                 dim: int) -> torch.Tensor:
    """``parts`` (per band, features along ``dim``) concatenated in the heads' order: each layer,
    then (with ``frame_diff``) that layer's slice of the motion band, zeros where there is none."""
    motion = (torch.split(parts[MOTION_BAND], list(layer_dims), dim=dim) if MOTION_BAND in parts
              else [torch.zeros_like(parts[n]) for n in layers])
    pieces = []
    for name, diffs in zip(layers, motion, strict=True):
        pieces.append(parts[name])
        if frame_diff:
            pieces.append(diffs)
    return torch.cat(pieces, dim=dim)


def fit_banded_baseline(encoder: VideoEncoder, datamodule, layout: TargetLayout, ceiling: torch.Tensor | None,
                        device: torch.device, motion: bool = False, band_weight_candidates: int = 20,
                        alphas=None, n_folds: int = 5, frame_diff_heads: bool = False,
                        progress: bool = True) -> BandedBaseline:
    """Bands of the train-split and validation videos (cached), banded ridge on the train part,
    scored on the validation part.

    ``datamodule`` provides what :class:`.frozen_fit.BaselineVideos` reads. ``frame_diff_heads``:
    the heads read each layer's frame differences too (``model.frame_diff``), which decides
    whether, and how, the map can become the heads (:func:`to_head_space`).
    """
    videos = BaselineVideos.of(datamodule, "the banded ridge baseline")
    cache_dir, clips_key = videos.feature_cache
    bands_np = feature_bands(encoder, videos.loader(), cache_dir, (clips_key, videos.rows.tobytes()), device,
                             motion=motion, progress=progress)
    n_train = videos.n_train
    bands = {k: torch.from_numpy(v).to(device) for k, v in bands_np.items()}
    train = {k: v[:n_train] for k, v in bands.items()}
    val = {k: v[n_train:] for k, v in bands.items()}
    ridge = BandedRidgeCV(band_weight_candidates=band_weight_candidates, alphas=alphas, n_folds=videos.folds(n_folds),
                          device=device, normalize_bands=True, progress=progress)
    ridge.fit(train, videos.Y_train.to(device))

    band_dims = [int(v.shape[1]) for v in bands.values()]
    coef = ridge.coef_.float()
    scored = rescale_and_score(coef, torch.cat([train[n] for n in ridge.band_names], dim=1),
                               torch.cat([val[n] for n in ridge.band_names], dim=1), videos, layout, ceiling, device)
    # score_split centres each band's part before it correlates (no intercept): exact in float32.
    val_filled = torch.from_numpy(fill_missing(videos.val_targets).astype(np.float32)).to(device)
    val_split = ridge.score_split(val, val_filled).float().cpu()

    # X_head @ to_head_space(coef) == X_bands @ coef, so the intercept carries over unchanged.
    head_coef = to_head_space(scored.head_coef, ridge.band_names, band_dims, list(encoder.backbone.feature_dims),
                              frame_diff_heads)
    head_intercept = scored.head_intercept.cpu() if head_coef is not None else None
    head_coef = head_coef.cpu() if head_coef is not None else None
    return BandedBaseline(
        band_names=list(ridge.band_names), band_weights=ridge.band_weights_.float().cpu(),
        alphas=ridge.alphas_.cpu(), cv_scores=ridge.cv_scores_.float().cpu(), coef=coef.cpu(),
        intercept=ridge.intercept_.float().cpu(), band_dims=band_dims, val_r=scored.val_r, val_split_r=val_split,
        val_summary=scored.val_summary, head_coef=head_coef, head_intercept=head_intercept)


def write_band_weights(run_dir: str | Path, baseline: BandedBaseline, layout: TargetLayout,
                       voxel_masks: dict[str, np.ndarray] | None = None) -> Path:
    """``run_dir/band_weights.npz`` (atomically), in the format :func:`run_folder.contract.write_band_weights` gives."""
    return RunFolder(run_dir).write_band_weights(
        band_names=baseline.band_names, weights=baseline.band_weights.numpy(), alphas=baseline.alphas.numpy(),
        cv_r=baseline.cv_scores.numpy(), val_r=baseline.val_r.numpy(), val_split_r=baseline.val_split_r.numpy(),
        layout=layout, voxel_masks=voxel_masks)


def voxel_masks_of(datamodule) -> dict[str, np.ndarray]:
    """``{subject: voxel_mask}`` of the release's whole-brain recordings (empty for the mini track)."""
    release = getattr(datamodule, "release", None)
    masks = {}
    for subject, rois in (getattr(release, "recordings", None) or {}).items():
        for recording in rois.values():
            if getattr(recording, "voxel_mask", None) is not None:
                masks[subject] = recording.voxel_mask
    return masks


def heads_can_take_banded(temporal_kind: str, frame_diff: bool, motion: bool) -> bool:
    """Whether heads of this temporal stage can start as the banded map (:func:`to_head_space`):
    they must read frame means at initialisation, and a motion band needs their frame differences."""
    from lightning_modules.networks.temporal import TEMPORAL_KINDS

    return TEMPORAL_KINDS[temporal_kind].starts_as_frame_mean and (frame_diff or not motion)


def fit_banded_for_run(model, datamodule, run_dir: str | Path) -> BandedBaseline:
    """What :class:`EncodingModel` runs on rank 0 when ``model.ridge.banded``: fit, log, write
    ``band_weights.npz`` into ``run_dir``. ``model`` is the EncodingModel (its encoder, layout,
    validation ceiling, device and ``settings``)."""
    ridge, temporal = model.settings.ridge, model.settings.temporal
    baseline = fit_banded_baseline(
        model.model, datamodule, model.layout, model.val_ceiling, model.device, motion=ridge.banded_motion,
        band_weight_candidates=ridge.banded_candidates, alphas=ridge.alphas, n_folds=ridge.folds,
        frame_diff_heads=temporal.frame_diff, progress=True)
    path = write_band_weights(run_dir, baseline, model.layout, voxel_masks_of(datamodule))
    log.info("banded ridge on frozen features (%s): val/score %.4f; band weights in %s",
             ", ".join(baseline.band_names), baseline.val_summary.main, path)
    return baseline
