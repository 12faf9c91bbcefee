"""The demo release, side by side in one run: the old random-init ResNet-18 and the pretrained
EfficientNet-Lite0 (weights from its pip package), each with its ridge baseline on the same
frozen network, each a real ``train.py fit`` run of ``configs/demo.yaml``.

    python -m benchmarks.pretrained_demo --out benchmarks/results_pretrained_demo.md

Writes a markdown table: the ridge baseline's ``val/ridge/score``, the fine-tuned model's
``val/score`` at every epoch (noise-normalised), best and last, per-region scores at the best
epoch, and wall time (ridge features and fit included).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import train
from run_folder.contract import RunFolder

VARIANTS = {
    "random-init ResNet-18, 64 px (old demo)": ["--config", "configs/demo_random_resnet18.yaml"],
    "pretrained Lite0, 96 px (configs/demo.yaml)": [],
    "pretrained Lite0, 112 px, 8 epochs": ["--data.image_size", "112", "--trainer.max_epochs", "8"],
    # Investigation variants (not run by default).
    "pretrained Lite0, 96 px, heads from ridge": ["--model.ridge.init_heads", "true"],
    "pretrained Lite0, 96 px, backbone always frozen": ["--model.optimisation.freeze_backbone_epochs", "-1"],
}
DEFAULT = list(VARIANTS)[1::-1]  # the demo first
REGIONS = ("V1", "V2", "V3", "V4", "LOC", "EBA", "FFA", "STS", "PPA")


def scalars(run_dir: Path, tag: str) -> list[float]:
    """Every value TensorBoard logged under ``tag`` in a run folder, in step order."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    acc.Reload()
    return [e.value for e in acc.Scalars(tag)] if tag in acc.Tags()["scalars"] else []


def run_variant(name: str, extra: list[str], max_epochs: int | None, save_dir: str) -> dict:
    epochs = ["--trainer.max_epochs", str(max_epochs)] if max_epochs else []
    start = time.perf_counter()
    cli = train.main(["fit", "--config", "configs/demo.yaml", *extra, *epochs,
                      "--trainer.enable_progress_bar", "false",
                      "--trainer.logger.init_args.save_dir", save_dir,
                      "--trainer.logger.init_args.name", "".join(c if c.isalnum() else "_" for c in name)])
    seconds = time.perf_counter() - start
    run_dir = Path(cli.trainer.log_dir)
    summary = RunFolder(run_dir).read_summary()
    ridge = cli.model.ridge_summary
    return {"name": name, "seconds": seconds, "curve": scalars(run_dir, "val/score"),
            "ridge_curve": scalars(run_dir, "val/ridge/score"), "ridge": ridge.main if ridge else None,
            "best": summary.best_score, "last": summary.last.score.overall,
            "best_epoch": summary.best_epoch, "rois": summary.best.score.rois,
            "ridge_rois": {k: ridge.score.rois.get(k) for k in REGIONS} if ridge else {}, "run_dir": str(run_dir)}


def table(results: list[dict]) -> str:
    rows = ["| backbone | ridge val/ridge/score | fine-tuned val/score, best (epoch) | last | "
            "val/score by epoch | wall s |", "|---|---|---|---|---|---|"]
    for r in results:
        ridge = f"{r['ridge']:.3f}" if r["ridge"] is not None else "-"
        curve = " ".join(f"{v:.3f}" for v in r["curve"])
        rows.append(f"| {r['name']} | {ridge} | {r['best']:.3f} ({r['best_epoch']}) | {r['last']:.3f} | {curve} "
                    f"| {r['seconds']:.0f} |")
    rows += ["", "Per region at the best epoch (fine-tuned / ridge):", "",
             "| backbone | " + " | ".join(REGIONS) + " |", "|---|" + "---|" * len(REGIONS)]
    for r in results:
        cells = []
        for k in REGIONS:
            ridge = r["ridge_rois"].get(k)
            cells.append(f"{r['rois'].get(k, float('nan')):.2f} / " + (f"{ridge:.2f}" if ridge is not None else "-"))
        rows.append(f"| {r['name']} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", nargs="*", default=DEFAULT, choices=list(VARIANTS))
    parser.add_argument("--max-epochs", type=int, default=None, help="default: the demo's own")
    parser.add_argument("--save-dir", default="runs/benchmarks/pretrained_demo")
    parser.add_argument("--out", default="benchmarks/results_pretrained_demo.md")
    args = parser.parse_args()
    load = os.getloadavg()
    results = []
    for name in args.variants:
        results.append(run_variant(name, VARIANTS[name], args.max_epochs, args.save_dir))
        print(json.dumps(results[-1], indent=1), flush=True)
    machine = (f"{os.cpu_count()} CPU cores, {platform.processor() or platform.machine()}, torch CPU, "
               f"load average at start {load[0]:.1f} (shared with other jobs); no GPU")
    variants = " ".join(f"'{v}'" for v in args.variants)
    epochs = f" --max-epochs {args.max_epochs}" if args.max_epochs else ""
    text = (f"Command: `python -m benchmarks.pretrained_demo --variants {variants}{epochs}`  \n"
            f"Machine: {machine}. Data: the demo synthetic release (160 train videos, 40 held out for "
            "validation, 3 subjects, 9 regions), 8 frames, `configs/demo.yaml` otherwise.\n\n"
            + table(results) + "\n")
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
