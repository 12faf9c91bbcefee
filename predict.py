"""Predict voxel responses for the test videos (or any folder of mp4s) and export them.

    python predict.py --ckpt_path runs/demo/version_0 --output_dir out/     # the run's best checkpoint
    python predict.py --ckpt_path a.ckpt b.ckpt --data.root /data/algonauts2021 --output_dir out/ --devices 2
    python predict.py --ckpt_path a.ckpt --videos my_clips/ --output_dir out/

Writes ``OUT/predictions/<subject>/<ROI>.npy`` of shape (n_videos, n_voxels), ``OUT/manifest.json``
(videos in row order, checkpoints, shapes, the source; a BOLD Moments region merged from several
files: which file's voxels are which columns) and, for the 2021 release, ``OUT/mini_track.zip`` (or
``full_track.zip``) in the challenge's format, checked by the validator before the command finishes.
With ``--score`` the test videos are scored against the dataset's test responses (BOLD Moments, the
folder format): ``OUT/test_scores.json`` (overall, per subject, region and group; normalised score
and raw mean r) and one printed line.

    python predict.py --ckpt_path runs/bmd/version_0 --data.root /data/bmd --output_dir out/ --score
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
import sys
from pathlib import Path

from pytorch_lightning.utilities import rank_zero_only

from export.ensemble_weights import LEVELS, MODES
from export.export_folder import ExportFolderError, check_output_dir
from export.output_claim import OutputInUseError, claim_output_dir
from export.predict_movies import is_movie_run, predict_movie_submission
from export.predict_run import PredictionInputError, PredictionRequest, run_prediction
from export.submission import validate_submission
from runtime.accelerator_check import check_accelerator
from runtime.out_of_memory import DeviceOutOfMemoryError
from runtime.quiet import silence_library_noise
from runtime.termination import Terminated, exit_status, install, terminated_from

_DEFAULT = PredictionRequest(checkpoints=(), output_dir=Path())  # the options' defaults live there


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt_path", nargs="+", required=True,
                        help="checkpoint file(s) or run folder(s) (runs/demo/version_0: the best checkpoint "
                             "its summary.json names); several are averaged")
    parser.add_argument("--output_dir", required=True, help="folder for the zip, .npy files and manifest")
    parser.add_argument("--data.root", dest="data_root", default=_DEFAULT.data_root,
                        help="the release folder (default: the one the first checkpoint was trained on)")
    parser.add_argument("--videos", default=_DEFAULT.videos,
                        help="predict this folder of mp4s instead of the test set")
    parser.add_argument("--score", action="store_true",
                        help="score the test videos against the dataset's test responses (BOLD Moments, the "
                             "folder format, the simulator's): OUT/test_scores.json, one line printed; the "
                             "2021 files have none, which is said in one line")
    parser.add_argument("--split", choices=["friends-s7", "ood"], default="friends-s7",
                        help="a movie run's test set: Friends season 7, or the out-of-distribution films "
                             "(fmri_predictions_ood.zip)")
    parser.add_argument("--overwrite", action="store_true", help="replace predictions already in output_dir")
    parser.add_argument("--batch_size", type=int, default=_DEFAULT.batch_size)
    parser.add_argument("--num_workers", type=int, default=_DEFAULT.num_workers)
    parser.add_argument("--video_backend", choices=["decord", "pyav"], default=_DEFAULT.video_backend)
    parser.add_argument("--cache_dir", default=_DEFAULT.cache_dir,
                        help="clip cache folder (default: the training's cache if complete, else a new one beside "
                             "--videos / --data.root, else in OUTPUT_DIR/.clip_cache)")
    parser.add_argument("--accelerator", default=_DEFAULT.accelerator)
    parser.add_argument("--devices", default=str(_DEFAULT.devices), help="number of devices, or 'auto'")
    parser.add_argument("--strategy", default=_DEFAULT.strategy, help="e.g. ddp for several devices")
    parser.add_argument("--precision", default=_DEFAULT.precision)
    parser.add_argument("--ensemble", choices=MODES, default=_DEFAULT.ensemble,
                        help="how several checkpoints combine: mean (equal weights), best_per_region (each "
                             "subject and region from the member with the best validation r), softmax (a softmax "
                             "over members' validation r); weights from each run's val_predictions.npz")
    parser.add_argument("--ensemble-level", dest="ensemble_level", choices=LEVELS, default=_DEFAULT.ensemble_level,
                        help="softmax per region (each group's mean r) or per voxel")
    parser.add_argument("--temperature", type=float, default=_DEFAULT.temperature, help="softmax temperature (on r)")
    parser.add_argument("--cv-splits", dest="cv_splits", type=int, default=_DEFAULT.cv_splits,
                        help="parts of the validation videos for the cross-fitted estimate")
    args = parser.parse_args(argv)
    if not args.temperature > 0:
        parser.error(f"--temperature must be positive, got {args.temperature}")
    if args.cv_splits < 2:
        parser.error(f"--cv-splits must be at least 2, got {args.cv_splits}")
    if args.devices != "auto" and not args.devices.isdigit():
        parser.error(f"--devices must be a number of devices or 'auto', got {args.devices!r}")
    return args


def request_of(args: argparse.Namespace) -> PredictionRequest:
    """The parsed command line as the export's request."""
    return PredictionRequest(
        checkpoints=tuple(args.ckpt_path), output_dir=Path(args.output_dir), data_root=args.data_root,
        videos=args.videos, overwrite=args.overwrite, batch_size=args.batch_size, num_workers=args.num_workers,
        video_backend=args.video_backend, cache_dir=args.cache_dir, accelerator=args.accelerator,
        devices=args.devices if args.devices == "auto" else int(args.devices), strategy=args.strategy,
        precision=args.precision, ensemble=args.ensemble, ensemble_level=args.ensemble_level,
        temperature=args.temperature, cv_splits=args.cv_splits, score=args.score)


