"""Side by side on the synthetic demo release: the ridge baseline, and end-to-end training
with several temporal stages, each a real ``train.py fit`` run.

    python -m benchmarks.demo_variants --max-epochs 8 --out benchmarks/results_demo.md

Prints and writes a markdown table: best validation score (noise-normalised, and raw r), the
ridge baseline's score on the same split, per-region scores, and wall time.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import train
from run_folder.contract import RunFolder

VARIANTS = {
    "ridge only (frozen features)": ["--config", "configs/ridge_baseline.yaml"],
    "fine-tune, mean, heads from ridge": ["--model.temporal.kind", "mean"],
    "fine-tune, weighted, heads from ridge": ["--model.temporal.kind", "weighted"],
    "fine-tune, weighted, random heads": ["--model.temporal.kind", "weighted", "--model.ridge.init_heads", "false"],
    "fine-tune, LSTM (random heads)": ["--model.temporal.kind", "lstm", "--model.temporal.lstm_hidden", "256"],
}
REGIONS = ("V1", "V2", "V3", "V4", "LOC", "EBA", "FFA", "STS", "PPA")


def run_variant(name: str, extra: list[str], max_epochs: int, save_dir: str) -> dict:
    start = time.perf_counter()
    cli = train.main(["fit", "--config", "configs/demo.yaml", "--trainer.enable_progress_bar", "false",
                      "--trainer.max_epochs", str(max_epochs), *extra,
                      "--trainer.logger.init_args.save_dir", save_dir,
                      "--trainer.logger.init_args.name", name.replace(" ", "_").replace(",", "")])
    seconds = time.perf_counter() - start
    summary = RunFolder(cli.trainer.log_dir).read_summary()
    ridge = cli.model.ridge_summary
    return {"name": name, "seconds": seconds, "score": summary.best_score,
            "r": summary.best.r.overall, "ridge": ridge.main if ridge else None,
            "rois": summary.best.score.rois, "best_epoch": summary.best_epoch}


def table(results: list[dict]) -> str:
    head = "| model | val score | val r | ridge score (same split) | " + " | ".join(REGIONS) + " | best epoch | wall s |"
    rule = "|" + "---|" * (6 + len(REGIONS))
    rows = [head, rule]
    for r in results:
        ridge = f"{r['ridge']:.3f}" if r["ridge"] is not None else "-"
        rois = " | ".join(f"{r['rois'].get(k, float('nan')):.2f}" for k in REGIONS)
        rows.append(f"| {r['name']} | {r['score']:.3f} | {r['r']:.3f} | {ridge} | {rois} | {r['best_epoch']} "
                    f"| {r['seconds']:.0f} |")
    return "\n".join(rows)


def plot_table(markdown: str, png_path: str | Path) -> None:
    """Grouped bars from the results table: one group per region, one bar per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    lines = [ln for ln in markdown.splitlines() if ln.startswith("| ") and not ln.startswith("| model")]
    fig, ax = plt.subplots(figsize=(11, 4.2))
    width = 0.8 / max(1, len(lines))
    for i, line in enumerate(lines):
        cells = [c.strip() for c in line.strip("|").split("|")]
        ax.bar(np.arange(len(REGIONS)) - 0.4 + (i + 0.5) * width, [float(c) for c in cells[4:4 + len(REGIONS)]],
               width, label=f"{cells[0]} ({cells[1]})")
    ax.set_xticks(np.arange(len(REGIONS)), REGIONS)
    ax.axhline(0, color="black", linewidth=0.5)
    ax.set_ylabel("noise-normalised r (validation)")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=3, frameon=False)
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--max-epochs", type=int, default=8)
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS), help="names from VARIANTS")
    parser.add_argument("--save-dir", default="runs/benchmarks")
    parser.add_argument("--out", default="benchmarks/results_demo.md")
    parser.add_argument("--plot-only", action="store_true", help="redraw the figure from an existing --out table")
    args = parser.parse_args()
    png = Path(args.out).with_suffix(".png")
    if args.plot_only:
        plot_table(Path(args.out).read_text(), png)
        return
    results = [run_variant(name, VARIANTS[name], args.max_epochs, args.save_dir) for name in args.variants]
    machine = f"{os.cpu_count()} CPU cores, {platform.processor() or platform.machine()}, torch CPU"
    text = (f"Command: `python -m benchmarks.demo_variants --max-epochs {args.max_epochs}`  \n"
            f"Machine: {machine}. Data: the demo synthetic release (160 train videos, 40 held out for "
            "validation, 3 subjects, 9 regions), random-init ResNet-18 at 64 px, 8 frames.\n\n"
            + table(results) + "\n")
    Path(args.out).write_text(text)
    plot_table(text, png)
    print(text)


if __name__ == "__main__":
    main()
