"""K-fold training in one command: the K fold models, then their ensemble's test-set predictions.

    python kfold.py --config configs/demo.yaml --folds 10 --out runs/kfold_demo
    python kfold.py --config configs/demo.yaml --folds 5 --out runs/kfold_demo --ensemble softmax \\
        -- --trainer.max_epochs 3                # arguments after "--" go to every fold's train.py
    python kfold.py ... --fold 3                 # one fold only (what a SLURM array task runs)
    python kfold.py ... --ensemble-only          # the ensemble of the folds already trained

Fold ``i`` is a normal ``train.py fit`` run with ``--data.split kfold --data.n_folds K --data.fold i``
(the split's ``data.seed`` the same for every fold, so the K validation folds are disjoint and
cover every video with fMRI), written to ``OUT/fold_NN/`` with its ``summary.json`` and the
``val_predictions.npz`` of its own held-out fold. A fold whose ``summary.json`` exists is done; an
interrupted one resumes from its ``last.ckpt`` (``--ckpt_path last``) when run again.

Then ``predict.py --ensemble MODE`` combines the folds' best checkpoints into ``OUT/ensemble/``
(submission zip, ``.npy`` files, manifest). Each member is weighted on its own held-out fold (the
``kfold`` case of ``export/ensemble.py``): ``mean`` (the 2021 solution's 10-fold average),
``best_per_region`` or ``softmax``. No video is held out by every fold model, so the estimate
printed beside each fold's score is the out-of-fold score (each fold scored by the one model that
never trained on it, averaged over folds): the K-fold estimate of one fold model, which the ensemble of all K
usually exceeds (BENCHMARKS.md measures by how much on the simulator's test set).

On SLURM the folds are a job array (``scripts/slurm_kfold.sbatch``), followed by one ensemble job.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from export.ensemble_weights import LEVELS, MODES
from run_folder.contract import SUMMARY_FILE, RunFolder
from runtime.termination import Terminated, exit_status, install


def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, list[str]]:
    argv = list(sys.argv[1:] if argv is None else argv)
    fixed: list[str] = []
    if "--" in argv:  # everything after "--" goes to every fold's train.py unchanged
        fixed, argv = argv[argv.index("--") + 1:], argv[:argv.index("--")]
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--config", action="append", required=True, help="train.py config file(s), composed in order")
    p.add_argument("--folds", type=int, default=10, help="K, the number of folds (and of ensemble members)")
    p.add_argument("--out", required=True, help="folder for the fold runs (OUT/fold_NN) and the ensemble (OUT/ensemble)")
    p.add_argument("--fold", type=int, default=None, help="train only this fold, no ensemble (a SLURM array task)")
    p.add_argument("--ensemble-only", action="store_true", help="train nothing: ensemble the finished folds")
    p.add_argument("--no-ensemble", action="store_true", help="train the folds, predict nothing")
    p.add_argument("--ensemble", choices=MODES, default="mean", help="how the folds combine (predict.py --ensemble)")
    p.add_argument("--ensemble-level", dest="ensemble_level", choices=LEVELS, default="region")
    p.add_argument("--temperature", type=float, default=0.3)
    p.add_argument("--accelerator", default="auto", help="for the ensemble's prediction")
    p.add_argument("--num_workers", type=int, default=2, help="for the ensemble's prediction")
    args = p.parse_args(argv)
    if args.folds < 2:
        p.error(f"--folds must be at least 2, got {args.folds}")
    if args.fold is not None and not 0 <= args.fold < args.folds:
        p.error(f"--fold must be in 0..{args.folds - 1} (--folds {args.folds}), got {args.fold}")
    if args.ensemble_only and args.fold is not None:
        p.error("--ensemble-only and --fold exclude each other")
    if missing := [c for c in args.config if not Path(c).is_file()]:
        p.error(f"config file(s) not found: {missing}")
    return args, fixed


def fold_dir(out: Path, fold: int) -> Path:
    return out / f"fold_{fold:02d}"


def fold_train_args(args: argparse.Namespace, fixed: list[str], fold: int) -> list[str]:
    """``train.py`` arguments of one fold: the configs, the fixed overrides, the fold's split, and its
    run folder ``OUT/fold_NN`` (resumed from its ``last.ckpt`` if there is one)."""
    out = Path(args.out)
    return ["fit", *(a for c in args.config for a in ("--config", c)), *fixed,
            "--data.split", "kfold", "--data.n_folds", str(args.folds), "--data.fold", str(fold),
            "--trainer.logger.class_path", "pytorch_lightning.loggers.TensorBoardLogger",
            "--trainer.logger.init_args.save_dir", str(out.parent),
            "--trainer.logger.init_args.name", out.name,
            "--trainer.logger.init_args.version", fold_dir(out, fold).name,
            # the fold's own folder: Lightning's SLURM requeue checkpoints there are this fold's alone
            "--trainer.default_root_dir", str(fold_dir(out, fold)),
            "--ckpt_path", "last"]


def check_fold_settings(args: argparse.Namespace, fold: int) -> None:
    """Refuse a fold folder whose ``config.yaml`` has another split than this command's (another K:
    its validation videos are not this fold's, and an ensemble would mix K-fold models)."""
    run = RunFolder(fold_dir(Path(args.out), fold))
    data = run.read_config().get("data") or {}
    if not data:
        return
    wanted = {"split": "kfold", "n_folds": args.folds, "fold": fold}
    differ = [f"data.{k} {data.get(k)!r} (this command: {v!r})" for k, v in wanted.items() if data.get(k) != v]
    if differ:
        raise SystemExit(f"error: {run.config_path} was trained with {', '.join(differ)}: a fold of another "
                         f"split; use another --out for --folds {args.folds}, or the --folds it was trained with")


