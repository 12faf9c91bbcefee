"""Fine-tuning end to end against FIR ridge on the simulator's movies (issue 27).

Conditions, each a real ``train.py fit`` (subprocess, timed) on one simulator movie release:

- ``ridge_fir``: frozen backbone + FIR ridge (configs/movies_ridge.yaml, lags 0-6 TRs)
- ``frozen_depthwise``: frozen backbone + learned depthwise temporal stage (HRF start, heads
  from a ridge)
- ``frozen_depthwise_noise``: the same started from noise (does it learn the lag?)
- ``e2e_depthwise``: configs/movies_finetune.yaml as shipped (frozen 1 epoch, then end to end)
- ``hrf_ridge``: where the depthwise runs start: heads from the ridge on the HRF-started stage's
  features, no gradient step; ``e2e_depthwise_low_lr``: the shipped config at lr 1e-4
- ``frozen_transformer`` / ``e2e_transformer``: the windowed transformer instead

Each run predicts the held-out season 7 (``predict_runs``), scored against the measured series
kept in ``synthetic_truth/`` (Pearson r per parcel over the concatenated held-out episodes, mean
over parcels and subjects). Intervals: a paired bootstrap over blocks of ``--block`` consecutive
held-out TRs (the held-out episodes are few; blocks longer than the HRF keep its autocorrelation),
every condition's r recomputed on the same resampled blocks. The depthwise stage's learned lag:
per parcel, the peak of the stage and head's impulse response (|head weights x kernels|),
against the simulator's HRF peak (5.0 s).

    python -m benchmarks.movie_finetune_study --work /tmp/study            # makes its own release
    python -m benchmarks.movie_finetune_study --work /tmp/study --report   # what has finished
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FINETUNE = ["--config", str(ROOT / "configs/movies_finetune.yaml")]
TRANSFORMER = ["--model.temporal", "transformer", "--model.project_dim", "64",
               "--model.d_model", "64"]
CONDITIONS = {
    "ridge_fir": ["--config", str(ROOT / "configs/movies_ridge.yaml")],
    "frozen_depthwise": [*FINETUNE, "--model.freeze_backbone_epochs", "-1"],
    "e2e_depthwise": FINETUNE,
    "frozen_depthwise_noise": [*FINETUNE, "--model.freeze_backbone_epochs", "-1",
                               "--model.temporal_init", "noise",
                               "--model.heads_from_ridge", "false"],
    "hrf_ridge": [*FINETUNE, "--model.freeze_backbone_epochs", "-1"],
    "e2e_depthwise_low_lr": [*FINETUNE, "--model.lr", "0.0001"],
    "e2e_transformer": [*FINETUNE, *TRANSFORMER],
    "frozen_transformer": [*FINETUNE, *TRANSFORMER, "--model.freeze_backbone_epochs", "-1"],
}
#: Put after the common settings: the heads from the ridge on the HRF-started depthwise stage's
#: features, no step taken (learning rate 0, one batch): what the fine-tuned runs start from.
LATE = {"hrf_ridge": ["--model.lr", "0", "--trainer.max_epochs", "1",
                      "--trainer.limit_train_batches", "1"]}


def make_release(root: Path) -> None:
    from simulator.movies import generate_movies
    from simulator.movies.config import MovieConfig

    config = MovieConfig(n_subjects=1, n_parcels=50, seasons=2, episodes_per_season=2,
                         test_episodes=2, films=(("life", 1, True),), run_minutes=1.5, fps=8.0,
                         size=64)
    generate_movies(root, config, progress=False)


def run_condition(name: str, root: Path, work: Path, extra: list[str]) -> dict:
    runs = work / "runs" / name
    args = [sys.executable, "train.py", "fit", *CONDITIONS[name], "--data.root", str(root),
            "--data.cache_dir", str(work / "cache"), "--trainer.accelerator", "cpu",
            "--trainer.logger.init_args.save_dir", str(runs), *extra, *LATE.get(name, [])]
    if name != "ridge_fir":
        args += ["--data.segment_trs", "16", "--data.segment_stride", "16"]
    start = time.perf_counter()
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{name}: train.py failed\n{done.stderr[-3000:]}")
    run = next((runs).glob("*/version_0"))
    return {"name": name, "run": str(run), "fit_wall_s": wall, "args": args[2:]}


def predict_test(result: dict, root: Path) -> dict:
    import torch

    from export.predict_movies import MODES
    from run_folder.contract import RunFolder

    run = Path(result["run"])
    config = RunFolder(run).read_config()
    model_class, data_class = MODES[config["mode"]]
    data = dict(config["data"], root=str(root))
    dm = data_class(**data)
    model = model_class.load_from_checkpoint(run / "checkpoints/last.ckpt", map_location="cpu")
    model.eval()
    torch.set_grad_enabled(False)
    out = {}
    for subject, episodes in dm.test_episodes("friends-s7").items():
        names = sorted(episodes)
        preds = model.predict_runs(dm, subject, [episodes[e] for e in names])
        out[subject] = dict(zip(names, preds, strict=True))
    lag = None
    if hasattr(model, "temporal") and hasattr(model.temporal, "kernel"):
        lag = {"peak_s": model.temporal.peak_lag_s(),
               "profile": model.temporal.lag_profile().tolist(), "rate_hz": model.hparams.rate_hz}
    return {"predictions": out, "lag": lag}


def learned_lag(run: Path, tr: float) -> str:
    """The depthwise stage's lag per parcel: the peak of |head weights x kernels| (the stage and
    the head's impulse response), median over parcels and subjects (s), and the share of
    parcels within one TR of the simulator's HRF peak; "" for other models."""
    import torch

    from simulator.movies.hrf import peak_time

    checkpoint = torch.load(run / "checkpoints/last.ckpt", map_location="cpu", weights_only=False)
    state = checkpoint["state_dict"]
    if "temporal.kernel" not in state:
        return ""
    kernel, rate = state["temporal.kernel"].double(), checkpoint["hyper_parameters"]["rate_hz"]
    peaks = np.concatenate([(state[k].double() @ kernel).abs().argmax(1).numpy() / rate
                            for k in state if k.startswith("heads.") and k.endswith(".weight")])
    within = np.mean(np.abs(peaks - peak_time()) <= tr)
    return f"{np.median(peaks):.1f} ({within:.0%} within 1 TR)"


