"""The ridge baselines' hand-over to a training run, across ranks.

At the start of fitting (``model.ridge.fit`` or ``model.ridge.only``), rank 0 alone extracts the
frozen features, fits the ridge baseline (and, with ``model.ridge.banded``, the banded one) and
scores them, while the other ranks wait in the broadcast of its result: the validation summaries,
or rank 0's error, which every rank then raises, so that none waits for good. When the heads start
from a baseline, rank 0 loads the map into them and every rank takes the heads from rank 0. Every
rank makes the same collective calls in the same order: ``broadcast_object``, then (heads set from
ridge) ``broadcast_module``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from lightning_modules.baseline.banded_baseline import fit_banded_for_run, heads_can_take_banded
from lightning_modules.baseline.ridge_baseline import RidgeBaseline, fit_ridge_baseline
from lightning_modules.networks.temporal import heads_read_frame_mean
from lightning_modules.settings import ModelSettings
from runtime.distributed import broadcast_module, broadcast_object
from scoring.summary import ScoreSummary

log = logging.getLogger(__name__)


def baseline_wanted(settings: ModelSettings) -> bool:
    """Whether fitting starts with the ridge baseline (``model.ridge.fit`` or ``.only``)."""
    return settings.ridge.fit or settings.ridge.only


def banded_sets_heads(settings: ModelSettings) -> bool:
    """Whether the heads start as the banded ridge map (it is fitted, wanted and expressible)."""
    r, tm = settings.ridge, settings.temporal
    return (r.banded and (r.only or r.init_heads)
            and heads_can_take_banded(tm.kind, tm.frame_diff, r.banded_motion))


def ridge_sets_heads(settings: ModelSettings) -> bool:
    """Whether the heads start from a baseline's map (banded or single-band ridge)."""
    if banded_sets_heads(settings):
        return True
    reads_frame_mean = heads_read_frame_mean(settings.temporal.kind, settings.temporal.frame_diff)
    return settings.ridge.only or (settings.ridge.init_heads and reads_frame_mean)


def ridge_heads_name(settings: ModelSettings) -> str:
    """Which baseline the heads start from: "banded ridge" or "ridge" (for messages)."""
    return "banded ridge" if banded_sets_heads(settings) else "ridge"


def fit_ridge_for_run(model, datamodule) -> RidgeBaseline:
    """The single-band ridge baseline of :class:`EncodingModel` ``model`` (its encoder, layout,
    validation ceiling, device and ``settings``), logged."""
    ridge = model.settings.ridge
    baseline = fit_ridge_baseline(
        model.model, datamodule, model.layout, model.val_ceiling, model.device, alphas=ridge.alphas,
        n_folds=ridge.folds, pca_components=ridge.pca, alpha_per=ridge.alpha_per, progress=True)
    log.info("ridge baseline on frozen features: val/score %.4f", baseline.val_summary.main)
    if baseline.test_scores is not None:
        log.info("ridge baseline on the test videos: score %s (mean r %s)", baseline.test_scores["overall"]["score"],
                 baseline.test_scores["overall"]["r"])
    if ridge.init_heads and not ridge_sets_heads(model.settings):
        log.info("ridge_init_heads skipped: the %s temporal stage (frame_diff=%s) does not feed the heads "
                 "frame-averaged features", model.settings.temporal.kind, model.settings.temporal.frame_diff)
    return baseline


def hand_over(model) -> tuple[ScoreSummary | None, ScoreSummary | None]:
    """Fit the baselines on rank 0 and hand them to every rank of :class:`EncodingModel` ``model``
    (attached to its trainer): returns the (ridge, banded ridge) validation summaries, the banded
    one None unless ``model.ridge.banded``; the heads are set when :func:`ridge_sets_heads`."""
    settings, trainer = model.settings, model.trainer
    baseline, banded, error = None, None, None
    # trainer.log_dir broadcasts under DDP: every rank asks where band_weights.npz goes.
    run_dir = Path(trainer.log_dir or trainer.default_root_dir) if settings.ridge.banded else None
    if trainer.is_global_zero:
        # Under a forked generator: extracting features draws (a data loader's seed) only when
        # they are not cached yet, and training must not depend on whether they were.
        cuda = [model.device.index or 0] if model.device.type == "cuda" else []
        with torch.random.fork_rng(devices=cuda):
            try:
                baseline = fit_ridge_for_run(model, trainer.datamodule)
                if run_dir is not None:
                    banded = fit_banded_for_run(model, trainer.datamodule, run_dir)
            except Exception as err:  # re-raised below, on every rank, so none waits for good
                error = err
    summary, banded_summary, message = broadcast_object(
        (baseline.val_summary if baseline else None, banded.val_summary if banded else None,
         f"{type(error).__name__}: {error}" if error else None))
    if error is not None:
        raise error
    if baseline is not None:  # rank 0, which saves the checkpoints (EncodingModel.on_save_checkpoint)
        model.ridge_test_scores = baseline.test_scores
    if message is not None:
        raise RuntimeError(f"the ridge baseline failed on rank 0: {message}")
    if ridge_sets_heads(settings):
        source = banded if banded_sets_heads(settings) else baseline
        if source is not None:  # rank 0
            model.model.heads.load_linear(source.head_coef.to(model.device), source.head_intercept.to(model.device))
        broadcast_module(model.model.heads)
    return summary, banded_summary
