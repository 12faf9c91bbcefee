"""kfold.py: K fold runs in one command, ensembled with each member weighted on its own held-out fold;
resumable; the SLURM job array script's arguments parse (and, marked slow, run on a real cluster)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import numpy as np
import pytest
import yaml

import kfold
import train
from tests.helpers import FAST, REPO
from tests.test_ensemble import _groups, _npy, _r_by_hand, _score_by_hand, _weights_by_hand

SBATCH = REPO / "scripts/slurm_kfold.sbatch"
FOLDS = 3  # the TINY release's 12 videos: folds of 4


def _fold_overrides(tiny_root: Path) -> list[str]:
    return [*FAST, "--data.root", str(tiny_root), "--data.synthetic", "null",
            "--data.cache_dir", str(tiny_root.parent / "cache"), "--trainer.max_epochs", "1",
            "--model.ridge.fit", "false"]


@pytest.fixture(scope="module")
def trained(tiny_root, tmp_path_factory):
    """``kfold.py --folds 3 --ensemble softmax`` on the TINY release: the output folder and what it printed."""
    out = tmp_path_factory.mktemp("kfold") / "kf"
    kfold.main(["--config", str(REPO / "configs/demo.yaml"), "--folds", str(FOLDS), "--out", str(out),
                "--ensemble", "softmax", "--accelerator", "cpu", "--num_workers", "0",
                "--", *_fold_overrides(tiny_root)])
    return out


@pytest.mark.slow
def test_folds_are_disjoint_and_weighted_on_their_own_fold(trained, capsys):
    files = [np.load(trained / f"fold_{k:02d}" / "val_predictions.npz") for k in range(FOLDS)]
    folds = [f["video_index"] for f in files]
    assert np.array_equal(np.sort(np.concatenate(folds)), np.arange(12))  # disjoint, every video once
    for k, f in enumerate(files):
        assert np.intersect1d(f["video_index"], f["train_index"]).size == 0
        config = yaml.safe_load((trained / f"fold_{k:02d}" / "config.yaml").read_text())["data"]
        assert (config["split"], config["n_folds"], config["fold"]) == ("kfold", FOLDS, k)

    groups = _groups(files[0])
    r = np.stack([_r_by_hand(f["predictions"], f["targets"]) for f in files])  # each on its own fold
    weights = _weights_by_hand("softmax", r, groups, "region", 0.3)
    manifest = json.loads((trained / "ensemble" / "manifest.json").read_text())
    record = manifest["ensemble"]
    assert record["case"] == "kfold" and record["mode"] == "softmax" and manifest["ensemble_size"] == FOLDS
    for k, member in enumerate(record["members"]):
        assert member["val_videos"] == 4
        assert member["val_score"] == pytest.approx(_score_by_hand(r[k], files[k]["noise_ceiling"], groups), abs=1e-7)
        for s, roi, cols in groups:
            assert member["weights"][f"{s}/{roi}"]["mean"] == pytest.approx(weights[k, cols].mean(), abs=1e-5)
    # the out-of-fold score: each fold scored by the fold model that held it out, averaged over folds
    by_fold = [_score_by_hand(r[k], files[k]["noise_ceiling"], groups) for k in range(FOLDS)]
    assert record["estimate"]["out_of_fold_score"] == pytest.approx(np.mean(by_fold), abs=1e-6)
    assert (trained / "ensemble" / "mini_track.zip").is_file()
    assert _npy(trained / "ensemble", groups).shape == (4, weights.shape[1])


@pytest.mark.slow
def test_a_second_run_trains_nothing(trained, tiny_root, capsys):
    kfold.main(["--config", str(REPO / "configs/demo.yaml"), "--folds", str(FOLDS), "--out", str(trained),
                "--no-ensemble", "--", *_fold_overrides(tiny_root)])
    printed = capsys.readouterr().out
    assert all(f"fold {k}: done before" in printed for k in range(FOLDS)) and "training into" not in printed


@pytest.mark.slow
def test_ensemble_of_unfinished_folds_names_them(trained):
    with pytest.raises(SystemExit, match=r"error: 2 of 5 folds are not trained yet \(no summary.json in "
                                         r".*fold_03, .*fold_04\)"):
        kfold.main(["--config", str(REPO / "configs/demo.yaml"), "--folds", "5", "--out", str(trained),
                    "--ensemble-only"])


@pytest.mark.parametrize("argv, message", [
    (["--folds", "1"], "--folds must be at least 2"),
    (["--folds", "4", "--fold", "4"], r"--fold must be in 0..3"),
    (["--fold", "1", "--ensemble-only"], "exclude each other"),
])
def test_bad_arguments(argv, message, capsys, tmp_path):
    with pytest.raises(SystemExit):
        kfold.parse_args(["--config", str(REPO / "configs/demo.yaml"), "--out", str(tmp_path), *argv])
    assert re.search(message, capsys.readouterr().err)


# ----------------------------------------------------------------------------- SLURM
def _script_python_lines(env: dict[str, str]) -> dict[str, list[str]]:
    """The script's two ``python kfold.py`` commands (array task / ensemble job), continuation lines
    joined, variables substituted from ``env``, ``"${@:4}"`` dropped; the words after ``kfold.py``."""
    text = SBATCH.read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip().startswith("python kfold.py")]
    out = {}
    for line in lines:
        line = line.replace('"${@:4}"', "")
        line = re.sub(r"\$\{(\w+)(:-[^}]*)?\}", lambda m: env[m.group(1)], line)
        line = re.sub(r"\$(\w+)", lambda m: env[m.group(1)], line)
        words = shlex.split(line)
        out["fold" if "--fold" in words else "ensemble"] = words[2:]
    return out


def test_sbatch_arguments_parse(tiny_root, capsys):
    env = {"CONFIG": "configs/demo.yaml", "FOLDS": "10", "OUT": "runs/kfold", "SLURM_ARRAY_TASK_ID": "7",
           "ACCELERATOR": "cpu", "ENSEMBLE": "softmax", "SLURM_CPUS_PER_TASK": "8"}
    commands = _script_python_lines(env)
    assert set(commands) == {"fold", "ensemble"}
    args, fixed = kfold.parse_args(commands["fold"])
    assert (args.folds, args.fold, args.out, args.config) == (10, 7, "runs/kfold", ["configs/demo.yaml"])
    assert fixed[:2] == ["--trainer.accelerator", "cpu"]
    ens, _ = kfold.parse_args(commands["ensemble"])
    assert ens.ensemble_only and ens.ensemble == "softmax" and ens.fold is None
    # the fold's train.py arguments parse (config printed, nothing trained)
    with pytest.raises(SystemExit) as done:
        train.main([*kfold.fold_train_args(args, fixed, 7)[:-2], "--data.root", str(tiny_root), "--print_config"])
    assert done.value.code in (0, None)
    config = yaml.safe_load(capsys.readouterr().out)
    assert (config["data"]["split"], config["data"]["n_folds"], config["data"]["fold"]) == ("kfold", 10, 7)
    assert config["trainer"]["logger"]["init_args"]["version"] == "fold_07"
    assert config["trainer"]["accelerator"] == "cpu" and str(config["trainer"]["devices"]) == "1"
    assert "#SBATCH --output=runs/slurm/%x-%A_%a.out" in SBATCH.read_text()


@pytest.mark.slow
def test_real_slurm_fold_array_then_ensemble_job(tiny_root, tmp_path):
    from tests.slurm_cluster import SlurmCluster, SlurmUnavailable, unavailable_reason
    from tests.test_slurm import _ended

    if reason := unavailable_reason():
        pytest.skip(f"no real SLURM cluster here: {reason}")
    cluster = SlurmCluster(tmp_path / "slurm")
    try:
        cluster.start()
    except SlurmUnavailable as err:
        pytest.skip(f"the SLURM test cluster did not start: {err}")
    try:
        out = tmp_path / "kf"
        env = {"OMP_NUM_THREADS": "1", "ENSEMBLE": "best_per_region"}
        array = cluster.sbatch(["--array", f"0-{FOLDS - 1}", "--cpus-per-task", "1",
                                "--output", str(tmp_path / "%A_%a.out"), str(SBATCH), "configs/demo.yaml",
                                str(FOLDS), str(out), *_fold_overrides(tiny_root)], cwd=REPO, env=env)
        final = cluster.sbatch([f"--dependency=afterok:{array}", "--cpus-per-task", "1",
                                "--output", str(tmp_path / "ensemble.out"), str(SBATCH), "configs/demo.yaml",
                                str(FOLDS), str(out)], cwd=REPO, env=env)
        record = cluster.wait(final, _ended, timeout=1200)
        logs = {p.name: p.read_text()[-2000:] for p in tmp_path.glob("*.out")}
        assert record["JobState"] == "COMPLETED", logs
        assert all(t["JobState"] == "COMPLETED" for t in cluster.jobs(array)), logs
        manifest = json.loads((out / "ensemble" / "manifest.json").read_text())
        assert manifest["ensemble"]["case"] == "kfold" and manifest["ensemble"]["mode"] == "best_per_region"
        assert sorted(Path(c).parts[-3] for c in manifest["checkpoints"]) == [f"fold_{k:02d}" for k in range(FOLDS)]
    finally:
        cluster.stop()
