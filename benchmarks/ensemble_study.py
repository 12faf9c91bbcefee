"""The ensemble study: do validation-weighted ensembles beat their best member on the simulator's test set,
and does the cross-fitted estimate predict by how much?

    python -m benchmarks.ensemble_study                          # CPU, 5 seeds + 5 folds, ~50 min on 2 cores
    python -m benchmarks.ensemble_study --seeds 0 1 2 --folds 0  # fewer members, no k-fold set

Two sets of members, all ``configs/demo.yaml`` (pretrained EfficientNet-Lite0) shrunk to
``--epochs`` epochs at ``--image-size`` px and ``--num-frames`` frames on the demo release
(``data/synthetic_demo``: 160 videos with fMRI, 24 test videos whose noise-free responses and 10
repetitions the simulator keeps):

* ``holdout``: one run per seed (``--seed_everything``), all validated on the same last 40 videos;
  their weights and the cross-fitted estimate come from those videos (``shared`` case).
* ``kfold``: ``kfold.py --folds K`` (``data.split kfold``), each fold model weighted on its own
  fold; the estimate is the out-of-fold score (``kfold`` case, ``export/ensemble.py``).

Each member and each ensemble (``predict.py --ensemble mean | best_per_region | softmax`` per region
and per voxel, temperature 0.3) predicts the test videos through ``predict.py``; every prediction is
scored against the simulator's test responses with the true noise ceiling
(:func:`simulator.truth.score_against_truth`, ``score``), and each ensemble is compared with the best
single member (the one a user would pick: highest validation score) by a paired bootstrap over the
test videos (:func:`benchmarks.accuracy_bootstrap.paired_bootstrap`). Runs already trained are reused
(the study resumes).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
from pathlib import Path

import numpy as np
import torch

import kfold
import predict
import train
from benchmarks.accuracy import read_predictions
from benchmarks.accuracy_bootstrap import paired_bootstrap
from export.ensemble_weights import combine
from run_folder.contract import RunFolder
from scoring.layout import TargetLayout
from simulator.truth import load_ground_truth, score_against_truth

MODES = [("mean", "region"), ("best_per_region", "region"), ("softmax", "region"), ("softmax", "voxel")]


def member_overrides(args) -> list[str]:
    return ["--trainer.max_epochs", str(args.epochs), "--data.image_size", str(args.image_size),
            "--data.num_frames", str(args.num_frames), "--data.num_workers", str(args.num_workers),
            "--trainer.enable_progress_bar", "false"]


def train_holdout(args, seed: int) -> Path:
    run = args.work / "holdout" / f"seed{seed}"
    if not RunFolder(run).finished:
        train.main(["fit", "--config", "configs/demo.yaml", "--seed_everything", str(seed), *member_overrides(args),
                    "--trainer.logger.init_args.save_dir", str(args.work),
                    "--trainer.logger.init_args.name", "holdout",
                    "--trainer.logger.init_args.version", f"seed{seed}", "--ckpt_path", "last"])
    return run


def train_kfold(args) -> list[Path]:
    out = args.work / "kfold"
    kfold.main(["--config", "configs/demo.yaml", "--folds", str(args.folds), "--out", str(out), "--no-ensemble",
                "--", *member_overrides(args)])
    return [kfold.fold_dir(out, k) for k in range(args.folds)]


def layout_of(run: Path) -> TargetLayout:
    return RunFolder(run).read_predictions().layout


def run_predict(ckpts: list[Path], out: Path, args, *extra: str) -> dict:
    predict.predict(predict.parse_args(["--ckpt_path", *map(str, ckpts), "--output_dir", str(out), "--overwrite",
                                        "--accelerator", "cpu", "--num_workers", str(args.num_workers), *extra]))
    return json.loads((out / "manifest.json").read_text())


def study_set(name: str, runs: list[Path], args, truth, layout: TargetLayout) -> dict:
    """Every member alone and every ensemble mode: test scores, estimates, bootstrap against the best member."""
    members = []
    for run in runs:
        out = run / "test_predictions"
        if not (out / "manifest.json").is_file():
            run_predict([run], out, args)
        preds = read_predictions(out, layout)
        members.append({"run": str(run), "preds": preds, "val_score": RunFolder(run).read_summary().best_score,
                        "test": score_against_truth(preds, truth, layout)["score"]["overall"]})
    best = max(range(len(members)), key=lambda i: members[i]["val_score"])
    ensembles = []
    for mode, level in MODES:
        label = mode if mode != "softmax" else f"softmax ({level}, T=0.3)"
        out = args.work / f"ensemble_{name}_{mode}_{level}"
        manifest = _finished(out, runs) or run_predict(runs, out, args, "--ensemble", mode, "--ensemble-level", level,
                                                       "--temperature", "0.3")
        preds = read_predictions(out, layout)
        weights = _weights_from_manifest(manifest, layout) if mode == "mean" else None
        if weights is not None:  # the export is the members' weighted sum (the tests check every mode)
            np.testing.assert_allclose(preds, combine(np.stack([m["preds"] for m in members]), weights),
                                       rtol=1e-4, atol=1e-4)
        diff, low, high = paired_bootstrap(preds, members[best]["preds"], truth, layout, n_boot=args.n_boot)
        estimate = manifest["ensemble"]["estimate"]
        ensembles.append({"label": label, "mode": mode, "level": level,
                          "test": score_against_truth(preds, truth, layout)["score"]["overall"],
                          "diff": diff, "low": low, "high": high, "estimate": estimate,
                          "case": manifest["ensemble"]["case"],
                          "val_scores": [m["val_score"] for m in manifest["ensemble"]["members"]]})
    return {"name": name, "members": [{k: v for k, v in m.items() if k != "preds"} for m in members],
            "best": best, "ensembles": ensembles}


def _finished(out: Path, runs: list[Path]) -> dict | None:
    """The manifest of an ensemble exported before from these members (the study resumes), else None."""
    path = out / "manifest.json"
    if not path.is_file():
        return None
    manifest = json.loads(path.read_text())
    members = [m["checkpoint"] for m in manifest.get("ensemble", {}).get("members", [])]
    return manifest if len(members) == len(runs) and all(str(r.resolve()) in c for r, c in zip(runs, members)) else None


def _weights_from_manifest(manifest: dict, layout: TargetLayout) -> np.ndarray:
    n = manifest["ensemble_size"]
    return np.full((n, layout.n_voxels), 1.0 / n)


def table(result: dict) -> str:
    members, best = result["members"], result["best"]
    kfold_case = result["ensembles"][0]["case"] == "kfold"
    lines = []
    est_name = "out-of-fold score (estimate)" if kfold_case else "cross-fitted val score (estimate)"
    lines.append(f"| | val score ({'own fold' if kfold_case else 'same 40 videos'}) | "
                 f"{'-' if kfold_case else 'in-sample val score'} | {est_name} | estimated gain over best member | "
                 "test score | test gain over best member [95% CI] |")
    lines.append("|---|---|---|---|---|---|---|")
    for i, m in enumerate(members):
        tag = " (best by validation)" if i == best else ""
        lines.append(f"| member {i}: {Path(m['run']).name}{tag} | {m['val_score']:.4f} | | | | {m['test']:.4f} | |")
    best_val = members[best]["val_score"]
    for e in result["ensembles"]:
        est = e["estimate"]
        value = est["out_of_fold_score"] if kfold_case else est["cross_fitted_score"]
        in_sample = "" if kfold_case else f"{est['in_sample_score']:.4f}"
        gain = "" if kfold_case else f"{value - best_val:+.4f}"
        lines.append(f"| ensemble: {e['label']} | | {in_sample} | {value:.4f} | {gain} | {e['test']:.4f} | "
                     f"{e['diff']:+.4f} [{e['low']:+.4f}, {e['high']:+.4f}] |")
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--work", default="runs/ensemble_study")
    p.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2, 3, 4])
    p.add_argument("--folds", type=int, default=5, help="k-fold members (0: no k-fold set)")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--num-frames", type=int, default=8)
    p.add_argument("--num-workers", type=int, default=1)
    p.add_argument("--n-boot", type=int, default=2000)
    p.add_argument("--out", default="benchmarks/results_ensemble.md")
    args = p.parse_args(argv)
    args.work = Path(args.work)
    results_path = args.work / "results.json"
    sets = []
    if args.seeds:
        sets.append(("holdout", [train_holdout(args, s) for s in args.seeds]))
    if args.folds:
        sets.append(("kfold", train_kfold(args)))
    layout = layout_of(sets[0][1][0])
    truth = load_ground_truth("data/synthetic_demo", "mini", layout)
    results = [study_set(name, runs, args, truth, layout) for name, runs in sets]
    results_path.write_text(json.dumps(results, indent=1))

    command = shlex.join(["python", "-m", "benchmarks.ensemble_study", *(argv if argv is not None else sys.argv[1:])])
    machine = f"{os.cpu_count()} CPU cores ({platform.processor() or platform.machine()}), torch {torch.__version__} CPU"
    text = [f"Command: `{command}`  \nMachine: {machine}, shared with other work.\n",
            f"Members: `configs/demo.yaml` (pretrained EfficientNet-Lite0) for {args.epochs} epochs at "
            f"{args.image_size} px, {args.num_frames} frames, on the demo release (160 videos with fMRI, 24 test "
            "videos; 3 subjects x 9 regions, 859 voxels). Test score: the noise-normalised score against the "
            "simulator's measured test responses with the true noise ceiling (`score_against_truth`); "
            "val score: the runs' `val/score` (estimated ceilings). Gains are over the best single member "
            "picked by validation score; intervals: paired bootstrap over the 24 test videos "
            f"({args.n_boot} resamples).\n"]
    for result in results:
        heading = ("Holdout members (different seeds, the same 40 validation videos)" if result["name"] == "holdout"
                   else f"K-fold members ({len(result['members'])} folds of the 160 videos, each weighted on its own fold)")
        text += [f"### {heading}\n", table(result), ""]
    out = Path(args.out)
    out.write_text("\n".join(text) + "\n")
    print("\n".join(text))


if __name__ == "__main__":
    main()
