"""Predict voxel responses for the test videos (or any folder of mp4s) and export them.

    python predict.py --ckpt_path runs/demo/version_0 --output_dir out/     # the run's best checkpoint
    python predict.py --ckpt_path a.ckpt b.ckpt --data.root /data/algonauts2021 --output_dir out/ --devices 2
    python predict.py --ckpt_path a.ckpt --videos my_clips/ --output_dir out/

Writes ``OUT/mini_track.zip`` (or ``full_track.zip``) in the challenge's format, checked by
the validator before the command finishes, ``OUT/predictions/<subject>/<ROI>.npy`` of shape
(n_videos, n_voxels), and ``OUT/manifest.json`` (videos in row order, checkpoints, shapes).
Several checkpoints form an ensemble: averaged (``--ensemble mean``), or weighted from each
member's validation predictions (``val_predictions.npz`` in its run folder): ``best_per_region``
takes each subject and region from its best member, ``softmax`` weighs members by a softmax of
their validation r per region or per voxel (``--ensemble-level``, ``--temperature``). It prints
each member's validation score beside the ensemble's cross-fitted estimate (weights chosen on part
of the validation videos, scored on the rest, rotated), and the manifest records both and the
weights (``export/ensemble.py`` says which members can be weighted together). With ``--videos``
only the ``.npy`` files and the manifest are written.

    python predict.py --ckpt_path runs/a/version_0 runs/b/version_0 runs/c/version_0 --output_dir out/ \
        --ensemble softmax --ensemble-level region --temperature 0.3

Files are written only where the command line says: ``--output_dir``, ``--cache_dir``, or beside
the videos of ``--videos`` / ``--data.root``. Paths stored in a checkpoint (its ``data.root`` and
``data.cache_dir``) are read from, never written to: without ``--cache_dir`` a clip cache the
training left there is used if it is complete, and otherwise one is built in
``OUT/.clip_cache``. A new export is written beside the old one and validated before it
replaces it, so ``--overwrite`` never loses a good export to a failed one.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
from pytorch_lightning.utilities import rank_zero_only
from torch.utils.data import DataLoader

from datamodules.clip_cache import ClipCache
from datamodules.clip_settings import ClipSettings
from datamodules.dataset import ClipDataset
from datamodules.release import list_videos, load_release
from export.best_checkpoint import resolve_checkpoint
from export.checkpoint import EnsemblePredictor, load_encoding_model
from export.ensemble import EnsembleInputError, load_member, plan_ensemble
from export.ensemble_weights import LEVELS, MODES
from export.prediction_writer import ShardedPredictionWriter, merge_shards
from export.submission import (
    TRACK_NAMES,
    build_submission,
    track_of,
    validate_submission,
    write_submission_zip,
)
from runtime.out_of_memory import (
    PREDICT_SETTINGS,
    DeviceOutOfMemoryError,
    explain_out_of_memory,
)
from runtime.quiet import silence_library_noise
from scoring.layout import TargetLayout


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt_path", nargs="+", required=True,
                        help="checkpoint file(s) or run folder(s) (runs/demo/version_0: the best checkpoint "
                             "its summary.json names); several are averaged")
    parser.add_argument("--output_dir", required=True, help="folder for the zip, .npy files and manifest")
    parser.add_argument("--data.root", dest="data_root", default=None,
                        help="the release folder (default: the one the first checkpoint was trained on)")
    parser.add_argument("--videos", default=None, help="predict this folder of mp4s instead of the test set")
    parser.add_argument("--overwrite", action="store_true", help="replace predictions already in output_dir")
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--num_workers", type=int, default=2)
    parser.add_argument("--video_backend", choices=["decord", "pyav"], default=None)
    parser.add_argument("--cache_dir", default=None,
                        help="clip cache folder (default: the training's cache if complete, else a new one beside "
                             "--videos / --data.root, else in OUTPUT_DIR/.clip_cache)")
    parser.add_argument("--accelerator", default="auto")
    parser.add_argument("--devices", default="1", help="number of devices, or 'auto'")
    parser.add_argument("--strategy", default="auto", help="e.g. ddp for several devices")
    parser.add_argument("--precision", default="32-true")
    parser.add_argument("--ensemble", choices=MODES, default="mean",
                        help="how several checkpoints combine: mean (equal weights), best_per_region (each "
                             "subject and region from the member with the best validation r), softmax (a softmax "
                             "over members' validation r); weights from each run's val_predictions.npz")
    parser.add_argument("--ensemble-level", dest="ensemble_level", choices=LEVELS, default="region",
                        help="softmax per region (each group's mean r) or per voxel")
    parser.add_argument("--temperature", type=float, default=0.3, help="softmax temperature (on r)")
    parser.add_argument("--cv-splits", dest="cv_splits", type=int, default=5,
                        help="parts of the validation videos for the cross-fitted estimate")
    args = parser.parse_args(argv)
    if not args.temperature > 0:
        parser.error(f"--temperature must be positive, got {args.temperature}")
    if args.cv_splits < 2:
        parser.error(f"--cv-splits must be at least 2, got {args.cv_splits}")
    return args


def _check_output_dir(out: Path, overwrite: bool) -> None:
    existing = [p for p in (*out.glob("*_track.zip"), out / "manifest.json", out / "predictions") if p.exists()]
    if existing and not overwrite:
        raise SystemExit(f"error: {out} already holds predictions ({', '.join(p.name for p in existing)}); "
                         "pass --overwrite to replace them")
    probe_dir = out
    while not os.path.lexists(probe_dir) and probe_dir != probe_dir.parent:
        probe_dir = probe_dir.parent  # the folder out would be created in
    try:  # before any prediction is computed: can the export be written there at all? (leaves nothing)
        os.rmdir(tempfile.mkdtemp(prefix=".write-check-", dir=probe_dir))
    except OSError as err:
        raise SystemExit(f"error: {out}: cannot write the predictions there ({err.strerror or err}); "
                         "choose another --output_dir") from err


def predict(args: argparse.Namespace) -> Path:
    out = Path(args.output_dir)
    _check_output_dir(out, args.overwrite)
    given = list(args.ckpt_path)
    args.ckpt_path = [str(_announce(resolve_checkpoint(path))) for path in args.ckpt_path]
    models = [load_encoding_model(path) for path in args.ckpt_path]
    layout: TargetLayout = models[0][0].layout
    for (model, _), path in zip(models[1:], args.ckpt_path[1:]):
        if model.layout != layout:
            raise SystemExit(f"error: {path} predicts {model.layout}, but {args.ckpt_path[0]} predicts {layout}: "
                             "an ensemble needs the same subjects, regions and voxels")
    data_hparams = models[0][1]
    root = Path(args.data_root or data_hparams.get("root", ""))
    clip_settings = ClipSettings.from_data_settings(data_hparams, args.video_backend).cache_arguments()

    if args.videos:
        all_videos = list_videos(Path(args.videos), subdir=None)
        first = 0
        cache_dir = args.cache_dir or str(Path(args.videos) / ".clip_cache")
    else:
        # The training run's selection, so the (subject, region) order matches the checkpoint's
        # even when a subject lacked a region (missing_rois: skip).
        release = load_release(root, data_hparams.get("track", "mini"), layout.subjects,
                               data_hparams["rois"] if "rois" in data_hparams else layout.rois,
                               missing_rois=data_hparams.get("missing_rois", "raise"),
                               non_finite=data_hparams.get("non_finite", "raise"))
        if TargetLayout(release.voxel_counts) != layout:
            raise SystemExit(f"error: the checkpoint's voxels {layout.voxel_counts} do not match the data in "
                             f"{root}: {release.voxel_counts}")
        if release.n_test == 0:
            raise SystemExit(f"error: {root} has no test videos (all {release.n_train} videos have fMRI)")
        # The same clip cache as training (all videos), read at the test rows.
        all_videos, first = release.video_paths, release.n_train
        cache_dir = args.cache_dir or _release_cache_dir(args, data_hparams, root, all_videos, clip_settings, out)
    videos = all_videos[first:]
    weights = None
    if len(models) > 1 or args.ensemble != "mean":
        plan = _plan_ensemble(args, given, models, layout, None if args.videos else release.n_train)
        if plan is not None:
            weights = plan.weights
            args.ensemble_record = plan.record
    clips = ClipCache(cache_dir, all_videos, **clip_settings)
    loader = DataLoader(ClipDataset(clips, np.arange(first, len(all_videos))), batch_size=args.batch_size,
                        num_workers=args.num_workers)

    # One shared folder for every rank's shards; only the first process clears it.
    shard_dir = out / ".prediction_shards"
    if rank_zero_only.rank == 0:
        shutil.rmtree(shard_dir, ignore_errors=True)
    trainer = pl.Trainer(accelerator=args.accelerator, devices=_devices(args.devices), strategy=args.strategy,
                         precision=args.precision, logger=False, enable_checkpointing=False,
                         callbacks=[ShardedPredictionWriter(shard_dir)], enable_model_summary=False)
    if trainer.is_global_zero and not clips.is_built:
        clips.build(progress=True)
    ensemble = EnsemblePredictor([model for model, _ in models], weights)
    try:
        with explain_out_of_memory("prediction", PREDICT_SETTINGS,
                                   {"--batch_size": args.batch_size, "--precision": args.precision}):
            trainer.predict(ensemble, loader, return_predictions=False)
    except BaseException:
        if trainer.is_global_zero:  # a failed run leaves no partial shards behind
            shutil.rmtree(shard_dir, ignore_errors=True)
        raise
    trainer.strategy.barrier()
    if not trainer.is_global_zero:
        sys.exit(0)
    preds = merge_shards(shard_dir, len(videos), layout.n_voxels, row_offset=first)
    shutil.rmtree(shard_dir, ignore_errors=True)
    return export(preds, layout, videos, args, out)


def _plan_ensemble(args, given: list[str], models, layout: TargetLayout, n_train: int | None):
    """Weights for ``--ensemble`` from the members' validation predictions, and the estimate, printed.

    ``mean`` needs no validation data: without every member's ``val_predictions.npz``, or with members
    that cannot be scored together, it averages and says why no estimate is given. Other modes stop
    with the error (a missing file, other voxels, validation videos a member trained on)."""
    try:
        members = [load_member(path, layout, data_hparams, given=original, n_train=n_train,
                               checkpoint_epoch=model.checkpoint_epoch)
                   for (model, data_hparams), path, original in zip(models, args.ckpt_path, given)]
        plan = plan_ensemble(members, layout, args.ensemble, args.ensemble_level, args.temperature, args.cv_splits)
    except (FileNotFoundError, EnsembleInputError) as err:
        if args.ensemble != "mean":
            raise
        if rank_zero_only.rank == 0:
            print(f"ensemble: mean of {len(models)} members, no validation estimate ({err})")
        return None
    if rank_zero_only.rank == 0:
        print("\n".join(plan.lines))
    return plan


def _release_cache_dir(args, data_hparams: dict, root: Path, videos: list[Path], clip_settings: dict,
                       out: Path) -> str:
    """Where to read or build the release's clip cache when ``--cache_dir`` is not given.

    A complete cache at the checkpoint's ``cache_dir`` (or beside the checkpoint's data) is read.
    Building writes files, so it happens only in a folder the command line named: beside the videos
    of ``--data.root``, else in ``OUT/.clip_cache``.
    """
    stored = [d for d in (data_hparams.get("cache_dir"), str(root / ".clip_cache")) if d]
    for folder in stored:
        if ClipCache(folder, videos, **clip_settings).is_built:
            return folder
    target = str(root / ".clip_cache") if args.data_root else str(out / ".clip_cache")
    print(f"clip cache: none built for these settings in {', '.join(stored)}; building one in {target}")
    return target


def export(preds: np.ndarray, layout: TargetLayout, videos: list[Path], args, out: Path) -> Path:
    """Write ``.npy`` files, the manifest and (for the test set) the validated submission zip.

    Everything is written into a staging folder inside ``out`` and checked there; only then does it
    replace what an earlier export left (``predict`` checked ``--overwrite``), so a failed export
    leaves the previous one intact, and a zip of other videos never sits beside these predictions.
    The manifest goes last, so a folder with a manifest holds one complete export.
    """
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".export-", dir=out))
    try:
        _write_export(preds, layout, videos, args, staging, out)
        _replace_export(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    print(f"predictions: {out / 'predictions'}/<subject>/<ROI>.npy; manifest: {out / 'manifest.json'}")
    return out


_EXPORT_NAMES = ("predictions", *(f"{name}.zip" for name in TRACK_NAMES.values()))


def _replace_export(staging: Path, out: Path) -> None:
    """Move the staged export into ``out``; the old one is moved aside first and removed last
    (symbolic links are moved or removed as links, never followed)."""
    old = Path(tempfile.mkdtemp(prefix=".export-old-", dir=out))
    try:
        for name in ("manifest.json", *_EXPORT_NAMES):
            if os.path.lexists(out / name):
                os.replace(out / name, old / name)
        for name in (*_EXPORT_NAMES, "manifest.json"):
            if os.path.lexists(staging / name):
                os.replace(staging / name, out / name)
    except BaseException:
        for name in ("manifest.json", *_EXPORT_NAMES):  # put the previous export back
            if os.path.lexists(old / name):
                if os.path.lexists(out / name):
                    _remove(out / name)
                os.replace(old / name, out / name)
        raise
    finally:
        shutil.rmtree(old, ignore_errors=True)


def _remove(path: Path) -> None:
    if path.is_symlink() or not path.is_dir():
        path.unlink()
    else:
        shutil.rmtree(path)


def _write_export(preds: np.ndarray, layout: TargetLayout, videos: list[Path], args, staging: Path,
                  out: Path) -> None:
    by_group = layout.split(preds.astype(np.float32))
    npy_dir = staging / "predictions"
    for subject, rois in by_group.items():
        (npy_dir / subject).mkdir(parents=True, exist_ok=True)
        for roi, array in rois.items():
            np.save(npy_dir / subject / f"{roi}.npy", array)
    manifest = {
        "videos": [Path(v).name for v in videos],
        "checkpoints": [str(Path(p).resolve()) for p in args.ckpt_path],
        "shapes": {f"{s}/{r}": list(a.shape) for s, rois in by_group.items() for r, a in rois.items()},
        "ensemble_size": len(args.ckpt_path),
    }
    if getattr(args, "ensemble_record", None):
        manifest["ensemble"] = args.ensemble_record
    if not args.videos:
        track = track_of(layout.voxel_counts)
        zip_path = write_submission_zip(build_submission(by_group), track, staging)
        validate_submission(zip_path, layout.voxel_counts, len(videos))
        manifest["submission"] = zip_path.name
        print(f"submission: {out / zip_path.name} ({TRACK_NAMES[track]}, {len(videos)} videos, checked)")
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=2))


def _announce(resolved: tuple[Path, str]) -> Path:
    """Print which checkpoint a --ckpt_path stands for (once, from the first process)."""
    if rank_zero_only.rank == 0:
        print(resolved[1])
    return resolved[0]


def _devices(value: str):
    return value if value == "auto" else int(value)


def main(argv=None) -> None:
    """The command line: bad input (missing files, mismatched data, a rejected submission) ends
    with one ``error:`` line naming the file and what was expected, not a traceback. So do folders
    that cannot be written (read-only, full, a link to nowhere): ``OSError`` names the path."""
    silence_library_noise()
    try:
        predict(parse_args(argv))
    except (OSError, ValueError, DeviceOutOfMemoryError) as err:  # DataLayoutError, SubmissionError, ...
        raise SystemExit(f"error: {err}") from err


if __name__ == "__main__":
    main()
