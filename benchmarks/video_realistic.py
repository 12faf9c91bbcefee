"""Inflated Lite0 (a 3-D network) against the frame-wise Lite0 on the realistic simulator (issue 28).

    python -m benchmarks.video_realistic                  # ~50 min on a shared 2-core CPU
    python -m benchmarks.video_realistic --tables-only    # rescore the saved runs

The simulator's STS and V3 are driven by motion (frame-to-frame change), the other regions by
what is in the frames: the regions where a network that sees time should help. Both backbones
start from the same ImageNet Lite0 weights (the pip package's; the inflated one's 3x3/5x5 kernels
spread over 3 frames, :mod:`lightning_modules.networks.inflate`), read the same clips (one clip
cache) and run :mod:`benchmarks.accuracy`'s models, each a real ``train.py fit`` whose best
checkpoint predicts the test videos through ``predict.py``:

- frame-wise Lite0: ridge on frozen features; fine-tuned with learned frame weights; fine-tuned
  with learned weights + frame differences (the frame-wise way of seeing motion);
- inflated Lite0: ridge on frozen features; fine-tuned with learned frame weights;
- the same inflated rows reading 8 consecutive frames at 15 Hz (a 0.47 s window centred in each
  clip, ``data.frame_sampling: consecutive``) instead of 8 frames spread over the 3 s clip, so that
  its 3-frame kernels see frame-to-frame change at a video network's rate.

Every row is compared with the frame-wise ridge, and the inflated rows with their frame-wise
counterparts, by a paired bootstrap over the test videos (the same resamples score both), overall
and per region. Writes ``--out`` (markdown) with a forest plot beside it (``.png``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
from pathlib import Path

from benchmarks import accuracy
from benchmarks.accuracy_bootstrap import bootstrap_scores, differences
from benchmarks.accuracy_realistic import Backbone, interval, load_rows, plot
from scoring.layout import MINI_TRACK_ROIS
from simulator.truth import load_ground_truth

RIDGE = "ridge head (ours), frozen features"
WEIGHTS = "fine-tune, learned frame weights"
DIFFS = "fine-tune, learned weights + frame differences"
#: Smaller than the accuracy study's release (500/102 videos, 3 subjects, 96 px, 5 epochs) so that
#: the five models finish in about 50 minutes on the shared CPU; the sampling is the data module's
#: default (frames spread over each clip), the same for both backbones.
DATA_ARGS = ["--data", "data/synthetic_video_realistic", "--n-train", "300", "--n-test", "60",
             "--n-subjects", "2", "--noise-profile", "realistic", "--voxel-counts", "sub01",
             "--voxel-scale", "1.0", "--n-val", "60", "--image-size", "64", "--num-frames", "8",
             "--max-epochs", "4", "--num-workers", "1"]

FRAMEWISE = Backbone("frame-wise Lite0", ["--backbone", "tf_efficientnet_lite0", "--pretrained", "true"],
                     "runs/video_realistic_framewise", [RIDGE, WEIGHTS, DIFFS])
INFLATED = Backbone("inflated Lite0", ["--backbone", "inflated/tf_efficientnet_lite0", "--pretrained", "true"],
                    "runs/video_realistic_inflated", [RIDGE, WEIGHTS])
#: benchmarks.accuracy's models reading consecutive frames at 15 Hz (registered in its table here).
AT_15_HZ = ["--data.frame_sampling", "consecutive", "--data.frame_rate", "15"]
RIDGE_15, WEIGHTS_15 = f"{RIDGE}, 15 Hz consecutive frames", f"{WEIGHTS}, 15 Hz consecutive frames"
accuracy.MODELS.setdefault(RIDGE_15, ("mini", [*accuracy.MODELS[RIDGE][1], *AT_15_HZ]))
accuracy.MODELS.setdefault(WEIGHTS_15, ("mini", [*accuracy.MODELS[WEIGHTS][1], *AT_15_HZ]))
INFLATED_15 = Backbone("inflated Lite0", INFLATED.args, "runs/video_realistic_inflated_15hz",
                       [RIDGE_15, WEIGHTS_15])
BACKBONES = [FRAMEWISE, INFLATED, INFLATED_15]
#: (row, reference) pairs reported with their own intervals, overall and per region.
PAIRS = [(f"{INFLATED.label}: {RIDGE}", f"{FRAMEWISE.label}: {RIDGE}"),
         (f"{INFLATED.label}: {WEIGHTS}", f"{FRAMEWISE.label}: {WEIGHTS}"),
         (f"{INFLATED.label}: {WEIGHTS}", f"{FRAMEWISE.label}: {DIFFS}"),
         (f"{INFLATED.label}: {RIDGE_15}", f"{INFLATED.label}: {RIDGE}"),
         (f"{INFLATED.label}: {WEIGHTS_15}", f"{INFLATED.label}: {WEIGHTS}"),
         (f"{INFLATED.label}: {WEIGHTS_15}", f"{FRAMEWISE.label}: {DIFFS}"),
         (f"{FRAMEWISE.label}: {DIFFS}", f"{FRAMEWISE.label}: {WEIGHTS}")]


def run_backbones(argv_extra: list[str]) -> None:
    """Each backbone's models through :func:`benchmarks.accuracy.main` (resumes from saved results)."""
    for b in BACKBONES:
        accuracy.main([*DATA_ARGS, *argv_extra, *b.args, "--work", b.work, "--models", *b.models,
                       "--out", f"benchmarks/results_{Path(b.work).name}.md"])