def measured(root: Path, subject: str, episode: str) -> np.ndarray:
    y = np.load(root / "synthetic_truth" / subject / "test" / f"{episode}.npy").astype(np.float64)
    return (y - y.mean(0)) / np.where(y.std(0) > 0, y.std(0), 1)


def report(work: Path, root: Path, n_boot: int, block: int) -> list[str]:
    from scoring.pearson import pearson_r
    from simulator.movies.hrf import peak_time

    results = {p.stem: json.loads(p.read_text()) for p in sorted((work / "results").glob("*.json"))}
    names = [n for n in CONDITIONS if n in results]
    preds = {n: np.load(work / "results" / f"{n}.npz") for n in names}
    keys = sorted(preds[names[0]].files)  # "sub-01/s07e01a"
    target = np.concatenate([measured(root, *k.split("/")) for k in keys])
    clean = np.concatenate([np.load(root / "synthetic_truth/clean" / f"{k.split('/')[1]}.npy")
                            for k in keys])
    stacked = {n: np.concatenate([preds[n][k] for k in keys]).astype(np.float64) for n in names}
    r = {n: pearson_r(stacked[n], target) for n in names}
    ceiling = pearson_r(clean.astype(np.float64), target)
    rng = np.random.default_rng(0)
    starts = np.arange(0, len(target) - block + 1, block)
    boot = {n: [] for n in names}
    for _ in range(n_boot):
        rows = np.concatenate([np.arange(s, s + block) for s in rng.choice(starts, len(starts))])
        for n in names:
            boot[n].append(pearson_r(stacked[n][rows], target[rows]).mean())
    ref = "ridge_fir"
    lines = [f"Release: the movie simulator, 1 subject, 50 parcels, 1.5-minute movies (8 Friends "
             f"runs + a repeated film; season 7's {len(keys)} episodes held out, {len(target)} "
             f"TRs), TR 1.49 s, 64 px; Lite0 pretrained at 64 px, frames at 2 Hz. Test r: "
             f"Pearson r per parcel over the held-out episodes, mean over parcels. Ceiling "
             f"(noise-free series as the prediction): {ceiling.mean():.3f}. Difference: paired "
             f"bootstrap over blocks "
             f"of {block} TRs ({n_boot} resamples).", "",
             "| condition | test r | minus FIR ridge [95%] | fit wall (s) | "
             "learned lag per parcel, median (s) |",
             "|---|---:|---:|---:|---:|"]
    for n in names:
        if n == ref or ref not in names:
            diff = ""
        else:
            d = np.array(boot[n]) - np.array(boot[ref])
            lo, hi = np.percentile(d, [2.5, 97.5])
            diff = f"{r[n].mean() - r[ref].mean():+.3f} [{lo:+.3f}, {hi:+.3f}]"
        lag = learned_lag(Path(results[n]["run"]), 1.49)
        lines.append(f"| {n} | {r[n].mean():.3f} | {diff} | {results[n]['fit_wall_s']:.0f} | "
                     f"{lag} |")
    pairs = [("e2e_depthwise", "frozen_depthwise"), ("e2e_transformer", "frozen_transformer"),
             ("e2e_depthwise", "hrf_ridge"), ("e2e_depthwise_low_lr", "hrf_ridge"),
             ("e2e_depthwise_low_lr", "e2e_depthwise")]
    lines += ["", "Other paired differences (the same resampled blocks):", ""]
    for a, b in pairs:
        if a in names and b in names:
            d = np.array(boot[a]) - np.array(boot[b])
            lo, hi = np.percentile(d, [2.5, 97.5])
            lines.append(f"- {a} minus {b}: {r[a].mean() - r[b].mean():+.3f} "
                         f"[{lo:+.3f}, {hi:+.3f}]")
    machine = platform.processor() or platform.machine()
    lines += ["", f"Simulator HRF peak: {peak_time():.1f} s. Machine: {machine}, "
              f"{os.cpu_count()} CPUs shared with other jobs (load {os.getloadavg()[0]:.1f} when "
              "reported): "
              "wall times are upper bounds."]
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", required=True)
    parser.add_argument("--conditions", nargs="*", default=list(CONDITIONS))
    parser.add_argument("--extra", nargs="*",
                        default=["--data.image_size", "64", "--trainer.max_epochs", "4"])
    parser.add_argument("--report", action="store_true", help="only the table of what has finished")
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--block", type=int, default=10)
    parser.add_argument("--out", default=None, help="write the table there too")
    args = parser.parse_args(argv)
    work = Path(args.work)
    root = work / "release"
    if not args.report:
        if not root.is_dir():
            make_release(root)
        (work / "results").mkdir(parents=True, exist_ok=True)
        for name in args.conditions:
            if (work / "results" / f"{name}.json").is_file():
                continue
            pairs = list(zip(args.extra[::2], args.extra[1::2], strict=True))
            extra = [a for k, v in pairs if name != "ridge_fir" or k.startswith("--data.")
                     for a in (k, v)]
            result = run_condition(name, root, work, extra)
            out = predict_test(result, root)
            np.savez(work / "results" / f"{name}.npz",
                     **{f"{s}/{e}": p for s, eps in out["predictions"].items()
                        for e, p in eps.items()})
            result["lag"] = out["lag"]
            (work / "results" / f"{name}.json").write_text(json.dumps(result, indent=1))
            print(f"{name}: fit {result['fit_wall_s']:.0f} s", flush=True)
    lines = report(work, root, args.n_boot, args.block)
    print("\n".join(lines))
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
