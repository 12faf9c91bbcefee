"""Bayesian hyperparameter search (Optuna TPE) over any config keys; every trial is a normal training run.

    python sweep.py --config configs/demo.yaml --space configs/sweeps/demo_space.yaml --trials 20
    python sweep.py --config configs/demo.yaml --space configs/sweeps/demo_space.yaml --trials 20 \\
        --storage postgresql://user:pw@db/optuna --study-name demo     # many workers, many machines
    python sweep.py ... --grid --subjects sub01 sub02 --cell 3        # one study per subject x region
    python sweep.py ... -- --trainer.max_epochs 3                     # fixed overrides for every trial

Trials are scored by their best ``val/score`` (``summary.json``) and stopped early by a median
pruner. Workers started with the same ``--storage`` and ``--study-name`` share one study (joined
with ``load_if_exists``) until it holds ``--trials`` finished trials. Runs land in
``<out>/<study name>/trial_NNNN/``; the study itself in ``<out>/study.db`` by default.
``--keep-checkpoints N`` deletes the checkpoints of all finished trials but the N best.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import optuna
import torch

from runtime.quiet import silence_library_noise
from sweeps.checkpoint_cleanup import KeepBestCheckpoints
from sweeps.dead_workers import fail_dead_workers, record_worker
from sweeps.grid import grid_cells
from sweeps.space import SearchSpaceError, load_space
from sweeps.study import StopAtTotal, n_finished, open_study
from sweeps.trial_run import run_trial


def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, list[str]]:
    argv = list(sys.argv[1:] if argv is None else argv)
    fixed = []
    if "--" in argv:  # everything after "--" goes to every trial's train.py unchanged
        fixed, argv = argv[argv.index("--") + 1:], argv[:argv.index("--")]
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--config", action="append", required=True, help="train.py config file(s), composed in order")
    p.add_argument("--space", required=True, help="search-space YAML (see configs/sweeps/)")
    p.add_argument("--trials", type=int, default=20, help="finished trials the study should hold, all workers together")
    p.add_argument("--out", default="runs/sweeps", help="folder for the trials' runs and the default SQLite study")
    p.add_argument("--study-name", default=None, help="default: the search-space file's name")
    p.add_argument("--storage", default=None, help="Optuna storage URL shared by the workers "
                   "(default sqlite:///<out>/study.db; postgresql://..., or journal:/shared/study.journal)")
    p.add_argument("--seed", type=int, default=None, help="TPE sampler seed (give each worker its own)")
    p.add_argument("--no-prune", action="store_true", help="train every trial to the end")
    p.add_argument("--prune-warmup", type=int, default=1, help="epochs (0-based) before a trial may be pruned")
    p.add_argument("--startup-trials", type=int, default=5, help="random trials before TPE and pruning start")
    p.add_argument("--grid", action="store_true", help="one study per subject x region (the 2021 layout) "
                   "instead of one model for all of them")
    p.add_argument("--subjects", nargs="+", default=None, help="the grid's subjects")
    p.add_argument("--rois", nargs="+", default=None, help="the grid's regions (default the nine mini-track ones)")
    p.add_argument("--cell", type=int, default=None, help="run only this grid cell (a SLURM array task id)")
    p.add_argument("--keep-checkpoints", type=int, default=None, metavar="N",
                   help="keep the checkpoints of the N best trials only (summaries and logs stay); default all")
    args = p.parse_args(argv)
    if args.trials < 1:
        p.error(f"--trials must be at least 1, got {args.trials}")
    if args.keep_checkpoints is not None and args.keep_checkpoints < 0:
        p.error(f"--keep-checkpoints must be 0 or more trials, got {args.keep_checkpoints}")
    if args.prune_warmup < 0:
        p.error(f"--prune-warmup must be 0 or more epochs, got {args.prune_warmup}")
    return args, fixed


def run_study(study: optuna.Study, space, base_args: list[str], runs_dir: Path, trials: int, prune: bool,
              keep_checkpoints: int | None = None) -> None:
    """Run trials until the study holds ``trials`` finished ones (this worker's and others');
    with ``keep_checkpoints``, only that many best trials keep their checkpoints. Trials left
    RUNNING by a dead worker of this machine are marked failed first and not counted."""
    fail_dead_workers(study)
    remaining = trials - n_finished(study)
    if remaining <= 0:
        print(f"study {study.study_name!r} already holds {trials} finished trials")
        return
    callbacks = [StopAtTotal(trials)]
    if keep_checkpoints is not None:
        callbacks.append(KeepBestCheckpoints(keep_checkpoints))

    def objective(trial: optuna.Trial) -> float:
        record_worker(trial)
        return run_trial(trial, space, base_args, runs_dir, study.study_name, prune)

    study.optimize(objective, n_trials=remaining, callbacks=callbacks,
                   catch=(torch.cuda.OutOfMemoryError,), show_progress_bar=True)


def report(study: optuna.Study) -> dict:
    """Print and return the study's best trial."""
    states = [t.state.name for t in study.get_trials(deepcopy=False)]
    counts = {s: states.count(s) for s in sorted(set(states))}
    done = [t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE]
    if not done:
        print(f"study {study.study_name!r}: no completed trial yet ({counts})")
        return {"study": study.study_name, "trials": counts}
    best = study.best_trial
    record = {"study": study.study_name, "trials": counts, "best_value": best.value, "best_trial": best.number,
              "best_params": best.params, "best_run_dir": best.user_attrs.get("run_dir")}
    print(json.dumps(record, indent=2))
    return record


def main(argv: list[str] | None = None) -> list[optuna.Study]:
    args, fixed = parse_args(argv)
    silence_library_noise()
    try:
        space = load_space(args.space)
    except SearchSpaceError as err:
        sys.exit(f"error: {err}")
    if missing := [c for c in args.config if not Path(c).is_file()]:
        sys.exit(f"error: config file(s) not found: {missing}")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("pytorch_lightning").setLevel(logging.WARNING)
    out = Path(args.out)
    storage = args.storage or f"sqlite:///{(out / 'study.db').resolve()}"
    name = args.study_name or Path(args.space).stem
    base_args = [a for c in args.config for a in ("--config", c)] + fixed
    jobs = [(name, base_args)]
    if args.grid:
        cells = grid_cells(args.subjects, args.rois)
        if args.cell is not None and not 0 <= args.cell < len(cells):
            sys.exit(f"error: --cell {args.cell} is outside the grid's {len(cells)} cells")
        cells = cells if args.cell is None else [cells[args.cell]]
        jobs = [(f"{name}-{cell.name}", base_args + cell.overrides) for cell in cells]
    studies = []
    for study_name, job_args in jobs:
        study = open_study(storage, study_name, seed=args.seed, prune=not args.no_prune,
                           prune_warmup_epochs=args.prune_warmup,
                           n_startup_trials=args.startup_trials)
        run_study(study, space, job_args, out, args.trials, prune=not args.no_prune,
                  keep_checkpoints=args.keep_checkpoints)
        report(study)
        studies.append(study)
    return studies


if __name__ == "__main__":
    main()