def region_cells(entry: dict, rois: list[str]) -> str:
    return " | ".join(f"{d:+.3f} [{lo:+.3f}, {hi:+.3f}]{' *' if lo > 0 or hi < 0 else ''}"
                      for d, lo, hi in (entry["rois"][roi] for roi in rois))


def write_outputs(data_root: Path, n_boot: int, out: Path) -> str:
    """The markdown tables (returned) and the figure (``out`` with ``.png``)."""
    preds, results, layout = load_rows(BACKBONES, [])
    truth = load_ground_truth(data_root, "mini", layout)
    reference = f"{FRAMEWISE.label}: {RIDGE}"
    scores, rois_scored = bootstrap_scores(preds, truth, layout, n_boot, progress=True)
    vs_ref = differences(scores, rois_scored, reference)
    rois = [r for r in MINI_TRACK_ROIS if r in layout.rois]
    lines = ["| model | test score | minus frame-wise frozen ridge | val score | val/score by epoch | wall s |",
             "|---|---|---|---|---|---|"]
    from benchmarks.accuracy_realistic import val_curve

    for row, res in results.items():
        val = f"{res['val_score']:.3f}" if res.get("val_score") is not None else "-"
        curve = " ".join(f"{v:.3f}" for v in val_curve(res["run_dir"])) if "fine-tune" in row else "-"
        lines.append(f"| {row} | {res['test']['score']['overall']:.3f} | {interval(vs_ref[row])} | {val} | "
                     f"{curve} | {res['seconds']:.0f} |")
    pair_lines = ["| comparison | overall | " + " | ".join(rois) + " |", "|---|---|" + "---|" * len(rois)]
    for row, ref in PAIRS:
        if row in scores and ref in scores:
            d = differences({row: scores[row], ref: scores[ref]}, rois_scored, ref)[row]
            pair_lines.append(f"| {row} minus {ref} | {interval(d)} | {region_cells(d, rois)} |")
    roi_lines = ["| model | " + " | ".join(rois) + " |", "|---|" + "---|" * len(rois)]
    for row in results:
        if row != reference:
            roi_lines.append(f"| {row} | {region_cells(vs_ref[row], rois)} |")
    per_roi = ["| model | " + " | ".join(rois) + " |", "|---|" + "---|" * len(rois)]
    for row in results:
        s = scores[row][-1]
        per_roi.append(f"| {row} | " + " | ".join(f"{s[1 + rois_scored.index(r)]:.3f}" for r in rois) + " |")
    plot(vs_ref, reference, rois, out.with_suffix(".png"))
    return ("\n".join(lines) + "\n\nTest score per region (noise-normalised, mean over subjects):\n\n"
            + "\n".join(per_roi) + "\n\nThe inflated network against its frame-wise counterparts, with 95% "
            "paired-bootstrap intervals (*: excludes 0):\n\n" + "\n".join(pair_lines)
            + "\n\nPer region, minus the frame-wise frozen ridge:\n\n" + "\n".join(roi_lines) + "\n")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tables-only", action="store_true", help="do not train; score the saved runs")
    p.add_argument("--n-boot", type=int, default=1000)
    p.add_argument("--out", default="benchmarks/results_video_realistic.md")
    args, extra = p.parse_known_args(argv)
    if not args.tables_only:
        run_backbones(extra)
    root = Path(DATA_ARGS[1])
    meta = json.loads((root / "synthetic_truth" / "meta.json").read_text())
    counts = [sum(meta["voxel_counts"][s][r] for r in MINI_TRACK_ROIS) for s in meta["subjects"]]
    given = [a for a in (sys.argv[1:] if argv is None else argv) if a != "--tables-only"]
    command = shlex.join(["python", "-m", "benchmarks.video_realistic", *given])
    option = dict(zip(DATA_ARGS[::2], DATA_ARGS[1::2], strict=True))
    header = (f"Command: `{command}`  \nMachine: {os.cpu_count()} CPU cores, {platform.machine()}, torch CPU, "
              "shared with other jobs (wall times are loaded ones). Data: the simulator's realistic noise "
              f"profile and sub01's voxel counts, {meta['n_train']} training videos with 3 repetitions "
              f"({option['--n-val']} held out for model selection), {meta['n_test']} test videos with "
              f"{meta['config']['n_test_repetitions']} repetitions, {len(meta['subjects'])} subjects "
              f"({', '.join(map(str, counts))} voxels in the nine regions); smaller than the accuracy study's "
              f"(500 + 102 videos, 3 subjects, 96 px, 5 epochs) to fit the shared CPU. Every model: "
              f"{option['--image-size']} px, {option['--num-frames']} frames spread over each clip (the data "
              "module's default sampling; the rows named '15 Hz consecutive frames': 8 consecutive frames at "
              f"15 Hz centred in the clip), {option['--max-epochs']} epochs, the demo config otherwise (one "
              "frozen epoch, backbone rate x0.3); each fine-tuned row is selected on val/score (best epoch) "
              f"and scored once on the test videos. Intervals: paired bootstrap over the test videos, "
              f"{args.n_boot} resamples.\n\n")
    out = Path(args.out)
    text = header + write_outputs(root, args.n_boot, out)
    out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
