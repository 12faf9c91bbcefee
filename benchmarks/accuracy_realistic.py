"""The accuracy study, second edition: a pretrained and a random-init backbone on the realistic brain.

    python -m benchmarks.accuracy_realistic                 # ~2 h on 2 CPU cores
    python -m benchmarks.accuracy_realistic --tables-only   # rescore the saved runs

Both backbones run :mod:`benchmarks.accuracy` (each model a real ``train.py fit``, its best
checkpoint predicting the test videos through ``predict.py``) on one synthetic release with
the simulator's realistic noise profile and sub01's voxel counts. Every row is then compared
with the pretrained network's frozen ridge (per-voxel penalty) and with its own backbone's, by a
paired bootstrap over the test videos: the same resampled videos score both models, and the
difference of the noise-normalised test score is reported with its 95% interval.

Writes ``--out`` (markdown), a forest plot of the differences beside it (``.png``), and keeps
each backbone's own table (``results_accuracy_realistic_<backbone>.md``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks import accuracy
from benchmarks.accuracy_bootstrap import bootstrap_scores, differences, load_model_predictions
from scoring.layout import MINI_TRACK_ROIS
from simulator.truth import load_ground_truth

RIDGE = "ridge head (ours), frozen features"
REGION_RIDGE = "ridge head (ours), one penalty per region"

#: The release both backbones read; stated in the table's header.
DATA_ARGS = ["--data", "data/synthetic_accuracy_realistic", "--n-train", "500", "--n-test", "102",
             "--n-subjects", "3", "--noise-profile", "realistic", "--voxel-counts", "sub01",
             "--voxel-scale", "1.0", "--n-val", "100", "--image-size", "96", "--num-frames", "8",
             "--max-epochs", "5"]


@dataclass(frozen=True)
class Backbone:
    label: str
    args: list[str]
    work: str
    models: list[str]


BACKBONES = [
    Backbone("pretrained Lite0", ["--backbone", "tf_efficientnet_lite0", "--pretrained", "true"],
             "runs/accuracy_lite0",
             [RIDGE, "ridge head (ours), one penalty per region", "fine-tune, learned frame weights",
              "fine-tune, learned weights, heads from ridge", "fine-tune, mean over frames",
              "fine-tune, learned weights + frame differences", "fine-tune, LSTM"]),
    Backbone("random-init ResNet-18", ["--backbone", "resnet18", "--pretrained", "false"],
             "runs/accuracy_resnet18",
             [RIDGE, "ridge head (ours), one penalty per region", "fine-tune, learned frame weights",
              "fine-tune, learned weights, heads from ridge"]),
]


def study_models(b: Backbone, backbones: list[Backbone], extra_models: list[str]) -> list[str]:
    """The models ``b`` runs: its own, and the extra ones (the alternatives) on the first backbone."""
    return b.models + (extra_models if b is backbones[0] else [])


def run_backbones(backbones: list[Backbone], extra_models: list[str]) -> None:
    """Each backbone's study through :func:`benchmarks.accuracy.main` (resumes from saved results),
    then the extra models on the first backbone (after every backbone's own models)."""
    calls = [(b, b.models) for b in backbones]
    if extra_models:
        calls.append((backbones[0], study_models(backbones[0], backbones, extra_models)))
    for b, models in calls:
        accuracy.main([*DATA_ARGS, *b.args, "--work", b.work, "--models", *models,
                       "--out", f"benchmarks/results_accuracy_realistic_{accuracy.slug(b.label)}.md"])


def val_curve(run_dir: str | Path) -> list[float]:
    """``val/score`` at each validation of a run, in order, from its TensorBoard events."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    events.Reload()
    if "val/score" not in events.Tags()["scalars"]:
        return []
    return [e.value for e in sorted(events.Scalars("val/score"), key=lambda e: e.step)]


def load_rows(backbones: list[Backbone], extra_models: list[str]):
    """Every finished model's test predictions and result, keyed ``"<backbone>: <model>"``."""
    preds, results, layout = {}, {}, None
    for b in backbones:
        for name in study_models(b, backbones, extra_models):
            row, path = f"{b.label}: {name}", Path(b.work) / "results" / f"{accuracy.slug(name)}.json"
            if not path.is_file():
                print(f"not run yet, left out: {row}")
                continue
            preds[row], layout_, _ = load_model_predictions(Path(b.work), name)
            if layout is not None and layout_ != layout:
                raise SystemExit(f"{row} predicts other voxels than {next(iter(preds))}")
            layout, results[row] = layout_, json.loads(path.read_text())
    return preds, results, layout


def write_outputs(backbones: list[Backbone], extra_models: list[str], data_root: Path, n_boot: int,
                  out: Path) -> str:
    """The markdown tables (returned) and the figure (``out`` with ``.png``)."""
    preds, results, layout = load_rows(backbones, extra_models)
    truth = load_ground_truth(data_root, "mini", layout)
    reference = f"{backbones[0].label}: {RIDGE}"
    per_region = f"{backbones[0].label}: {REGION_RIDGE}"
    # One set of resampled scores serves every comparison: the same draws, scored once per model.
    scores, rois_scored = bootstrap_scores(preds, truth, layout, n_boot, progress=True)
    vs_ref = differences(scores, rois_scored, reference)
    vs_region = differences(scores, rois_scored, per_region)
    vs_own = dict(vs_ref)
    for b in backbones[1:]:
        mine = {row: v for row, v in scores.items() if row.startswith(b.label)}
        vs_own.update(differences(mine, rois_scored, f"{b.label}: {RIDGE}"))

    lines = ["| model | test score | minus pretrained frozen ridge | minus pretrained ridge, one penalty per "
             "region | minus own frozen ridge | val score | val/score by epoch | wall s |", "|---|" + "---|" * 7]
    for row, res in results.items():
        val = f"{res['val_score']:.3f}" if res.get("val_score") is not None else "-"
        curve = " ".join(f"{v:.3f}" for v in val_curve(res["run_dir"])) if "fine-tune" in row else "-"
        lines.append(f"| {row} | {res['test']['score']['overall']:.3f} | {interval(vs_ref[row])} | "
                     f"{interval(vs_region[row])} | {interval(vs_own[row])} | {val} | {curve} | "
                     f"{res['seconds']:.0f} |")
    rois = [r for r in MINI_TRACK_ROIS if r in layout.rois]
    roi_lines = ["| model | " + " | ".join(rois) + " |", "|---|" + "---|" * len(rois)]
    for row in results:
        if row != reference:
            cells = (vs_ref[row]["rois"][roi] for roi in rois)
            roi_lines.append(f"| {row} | " + " | ".join(f"{d:+.3f}{_star(lo, hi)}" for d, lo, hi in cells) + " |")
    plot(vs_ref, reference, rois, out.with_suffix(".png"))
    return ("\n".join(lines) + "\n\nPer region, minus the pretrained frozen ridge (*: the 95% interval excludes "
            "0):\n\n" + "\n".join(roi_lines) + "\n")


def _star(low: float, high: float) -> str:
    return " *" if low > 0 or high < 0 else ""


def interval(entry: dict) -> str:
    """``+0.072 [+0.054, +0.090] *``: a difference, its 95% interval, and a star if it excludes 0."""
    return f"{entry['diff']:+.3f} [{entry['low']:+.3f}, {entry['high']:+.3f}]{_star(entry['low'], entry['high'])}"


def plot(diffs: dict[str, dict], reference: str, rois: list[str], png: Path) -> None:
    """Left: each model's score minus the reference's with its 95% interval. Right: the same per region."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in diffs if r != reference][::-1]
    fig, (ax, heat) = plt.subplots(1, 2, figsize=(16, 0.42 * len(rows) + 1.8),
                                   gridspec_kw={"width_ratios": [1, 1.1]})
    for i, row in enumerate(rows):
        d = diffs[row]
        colour = "tab:green" if d["low"] > 0 else "tab:red" if d["high"] < 0 else "tab:grey"
        ax.errorbar(d["diff"], i, xerr=[[d["diff"] - d["low"]], [d["high"] - d["diff"]]], fmt="o", color=colour,
                    capsize=3)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    ax.set_xlabel("test score minus the pretrained frozen ridge (95% paired bootstrap interval)")
    values = np.array([[diffs[row]["rois"][roi][0] for roi in rois] for row in rows])
    limit = np.abs(values).max()
    image = heat.imshow(values, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto", origin="lower")
    for (i, j), v in np.ndenumerate(values):
        low, high = diffs[rows[i]]["rois"][rois[j]][1:]
        heat.text(j, i, f"{v:+.2f}{_star(low, high).strip()}", ha="center", va="center", fontsize=7)
    heat.set_xticks(range(len(rois)), rois)
    heat.set_yticks([])
    heat.set_title("per region (*: interval excludes 0)", fontsize=9)
    fig.colorbar(image, ax=heat, fraction=0.03)
    fig.suptitle(f"Realistic-noise release: every model against {reference}", fontsize=10)
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tables-only", action="store_true", help="do not train; score the saved runs")
    p.add_argument("--extra-models", nargs="*", default=[],
                   help="more benchmarks.accuracy MODELS for the pretrained backbone (the alternatives)")
    p.add_argument("--n-boot", type=int, default=1000)
    p.add_argument("--out", default="benchmarks/results_accuracy_realistic.md")
    args = p.parse_args(argv)
    if not args.tables_only:
        run_backbones(BACKBONES, args.extra_models)
    out = Path(args.out)
    root = Path(DATA_ARGS[1])
    meta = json.loads((root / "synthetic_truth" / "meta.json").read_text())
    counts = [sum(meta["voxel_counts"][s][r] for r in MINI_TRACK_ROIS) for s in meta["subjects"]]
    # The command that trains (a --tables-only rescoring reads that command's runs).
    given = [a for a in (sys.argv[1:] if argv is None else argv) if a != "--tables-only"]
    command = shlex.join(["python", "-m", "benchmarks.accuracy_realistic", *given])
    header = (f"Command: `{command}`  \nMachine: {os.cpu_count()} CPU cores, {platform.machine()}, torch CPU. "
              f"Data: the simulator's realistic noise profile and sub01's voxel counts, "
              f"{meta['n_train']} training videos with 3 repetitions ({DATA_ARGS[DATA_ARGS.index('--n-val') + 1]} "
              f"held out for model selection), {meta['n_test']} test videos with "
              f"{meta['config']['n_test_repetitions']} repetitions, {len(meta['subjects'])} subjects "
              f"({', '.join(map(str, counts))} voxels in the nine regions). Every model: "
              f"{' '.join(DATA_ARGS[DATA_ARGS.index('--image-size'):])} (px, frames, epochs), the demo config "
              "otherwise; each fine-tuned row is selected on val/score (best epoch) and scored once on the test "
              f"videos. Intervals: paired bootstrap over the test videos, {args.n_boot} resamples.\n\n")
    text = header + write_outputs(BACKBONES, args.extra_models, root, args.n_boot, out)
    out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