def predict(args: argparse.Namespace) -> Path | None:
    """Run the export (:func:`export.predict_run.run_prediction`); input that cannot give a valid
    export ends as one ``error:`` line (``SystemExit``), other errors propagate to :func:`main`."""
    out = Path(args.output_dir)
    stopped = (f"nothing new was exported to {out} (an export already there is unchanged); run the same "
               "command again (clips decoded so far stay in the clip cache)")
    try:
        with terminated_from(lambda: stopped):
            check_accelerator(args.accelerator, "--accelerator")
            check_output_dir(out, args.overwrite)  # a folder that cannot be written is named before it is claimed
            with claim_output_dir(out, first_process=rank_zero_only.rank == 0):  # one export at a time there
                return run_prediction(request_of(args), validate=validate_submission)
    except (PredictionInputError, ExportFolderError, OutputInUseError) as err:
        raise SystemExit(f"error: {err}") from err


def main(argv=None) -> None:
    """The command line: bad input (missing files, mismatched data, a rejected submission) ends
    with one ``error:`` line naming the file and what was expected, not a traceback. So do folders
    that cannot be written (read-only, full, a link to nowhere): ``OSError`` names the path."""
    silence_library_noise()
    try:
        args = parse_args(argv)
        if is_movie_run(args.ckpt_path):  # a movie run (mode: movies): the 2025 submission zip
            print(predict_movie_submission(args.ckpt_path, args.output_dir, args.data_root, args.overwrite,
                                           split=args.split))
            return
        predict(args)
    except (OSError, ValueError, DeviceOutOfMemoryError) as err:  # DataLayoutError, SubmissionError, ...
        raise SystemExit(f"error: {err}") from err


if __name__ == "__main__":
    install()  # SIGTERM stops prediction and exits 143, never 0
    try:
        main()
    except Terminated as e:
        sys.exit(exit_status(e))