def train_fold(args: argparse.Namespace, fixed: list[str], fold: int) -> Path:
    """Train one fold unless its run is finished (``summary.json``); returns its run folder."""
    import train

    run = fold_dir(Path(args.out), fold)
    check_fold_settings(args, fold)  # a fold trained (or begun) with another K is not this fold
    if RunFolder(run).finished:
        print(f"fold {fold}: done before ({RunFolder(run).summary_path})")
        return run
    print(f"fold {fold} of {args.folds}: training into {run}", flush=True)
    train.main(fold_train_args(args, fixed, fold))
    if not RunFolder(run).finished:
        raise SystemExit(f"error: fold {fold}'s run {run} ended without a {SUMMARY_FILE}")
    return run


def ensemble_args(args: argparse.Namespace) -> list[str]:
    """``predict.py`` arguments: every fold's run folder (its best checkpoint), the mode, ``OUT/ensemble``."""
    out = Path(args.out)
    return ["--ckpt_path", *(str(fold_dir(out, k)) for k in range(args.folds)),
            "--output_dir", str(out / "ensemble"), "--overwrite", "--ensemble", args.ensemble,
            "--ensemble-level", args.ensemble_level, "--temperature", str(args.temperature),
            "--accelerator", args.accelerator, "--num_workers", str(args.num_workers)]


def _interrupted(args: argparse.Namespace, fold: int) -> str:
    """What a SIGTERM during ``fold`` leaves, and the command that goes on from there."""
    out = Path(args.out)
    done = [k for k in range(args.folds) if RunFolder(fold_dir(out, k)).finished]
    last = RunFolder(fold_dir(out, fold)).last_checkpoint
    resume = f"resumes from {last}" if last.is_file() else "starts again (no epoch had finished)"
    return (f"stopped by SIGTERM while training fold {fold} of {args.folds} ({fold_dir(out, fold)}); "
            f"folds finished: {done or 'none'}; run the same kfold.py command again: finished folds are "
            f"kept and fold {fold} {resume}")


def main(argv: list[str] | None = None) -> Path | None:
    args, fixed = parse_args(argv)
    out = Path(args.out)
    if not args.ensemble_only:
        folds = range(args.folds) if args.fold is None else [args.fold]
        for fold in folds:
            try:
                train_fold(args, fixed, fold)
            except Terminated as err:
                raise Terminated(_interrupted(args, fold)) from err
        if args.fold is not None or args.no_ensemble:
            return None
    missing = [str(fold_dir(out, k)) for k in range(args.folds) if not RunFolder(fold_dir(out, k)).finished]
    if missing:
        raise SystemExit(f"error: {len(missing)} of {args.folds} folds are not trained yet (no {SUMMARY_FILE} in "
                         f"{', '.join(missing)}); train them first (python kfold.py ... --fold K)")
    for k in range(args.folds):
        check_fold_settings(args, k)
    import predict

    predict.main(ensemble_args(args))
    return out / "ensemble"


if __name__ == "__main__":
    install()  # SIGTERM exits 143, never 0
    try:
        main()
    except Terminated as e:
        sys.exit(exit_status(e))
