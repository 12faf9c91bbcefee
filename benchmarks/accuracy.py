"""The accuracy study: which model recovers the simulated brain best, scored on the test videos.

    python -m benchmarks.accuracy                                   # CPU, small backbone, ~40 min
    python -m benchmarks.accuracy --n-train 1000 --n-test 102 --image-size 160 --num-frames 16 \\
        --accelerator gpu --max-epochs 15 --out benchmarks/results_accuracy_gpu.md

On a synthetic release (generated on first use) every model is a real ``train.py fit`` run
(the demo config plus the model's flags), selected on a held-out part of the training videos
by ``val/score``, and its best checkpoint predicts the test videos through ``predict.py``.
The seed-style pipeline (PCA-100 + ElasticNet per subject and region, on the same frozen
features the ridge head reads) is fitted here. Each model is then scored against the
simulator's truth (:func:`simulator.truth.score_against_truth`): raw r with
the measured test responses, the noise-normalised score, r with the noise-free responses,
and the fraction of the attainable r reached, overall and per region.

Writes a markdown table to ``--out``, a figure beside it (``.png``), and each model's
result to ``<work>/results/<model>.json`` as soon as it is known: an interrupted study
resumes where it stopped.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

import predict
import train
from benchmarks import seed_route
from datamodules.algonauts import AlgonautsDataModule
from export.checkpoint import load_encoding_model
from lightning_modules.baseline.frozen_features import extract_features
from run_folder.contract import RunFolder
from scoring.layout import MINI_TRACK_ROIS, TargetLayout
from simulator import DEMO_CONFIG, generate_dataset
from simulator.truth import load_ground_truth, score_against_truth

#: name -> (track, extra ``train.py fit`` flags); "seed" names the PCA + ElasticNet route.
MODELS: dict[str, tuple[str, list[str] | None]] = {
    "seed-style: PCA-100 + ElasticNet per region": ("mini", None),
    "ridge head (ours), frozen features": ("mini", ["--config", "configs/ridge_baseline.yaml"]),
    "ridge head (ours), PCA-100 features": ("mini", ["--config", "configs/ridge_baseline.yaml",
                                                     "--model.ridge.pca", "100"]),
    "ridge head (ours), one penalty per region": ("mini", ["--config", "configs/ridge_baseline.yaml",
                                                           "--model.ridge.alpha_per", "region"]),
    "fine-tune, mean over frames": ("mini", ["--model.temporal.kind", "mean", "--model.ridge.init_heads", "false"]),
    "fine-tune, learned frame weights": ("mini", ["--model.temporal.kind", "weighted", "--model.ridge.init_heads", "false"]),
    "fine-tune, LSTM": ("mini", ["--model.temporal.kind", "lstm", "--model.temporal.lstm_hidden", "256"]),
    "fine-tune, learned weights + frame differences": ("mini", ["--model.temporal.kind", "weighted", "--model.temporal.frame_diff", "true"]),
    "fine-tune, learned weights, heads from ridge": ("mini", ["--model.temporal.kind", "weighted", "--model.ridge.init_heads", "true"]),
    # Alternatives to plain fine-tuning (the second edition's study): learned weights, random heads, plus one change.
    **{f"fine-tune, {what}": ("mini", ["--model.temporal.kind", "weighted", "--model.ridge.init_heads", "false", *flags])
       for what, flags in {
           "frozen backbone (heads and frame weights by gradient)": ["--model.optimisation.freeze_backbone_epochs", "-1"],
           "backbone rate x0.1": ["--model.optimisation.backbone_lr_scale", "0.1"],
           "last 3 blocks only": ["--model.optimisation.train_last_blocks", "3"],
           "layer-wise rate decay 0.7": ["--model.optimisation.layer_lr_decay", "0.7"],
           "MSE mix 0.5": ["--model.optimisation.mse_weight", "0.5"],
           "repetition augmentation": ["--data.repetitions", "random_subset"],
           "10 epochs": ["--trainer.max_epochs", "10"],
       }.items()},
    "WB: seed-style": ("full", None),
    "WB: ridge head (ours)": ("full", ["--config", "configs/ridge_baseline.yaml"]),
    "WB: ridge head (ours), PCA-100 features": ("full", ["--config", "configs/ridge_baseline.yaml",
                                                         "--model.ridge.pca", "100"]),
    "WB: ridge head (ours), one penalty per region": ("full", ["--config", "configs/ridge_baseline.yaml",
                                                               "--model.ridge.alpha_per", "region"]),
    "WB: fine-tune, learned frame weights": ("full", ["--model.temporal.kind", "weighted", "--model.ridge.init_heads", "false"]),
}
COLUMNS = (*MINI_TRACK_ROIS, "WB")


def slug(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name).strip("_").lower()


def ensure_dataset(root: Path, args) -> None:
    if (root / "participants_data_v2021").is_dir():
        return
    config = dataclasses.replace(DEMO_CONFIG, n_train=args.n_train, n_test=args.n_test,
                                 n_subjects=args.n_subjects, seed=args.data_seed,
                                 noise_profile=args.noise_profile, voxel_counts=args.voxel_counts,
                                 voxel_scale=args.voxel_scale)
    generate_dataset(root, config)


def pretrained_flag(args) -> str:
    """``--pretrained auto``: ImageNet weights where a pip package ships them (no download),
    a random init otherwise (round one's study: random-init ResNet-18)."""
    from lightning_modules.networks.package_weights import PACKAGE_WEIGHTS

    if args.pretrained == "auto":
        return "true" if args.backbone in PACKAGE_WEIGHTS else "false"
    return args.pretrained


def fit_args(args, root: Path, track: str, name: str, extra: list[str]) -> list[str]:
    """``train.py fit`` arguments: the demo config on this study's data, then the model's flags."""
    return ["fit", "--config", "configs/demo.yaml", *extra,
            "--data.root", str(root), "--data.synthetic", "null", "--data.track", track,
            "--data.n_val", str(args.n_val), "--data.num_frames", str(args.num_frames),
            "--data.image_size", str(args.image_size), "--data.num_workers", str(args.num_workers),
            *(["--data.cache_dir", args.cache_dir] if args.cache_dir else []),
            "--model.backbone.name", args.backbone, "--model.backbone.pretrained", pretrained_flag(args),
            "--trainer.accelerator", args.accelerator, "--trainer.enable_progress_bar", "false",
            *([] if "ridge_baseline" in " ".join(extra) or "--trainer.max_epochs" in extra
              else ["--trainer.max_epochs", str(args.max_epochs)]),
            "--trainer.logger.init_args.save_dir", str(args.work / "runs"),
            "--trainer.logger.init_args.name", slug(name)]


def read_predictions(folder: Path, layout: TargetLayout) -> np.ndarray:
    """``predict.py``'s ``.npy`` files, concatenated in the layout's order, (n_test, n_voxels)."""
    return np.concatenate([np.load(folder / "predictions" / g.subject / f"{g.roi}.npy") for g in layout.groups],
                          axis=1)


def trained_model(args, root: Path, track: str, name: str, extra: list[str]) -> tuple[np.ndarray, TargetLayout, dict]:
    """Train, pick the best checkpoint by ``val/score``, predict the test videos."""
    cli = train.main(fit_args(args, root, track, name, extra))
    run_dir = Path(cli.trainer.log_dir)
    summary = RunFolder(run_dir).read_summary()
    checkpoint = summary.best_checkpoint or summary.last_checkpoint
    out = run_dir / "test_predictions"
    predict.predict(predict.parse_args(["--ckpt_path", checkpoint, "--output_dir", str(out), "--overwrite",
                                        "--num_workers", str(args.num_workers), "--accelerator", args.accelerator]))
    layout = cli.model.layout
    return read_predictions(out, layout), layout, {"run_dir": str(run_dir), "best_epoch": summary.best_epoch,
                                                   "val_score": summary.best_score}


def seed_style_model(args, root: Path, track: str) -> tuple[np.ndarray, TargetLayout, dict]:
    """PCA-100 + ElasticNet per (subject, region) on the frozen features of the ridge run's backbone.

    Fitted on the same training rows as the ridge head (the held-out validation videos are
    left out, as they are for every other model)."""
    ridge_name = "ridge head (ours), frozen features" if track == "mini" else "WB: ridge head (ours)"
    ridge = json.loads((args.work / "results" / f"{slug(ridge_name)}.json").read_text())
    run_dir = Path(ridge["run_dir"])
    model, data_hparams = load_encoding_model(RunFolder(run_dir).last_checkpoint)
    data = AlgonautsDataModule(**{**data_hparams, "num_workers": args.num_workers})
    data.setup("fit")
    device = torch.device("cuda" if args.accelerator == "gpu" else "cpu")
    model.to(device)
    X_train = extract_features(model.model, data.evaluation_dataloader(data.train_indices), device)
    X_test = extract_features(model.model, data.predict_dataloader(), device)
    Z_train, Z_test = seed_route.pca_components(X_train, X_test, 100)
    Y_train = data.mean_responses[data.train_indices]
    layout = model.layout
    preds = np.zeros((len(X_test), layout.n_voxels), np.float32)
    chosen = {}
    for g in tqdm(layout.groups, desc="seed route (ElasticNet per region)"):
        cols = slice(g.start, g.stop)
        preds[:, cols], chosen[g.name] = seed_route.seed_route_predict(
            Z_train, np.nan_to_num(Y_train[:, cols]), Z_test, n_rounds=args.seed_rounds, n_folds=args.seed_folds)
    return preds, layout, {"search": chosen}


def run_model(args, root: Path, name: str) -> dict:
    """One model's test-set scores, from ``<work>/results`` if it ran before."""
    path = args.work / "results" / f"{slug(name)}.json"
    if path.is_file():
        return json.loads(path.read_text())
    track, extra = MODELS[name]
    start = time.perf_counter()
    if extra is None:
        preds, layout, info = seed_style_model(args, root, track)
    else:
        preds, layout, info = trained_model(args, root, track, name, extra)
    seconds = time.perf_counter() - start
    scores = score_against_truth(preds, load_ground_truth(root, track, layout), layout)
    result = {"name": name, "track": track, "seconds": seconds, **info, "test": scores}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=1))
    os.replace(tmp, path)
    return result


