"""One prediction run: checkpoints in, their (ensembled) predictions of the stimuli out, exported whole.

:func:`run_prediction` is what ``predict.py`` does once its command line is parsed: resolve and load
the checkpoints, rebuild the data side each was trained with (:mod:`datamodules.rebuild`: the same
source, clip settings, cache and split as training), choose the ensemble's weights, predict on one
or several devices into shards, and write the export through a staging folder
(:mod:`export.export_folder`). Input that cannot give a valid export raises a
:class:`PredictionInputError` (or the reader's own error, naming the file); nothing here exits.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
from pytorch_lightning.utilities import rank_zero_only
from torch.utils.data import DataLoader

from datamodules.algonauts import DEFAULT_CACHE_DIR, AlgonautsDataModule
from datamodules.clip_cache import ClipCache
from datamodules.dataset import ClipDataset
from datamodules.rebuild import datamodule_from_checkpoint
from datamodules.sources.base import Release
from datamodules.video_files import list_video_folder
from export.best_checkpoint import resolve_checkpoint
from export.checkpoint import EnsemblePredictor, load_encoding_model
from export.ensemble import EnsembleInputError, load_member, plan_ensemble
from export.export_folder import ExportFolderError, check_output_dir, write_export
from export.member_clips import check_same_clips
from export.prediction_writer import ShardedPredictionWriter, merge_shards
from export.submission import validate_submission
from runtime.out_of_memory import PREDICT_SETTINGS, explain_out_of_memory
from scoring.layout import TargetLayout
from scoring.scores_on_test import TEST_SCORES_FILE, one_line, score_on_test, scores_json


class PredictionInputError(ValueError):
    """Checkpoints, data or an output folder that cannot give a valid export; the message names them."""


@dataclass(frozen=True)
class PredictionRequest:
    """What to predict and where (``predict.py``'s options; their defaults are these).

    ``checkpoints``: files or run folders (a run's best checkpoint); several form an ensemble.
    ``data_root``: the dataset (default: the first checkpoint's). ``videos``: a folder of mp4s to
    predict instead of the test set. ``score``: score the test set against its responses
    (``test_scores.json``; :mod:`scoring.scores_on_test`) where the dataset has them. ``ensemble``, ``ensemble_level``, ``temperature``,
    ``cv_splits``: see :func:`export.ensemble.plan_ensemble`.
    """

    checkpoints: tuple[str, ...]
    output_dir: Path
    data_root: str | None = None
    videos: str | None = None
    overwrite: bool = False
    batch_size: int = 8
    num_workers: int = 2
    video_backend: str | None = None
    cache_dir: str | None = None
    accelerator: str = "auto"
    devices: int | str = 1
    strategy: str = "auto"
    precision: str = "32-true"
    ensemble: str = "mean"
    ensemble_level: str = "region"
    temperature: float = 0.3
    cv_splits: int = 5
    score: bool = False


@dataclass
class Stimuli:
    """The clips to predict: rows ``first ..`` of ``clips`` (the cache of all ``clips.video_paths``).

    ``n_train``: the release's videos with fMRI (an ensemble checks its members' splits against
    it); None for a folder of clips. ``test_set``: the 2021 release's test videos (a submission
    zip). ``release``: the dataset read (None for a folder of clips): its test responses score.
    """

    clips: ClipCache
    first: int
    n_train: int | None
    test_set: bool
    release: Release | None = None

    @property
    def videos(self) -> list[Path]:
        return self.clips.video_paths[self.first:]


def run_prediction(request: PredictionRequest, validate: Callable = validate_submission) -> Path | None:
    """Predict and export; the output folder, or None in the processes other than the first.

    ``validate`` checks the submission zip before it is kept (:func:`validate_submission`)."""
    out = Path(request.output_dir)
    try:
        check_output_dir(out, request.overwrite)
    except ExportFolderError as err:
        raise PredictionInputError(str(err)) from err
    checkpoints = [_announce(resolve_checkpoint(path)) for path in request.checkpoints]
    models = [load_encoding_model(path) for path in checkpoints]
    layout = _common_layout(models, checkpoints)
    check_same_clips([data for _, data in models], checkpoints)  # one set of clips feeds every member
    stimuli = find_stimuli(request, models[0][1], layout, out)
    weights, record = None, None
    if len(models) > 1 or request.ensemble != "mean":
        plan = _plan_ensemble(request, checkpoints, models, layout, stimuli.n_train)
        if plan is not None:
            weights, record = plan.weights, plan.record
    preds = _predict_rows(request, [model for model, _ in models], weights, stimuli, layout, out)
    if preds is None:
        return None
    manifest = {"checkpoints": [str(Path(p).resolve()) for p in checkpoints], "ensemble_size": len(checkpoints)}
    if record:
        manifest["ensemble"] = record
    if stimuli.release is not None:
        manifest["source"] = stimuli.release.source
        if columns := stimuli.release.column_blocks:  # merged regions: which file's voxels are which columns
            manifest["columns"] = columns
    extra, line = _test_scores(request, stimuli, layout, preds, _ridge_test_scores([m for m, _ in models]))
    volumes = stimuli.release.whole_brain_groups if stimuli.release is not None else None  # NIfTI beside .npy
    written = write_export(preds, layout, stimuli.videos, manifest, out, stimuli.test_set, validate, extra, volumes)
    if line:
        print(line)
    return written


def _ridge_test_scores(models: list) -> dict | None:
    """The test scores of the ridge baseline fitted at the start of training (on the frozen backbone's
    features; :func:`lightning_modules.baseline.ridge_baseline.test_scores_of_map`), saved in the
    checkpoint; None for an ensemble or a run without one."""
    if len(models) != 1:
        return None
    return getattr(models[0], "ridge_test_scores", None)


def _test_scores(request: PredictionRequest, stimuli: Stimuli, layout: TargetLayout,
                 preds: np.ndarray, ridge: dict | None = None) -> tuple[dict[str, str], str | None]:
    """With ``request.score``: ``({"test_scores.json": text}, the one line to print)`` where the
    dataset has test responses, else no file and a line saying so. ``ridge``: the run's ridge
    baseline's test scores (same keys), written under ``"ridge_baseline"`` and printed beside."""
    if not request.score:
        return {}, None
    release = stimuli.release
    if release is None:
        raise PredictionInputError("--score scores the dataset's test videos against their responses; "
                                   "it cannot score a folder of clips (--videos)")
    responses = release.test_responses()
    if responses is None:
        return {}, (f"no test score: {release.root} ({release.source}) holds no responses to its "
                    f"{release.n_test} test videos (the 2021 challenge withheld them)")
    summary = score_on_test(layout.split(preds), responses)
    scores = scores_json(summary, release.n_test)
    beside = ""
    if ridge is not None and ridge.get("n_test_videos") == release.n_test:
        scores["ridge_baseline"] = ridge
        overall = ridge["overall"]
        beside = f"; ridge baseline {_number(overall.get('score'))} (mean r {_number(overall.get('r'))})"
    text = json.dumps(scores, indent=1) + "\n"
    return {TEST_SCORES_FILE: text}, (f"{one_line(summary, release.n_test)}{beside}: "
                                      f"{Path(request.output_dir) / TEST_SCORES_FILE}")


def _number(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _common_layout(models: list, checkpoints: list[Path]) -> TargetLayout:
    layout: TargetLayout = models[0][0].layout
    for (model, _), path in zip(models[1:], checkpoints[1:], strict=True):
        if model.layout != layout:
            raise PredictionInputError(f"{path} predicts {model.layout}, but {checkpoints[0]} predicts {layout}: "
                                       "an ensemble needs the same subjects, regions and voxels")
    return layout


def find_stimuli(request: PredictionRequest, saved: dict, layout: TargetLayout, out: Path) -> Stimuli:
    """The clips to predict, decoded as the checkpoint's training decoded them (its saved data
    settings ``saved``): a folder of clips (``request.videos``), else the dataset's test videos."""
    backend = {"video_backend": request.video_backend} if request.video_backend else {}
    if request.videos:
        data = datamodule_from_checkpoint(saved, **backend)
        videos = list_video_folder(Path(request.videos))
        cache_dir = request.cache_dir or Path(request.videos) / DEFAULT_CACHE_DIR
        return Stimuli(data.clip_cache_in(cache_dir, videos), 0, None, test_set=False)
    # The training run's selection, so the (subject, region) order matches the checkpoint's
    # even when a subject lacked a region (missing_rois: skip).
    rois = saved["rois"] if "rois" in saved else layout.rois
    root = {"root": str(request.data_root)} if request.data_root else {}
    data = datamodule_from_checkpoint(saved, **backend, **root, subjects=layout.subjects, rois=rois)
    release = data.release
    if TargetLayout(release.voxel_counts) != layout:
        raise PredictionInputError(f"the checkpoint's voxels {layout.voxel_counts} do not match the data in "
                                   f"{data.root}: {release.voxel_counts}")
    if release.n_test == 0:
        raise PredictionInputError(f"{data.root} has no test videos (all {release.n_train} videos have fMRI)")
    # The same clip cache as training (all videos), read at the test rows.
    folder = request.cache_dir or _release_cache_dir(data, request.data_root is not None, out)
    # A challenge submission zip only for the 2021 release (other releases' test sets are scored instead).
    return Stimuli(data.clip_cache_in(folder), release.n_train, release.n_train,
                   test_set=release.source == "algonauts2021", release=release)


def _release_cache_dir(data: AlgonautsDataModule, root_given: bool, out: Path) -> Path:
    """Where to read or build the dataset's clip cache when ``--cache_dir`` is not given.

    A complete cache where training kept it (``data.cache_dir``, else beside the data) is read.
    Building writes files, so it happens only in a folder the command line named: beside the videos
    of ``--data.root``, else in ``OUT/.clip_cache``. Paths stored in a checkpoint are never written to.
    """
    beside = data.root / DEFAULT_CACHE_DIR
    stored = list(dict.fromkeys([data.cache_dir, beside]))
    for folder in stored:
        if data.clip_cache_in(folder).is_built:
            return folder
    target = beside if root_given else out / DEFAULT_CACHE_DIR
    print(f"clip cache: none built for these settings in {', '.join(map(str, stored))}; building one in {target}")
    return target


def _plan_ensemble(request: PredictionRequest, checkpoints: list[Path], models: list, layout: TargetLayout,
                   n_train: int | None):
    """Weights for ``--ensemble`` from the members' validation predictions, and the estimate, printed.

    ``mean`` needs no validation data: without every member's ``val_predictions.npz``, or with members
    that cannot be scored together, it averages and says why no estimate is given. Other modes stop
    with the error (a missing file, other voxels, validation videos a member trained on)."""
    try:
        members = [load_member(path, layout, data_hparams, given=original, n_train=n_train,
                               checkpoint_epoch=model.checkpoint_epoch)
                   for (model, data_hparams), path, original in zip(models, checkpoints, request.checkpoints,
                                                                    strict=True)]
        plan = plan_ensemble(members, layout, request.ensemble, request.ensemble_level, request.temperature,
                             request.cv_splits)
    except (FileNotFoundError, EnsembleInputError) as err:
        if request.ensemble != "mean":
            raise
        if rank_zero_only.rank == 0:
            print(f"ensemble: mean of {len(models)} members, no validation estimate ({err})")
        return None
    if rank_zero_only.rank == 0:
        print("\n".join(plan.lines))
    return plan


def _predict_rows(request: PredictionRequest, models: list, weights, stimuli: Stimuli, layout: TargetLayout,
                  out: Path) -> np.ndarray | None:
    """The ensemble's predictions of the stimuli, ``(n_videos, n_voxels)`` float32, gathered from every
    process's shards; None in the processes other than the first."""
    clips, first = stimuli.clips, stimuli.first
    loader = DataLoader(ClipDataset(clips, np.arange(first, len(clips))), batch_size=request.batch_size,
                        num_workers=request.num_workers)
    # One shared folder for every rank's shards; only the first process clears it.
    shard_dir = out / ".prediction_shards"
    if rank_zero_only.rank == 0:
        shutil.rmtree(shard_dir, ignore_errors=True)
    trainer = pl.Trainer(accelerator=request.accelerator, devices=request.devices, strategy=request.strategy,
                         precision=request.precision, logger=False, enable_checkpointing=False,
                         callbacks=[ShardedPredictionWriter(shard_dir)], enable_model_summary=False)
    if trainer.is_global_zero and not clips.is_built:
        clips.build(progress=True)
    ensemble = EnsemblePredictor(models, weights)
    try:
        with explain_out_of_memory("prediction", PREDICT_SETTINGS,
                                   {"--batch_size": request.batch_size, "--precision": request.precision}):
            trainer.predict(ensemble, loader, return_predictions=False)
    except BaseException:
        if trainer.is_global_zero:  # a failed run leaves no partial shards behind
            shutil.rmtree(shard_dir, ignore_errors=True)
        raise
    trainer.strategy.barrier()
    if not trainer.is_global_zero:
        return None
    preds = merge_shards(shard_dir, len(clips) - first, layout.n_voxels, row_offset=first)
    shutil.rmtree(shard_dir, ignore_errors=True)
    return preds


def _announce(resolved: tuple[Path, str]) -> Path:
    """Print which checkpoint a --ckpt_path stands for (once, from the first process)."""
    if rank_zero_only.rank == 0:
        print(resolved[1])
    return resolved[0]
