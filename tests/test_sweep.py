"""sweep.py: Optuna trials are real training runs; scores, overrides and shared studies line up."""

import json
import subprocess
from pathlib import Path

import optuna
import pytest
import yaml

import sweep
from sweeps.grid import grid_cells
from sweeps.space import SearchSpaceError, as_cli_overrides, load_space
from tests.helpers import FAST, REPO


def tiny_sweep_args(tiny_root: Path, out: Path, space: Path, trials: int, *extra: str) -> list[str]:
    fixed = [*FAST, "--data.root", str(tiny_root), "--data.synthetic", "null",
             "--data.cache_dir", str(tiny_root.parent / "cache"), "--trainer.max_epochs", "2",
             "--trainer.limit_train_batches", "1", "--model.ridge.fit", "false"]
    return ["--config", str(REPO / "configs/demo.yaml"), "--space", str(space), "--trials", str(trials),
            "--out", str(out), "--seed", "0", "--startup-trials", "1", *extra, "--", *fixed]


@pytest.fixture
def space_file(tmp_path):
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump({
        "model.optimisation.lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
        "model.temporal.kind": {"type": "categorical", "choices": ["mean", "weighted"]},
        "model.backbone.layers": {"type": "categorical", "choices": [[4], [3, 4]]},
    }))
    return path


@pytest.mark.slow
def test_sweep_trials_are_runs_with_their_overrides(tiny_root, tmp_path, space_file):
    (study,) = sweep.main(tiny_sweep_args(tiny_root, tmp_path / "sweep", space_file, 2))
    trials = study.get_trials()
    assert len(trials) == 2
    assert all(t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED) for t in trials)
    assert (tmp_path / "sweep" / "study.db").is_file()
    for trial in trials:
        run_dir = Path(trial.user_attrs["run_dir"])
        assert run_dir.name == f"trial_{trial.number:04d}"
        config = yaml.safe_load((run_dir / "config.yaml").read_text())
        assert config["model"]["optimisation"]["lr"] == pytest.approx(trial.params["model.optimisation.lr"])
        assert config["model"]["temporal"]["kind"] == trial.params["model.temporal.kind"]
        assert config["model"]["backbone"]["layers"] == json.loads(trial.params["model.backbone.layers"])
        assert config["trainer"]["max_epochs"] == 2  # the fixed overrides after "--" reached it too
    best = study.best_trial
    summary = json.loads((Path(best.user_attrs["run_dir"]) / "summary.json").read_text())
    assert best.value == pytest.approx(summary["best"]["score"]["overall"], abs=1e-12)


@pytest.mark.slow
def test_second_worker_joins_the_study_and_stops_at_the_total(tiny_root, tmp_path, space_file):
    args = tiny_sweep_args(tiny_root, tmp_path / "sweep", space_file, 1)
    sweep.main(args)
    (study,) = sweep.main(args)  # the same storage and name: joins, finds 1 of 1 finished, runs nothing
    assert len(study.get_trials()) == 1
    args[args.index("--trials") + 1] = "2"
    (study,) = sweep.main(args)
    assert len(study.get_trials()) == 2 and len({t.number for t in study.get_trials()}) == 2


def test_space_file_errors_name_the_file_and_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model.optimisation.lr: {type: float, low: 0.1, high: 0.01}\n")
    with pytest.raises(SearchSpaceError, match=r"bad.yaml: model.optimisation.lr: low"):
        load_space(bad)
    bad.write_text("lr: {type: float, low: 0.001, high: 0.01}\n")
    with pytest.raises(SearchSpaceError, match="dotted config keys"):
        load_space(bad)
    bad.write_text("model.temporal.kind: {type: categorical}\n")
    with pytest.raises(SearchSpaceError, match="choices"):
        load_space(bad)
    with pytest.raises(SearchSpaceError, match="not found"):
        load_space(tmp_path / "missing.yaml")


def test_shipped_space_and_cli_overrides():
    dims = load_space(REPO / "configs/sweeps/demo_space.yaml")
    assert "model.optimisation.lr" in [d.key for d in dims]
    assert as_cli_overrides({"model.optimisation.lr": 0.001, "model.backbone.layers": [3, 4], "model.temporal.kind": "lstm",
                             "model.ridge.pca": None}) == [
        "--model.optimisation.lr", "0.001", "--model.backbone.layers", "[3, 4]", "--model.temporal.kind", "lstm", "--model.ridge.pca", "null"]