def table(results: list[dict], measure: str = "ceiling_fraction") -> str:
    head = ("| model | test r | test score | r with noise-free truth | fraction of attainable r | "
            + " | ".join(COLUMNS) + " | val score | wall s |")
    rows = [head, "|" + "---|" * (7 + len(COLUMNS))]
    for res in results:
        t = res["test"]
        rois = " | ".join(f"{t[measure]['rois'][c]:.2f}" if c in t[measure]["rois"] else "" for c in COLUMNS)
        val = f"{res['val_score']:.3f}" if res.get("val_score") is not None else "-"
        rows.append(f"| {res['name']} | {t['r']['overall']:.3f} | {t['score']['overall']:.3f} | "
                    f"{t['r_truth']['overall']:.3f} | {t['ceiling_fraction']['overall']:.3f} | {rois} | {val} | "
                    f"{res['seconds']:.0f} |")
    return "\n".join(rows)


def plot(results: list[dict], png: Path, measure: str = "ceiling_fraction") -> None:
    """Per-region bars, one per model: the fraction of the attainable test r each model reaches."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(12, 4.5))
    width = 0.85 / max(1, len(results))
    for i, res in enumerate(results):
        rois = res["test"][measure]["rois"]
        heights = [rois.get(c, np.nan) for c in COLUMNS]
        ax.bar(np.arange(len(COLUMNS)) - 0.425 + (i + 0.5) * width, heights, width, color=plt.cm.tab20(i % 20),
               label=f"{res['name']} ({res['test'][measure]['overall']:.2f})")
    ax.set_xticks(np.arange(len(COLUMNS)), COLUMNS)
    ax.axhline(0, color="black", linewidth=0.5)
    ax.axhline(1, color="grey", linewidth=0.5, linestyle="--")
    ax.set_ylabel("test r / r of the noise-free truth")
    ax.set_title("Fraction of the attainable test r reached, per region (mean over subjects)")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=3, frameon=False)
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="data/synthetic_accuracy", help="synthetic release (generated if missing)")
    parser.add_argument("--n-train", type=int, default=240)
    parser.add_argument("--n-test", type=int, default=40)
    parser.add_argument("--n-subjects", type=int, default=3)
    parser.add_argument("--data-seed", type=int, default=1)
    parser.add_argument("--noise-profile", default="easy", choices=("easy", "realistic"),
                        help="simulated brain's noise (round one's study: easy; see "
                             "simulator/noise_profiles.py)")
    parser.add_argument("--voxel-counts", default="ranges", choices=("ranges", "sub01"))
    parser.add_argument("--voxel-scale", type=float, default=DEMO_CONFIG.voxel_scale,
                        help="times the release's voxel counts (1.0: release-sized regions)")
    parser.add_argument("--cache-dir", default=None, help="clip cache (default: inside --data)")
    parser.add_argument("--n-val", type=int, default=40, help="training videos held out for model selection")
    parser.add_argument("--backbone", default="resnet18")
    parser.add_argument("--pretrained", default="auto", choices=("auto", "true", "false"),
                        help="auto: pretrained where a pip package ships the weights "
                             "(tf_efficientnet_lite0/1/2), random init otherwise")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--num-frames", type=int, default=8)
    parser.add_argument("--max-epochs", type=int, default=6)
    parser.add_argument("--accelerator", default="cpu")
    parser.add_argument("--num-workers", type=int, default=2)
    parser.add_argument("--seed-rounds", type=int, default=20, help="ElasticNet search rounds per region")
    parser.add_argument("--seed-folds", type=int, default=5)
    parser.add_argument("--models", nargs="*", default=list(MODELS), help="names from MODELS, in this order")
    parser.add_argument("--work", default="runs/accuracy", help="runs and per-model results (resumable)")
    parser.add_argument("--out", default="benchmarks/results_accuracy.md")
    args = parser.parse_args(argv)
    args.work = Path(args.work)
    unknown = [m for m in args.models if m not in MODELS]
    if unknown:
        parser.error(f"unknown models {unknown}; choose from {list(MODELS)}")
    root = Path(args.data)
    ensure_dataset(root, args)
    results = []
    for name in args.models:
        if MODELS[name][1] is None:  # the seed route reads the ridge run's frozen backbone
            ridge = "ridge head (ours), frozen features" if MODELS[name][0] == "mini" else "WB: ridge head (ours)"
            run_model(args, root, ridge)
        results.append(run_model(args, root, name))
        print(table(results[-1:]), flush=True)

    machine = (torch.cuda.get_device_name() if args.accelerator == "gpu"
               else f"{os.cpu_count()} CPU cores, {platform.processor() or platform.machine()}, torch CPU")
    command = shlex.join(["python", "-m", "benchmarks.accuracy", *(argv if argv is not None else sys.argv[1:])])
    meta = json.loads((root / "synthetic_truth" / "meta.json").read_text())
    text = (f"Command: `{command}`  \nMachine: {machine}. Data: synthetic release, {meta['n_train']} "
            f"videos with fMRI ({args.n_val} held out for model selection), {meta['n_test']} test videos with "
            f"{meta['config']['n_test_repetitions']} repetitions each, {len(meta['subjects'])} subjects, nine "
            "regions and the whole brain (WB). "
            f"Backbone: {'ImageNet-pretrained' if pretrained_flag(args) == 'true' else 'random-init'} "
            f"{args.backbone} at {args.image_size} px, {args.num_frames} frames, "
            f"{args.max_epochs} epochs.\n\n"
            "Test-set scores against the simulator's truth; region columns give the fraction of the "
            "attainable r reached (test r / r of the noise-free responses with the measured mean).\n\n"
            + table(results) + "\n")
    out = Path(args.out)
    out.write_text(text)
    plot(results, out.with_suffix(".png"))
    print(text)


if __name__ == "__main__":
    main()
