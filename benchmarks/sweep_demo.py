"""Does a sweep pay? The best ``val/score`` of N Optuna trials vs the demo config's defaults,
every run (defaults included) under the same epoch budget, on the synthetic demo release.

    python -m benchmarks.sweep_demo --trials 20 --max-epochs 3 --out benchmarks/results_sweep.md
    python -m benchmarks.sweep_demo --report-only ...   # rewrite the table from the study so far

Writes a markdown table: default vs best score, the best trial's values, trials completed and
pruned, and wall times.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import optuna

import sweep
import train
from run_folder.contract import RunFolder

SPACE = "configs/sweeps/demo_space.yaml"


def run_default(work: Path, max_epochs: int) -> tuple[float, float]:
    """Train the demo defaults once; (best val/score, wall seconds). Reuses an earlier result."""
    record = work / "default.json"
    if record.is_file():
        saved = json.loads(record.read_text())
        return saved["score"], saved["seconds"]
    start = time.perf_counter()
    cli = train.main(["fit", "--config", "configs/demo.yaml", "--trainer.max_epochs", str(max_epochs),
                      "--trainer.enable_progress_bar", "false",
                      "--trainer.logger.init_args.save_dir", str(work / "runs"),
                      "--trainer.logger.init_args.name", "default"])
    seconds = time.perf_counter() - start
    score = RunFolder(cli.trainer.log_dir).read_summary().best_score
    record.write_text(json.dumps({"score": score, "seconds": seconds, "run_dir": cli.trainer.log_dir}))
    return score, seconds


def write_table(out: Path, study: optuna.Study, default: tuple[float, float], max_epochs: int,
                trials: int, sweep_seconds: float | None, prune_warmup: int = 1) -> None:
    all_trials = study.get_trials(deepcopy=False)
    complete = [t for t in all_trials if t.state == optuna.trial.TrialState.COMPLETE]
    pruned = [t for t in all_trials if t.state == optuna.trial.TrialState.PRUNED]
    failed = [t for t in all_trials if t.state == optuna.trial.TrialState.FAIL]
    best = study.best_trial if complete else None
    minutes = [((t.datetime_complete - t.datetime_start).total_seconds() / 60) for t in complete + pruned]
    lines = [
        "# Sweep vs defaults on the demo release",
        "",
        f"`python -m benchmarks.sweep_demo --trials {trials} --max-epochs {max_epochs} "
        f"--prune-warmup {prune_warmup}` "
        f"(search space `{SPACE}`, TPE with 5 random start-up trials, median pruning from epoch {prune_warmup}; "
        f"every run {max_epochs} epochs; {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPU cores shared with other jobs, no GPU).",
        "",
        "| run | best val/score | wall time |",
        "| --- | --- | --- |",
        f"| demo defaults (`configs/demo.yaml`) | {default[0]:.4f} | {default[1] / 60:.1f} min |",
    ]
    if best is not None:
        sweep_time = f"{sweep_seconds / 60:.1f} min" if sweep_seconds else f"{sum(minutes):.1f} min (sum of trials)"
        lines.append(f"| best of {len(all_trials)} sweep trials (trial {best.number}) | {best.value:.4f} | "
                     f"{sweep_time} for the whole sweep |")
    lines += ["", f"Trials: {len(complete)} completed, {len(pruned)} pruned, {len(failed)} failed; "
              f"median {sorted(minutes)[len(minutes) // 2] if minutes else float('nan'):.1f} min per trial."]
    if best is not None:
        lines += ["", "Best trial's values:", "", "| key | value |", "| --- | --- |"]
        lines += [f"| `{k}` | {v:.3g} |" if isinstance(v, float) else f"| `{k}` | {v} |" for k, v in best.params.items()]
        ranked = sorted(complete, key=lambda t: t.value, reverse=True)
        lines += ["", "Completed trials, best first: " + ", ".join(f"{t.value:.3f}" for t in ranked)]
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--max-epochs", type=int, default=3)
    p.add_argument("--prune-warmup", type=int, default=1, help="epochs before a trial may be pruned (sweep.py)")
    p.add_argument("--work", default="runs/benchmarks/sweep_demo")
    p.add_argument("--out", default="benchmarks/results_sweep.md")
    p.add_argument("--report-only", action="store_true", help="only rewrite the table from the study so far")
    args = p.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    default = run_default(work, args.max_epochs)
    sweep_args = ["--config", "configs/demo.yaml", "--space", SPACE, "--trials", str(args.trials),
                  "--out", str(work), "--study-name", f"demo-{args.max_epochs}ep", "--seed", "0",
                  "--prune-warmup", str(args.prune_warmup), "--",
                  "--trainer.max_epochs", str(args.max_epochs), "--trainer.enable_progress_bar", "false"]
    seconds = None
    if args.report_only:
        study = optuna.load_study(study_name=f"demo-{args.max_epochs}ep", storage=f"sqlite:///{work / 'study.db'}")
    else:
        start = time.perf_counter()
        (study,) = sweep.main(sweep_args)
        seconds = time.perf_counter() - start
    write_table(Path(args.out), study, default, args.max_epochs, args.trials, seconds, args.prune_warmup)


if __name__ == "__main__":
    main()