def test_grid_cells_in_slurm_array_order():
    cells = grid_cells(["sub01", "sub02"], ["V1", "FFA"])
    assert [c.name for c in cells] == ["sub01-V1", "sub01-FFA", "sub02-V1", "sub02-FFA"]
    assert cells[3].overrides == ["--data.subjects", "[sub02]", "--data.rois", "[FFA]"]
    assert len(grid_cells(["sub01"])) == 9


class PruneAll(optuna.pruners.BasePruner):
    def prune(self, study, trial) -> bool:
        return True


@pytest.mark.slow
def test_pruned_trial_stops_after_its_first_epoch(tiny_root, tmp_path, space_file):
    from sweeps.trial_run import run_trial

    args = tiny_sweep_args(tiny_root, tmp_path, space_file, 1)
    base_args = args[:2] + args[args.index("--") + 1:]
    study = optuna.create_study(direction="maximize", pruner=PruneAll())
    study.optimize(lambda t: run_trial(t, load_space(space_file), base_args, tmp_path / "runs", "pruned"),
                   n_trials=1)
    (trial,) = study.get_trials()
    assert trial.state == optuna.trial.TrialState.PRUNED
    assert list(trial.intermediate_values) == [0]  # reported epoch 0, then stopped (max_epochs is 2)
    summary = json.loads((Path(trial.user_attrs["run_dir"]) / "summary.json").read_text())
    assert summary["epochs_run"] == 1


def test_slurm_array_script_starts_workers_on_one_shared_study(tmp_path):
    """Run the sbatch script with ``python`` stubbed out; what it would launch must parse."""
    stub = tmp_path / "bin"
    stub.mkdir()
    (stub / "python").write_text('#!/bin/bash\nprintf "%s\\n" "$@" > "$ARGS_FILE"\n')
    (stub / "python").chmod(0o755)
    env = {"PATH": f"{stub}:/usr/bin:/bin", "ARGS_FILE": str(tmp_path / "args"), "SLURM_ARRAY_TASK_ID": "3",
           "ACCELERATOR": "gpu"}  # python is stubbed: it cannot tell the allocation's accelerator
    subprocess.run(["bash", str(REPO / "scripts/slurm_sweep.sbatch"), "configs/demo.yaml",
                    "configs/sweeps/demo_space.yaml", "40"], cwd=tmp_path, env=env, check=True, timeout=30)
    script, *argv = (tmp_path / "args").read_text().splitlines()
    assert script == "sweep.py"
    args, fixed = sweep.parse_args(argv)
    assert args.trials == 40 and args.seed == 3 and args.study_name == "demo_space"
    assert args.storage == f"journal:{tmp_path}/runs/sweeps/study.journal"  # shared by every array task
    assert fixed[:4] == ["--trainer.accelerator", "gpu", "--trainer.devices", "1"]


def test_prune_warmup_reaches_the_pruner(tmp_path):
    from sweeps.study import open_study

    args, _ = sweep.parse_args(["--config", "c.yaml", "--space", "s.yaml", "--prune-warmup", "3"])
    study = open_study(f"sqlite:///{tmp_path / 's.db'}", "w", prune_warmup_epochs=args.prune_warmup)
    # Behaviour, not the pruner's private field: 5 finished trials scored 1.0 at every epoch; a new
    # trial at 0.0 (below their median) is spared at epochs 0-2 and pruned from epoch 3 on.
    for _ in range(5):
        done = study.ask()
        for epoch in range(5):
            done.report(1.0, epoch)
        study.tell(done, 1.0)
    low = study.ask()
    verdicts = []
    for epoch in range(5):
        low.report(0.0, epoch)
        verdicts.append(low.should_prune())
    assert verdicts == [False, False, False, True, True]
    with pytest.raises(SystemExit):
        sweep.parse_args(["--config", "c.yaml", "--space", "s.yaml", "--prune-warmup", "-1"])
