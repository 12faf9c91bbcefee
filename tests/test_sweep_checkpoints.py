"""Sweep trials land in ``<out>/<study>/trial_NNNN``; ``--keep-checkpoints N`` leaves only the N
best trials' checkpoints; the help names the journal storage as the README does."""

import subprocess
import sys
from pathlib import Path

import optuna
import pytest

import sweep
from sweeps.checkpoint_cleanup import KeepBestCheckpoints
from tests.helpers import REPO
from tests.test_sweep import space_file, tiny_sweep_args  # noqa: F401 - space_file is a fixture


def test_cleanup_keeps_the_n_best_completed_trials_checkpoints(tmp_path):
    study = optuna.create_study(direction="maximize")
    states = {0.3: "COMPLETE", 0.9: "COMPLETE", 0.5: "COMPLETE", 0.8: "PRUNED", 0.95: "RUNNING"}
    for i, (value, state) in enumerate(states.items()):
        run_dir = tmp_path / f"trial_{i}"
        (run_dir / "checkpoints").mkdir(parents=True)
        (run_dir / "checkpoints" / "last.ckpt").write_bytes(b"x")
        (run_dir / "summary.json").write_text("{}")
        finished = state == "COMPLETE"
        study.add_trial(optuna.trial.create_trial(
            state=getattr(optuna.trial.TrialState, state), value=value if finished else None,
            intermediate_values={0: value} if not finished else None, user_attrs={"run_dir": str(run_dir)},
            params={}, distributions={}))
    KeepBestCheckpoints(2)(study, study.trials[-1])
    kept = {i for i in range(5) if (tmp_path / f"trial_{i}" / "checkpoints").is_dir()}
    # The two best completed (0.9, 0.5) keep theirs; the running trial is never touched;
    # the worst completed and the pruned one lose theirs but keep their summaries.
    assert kept == {1, 2, 4}
    assert all((tmp_path / f"trial_{i}" / "summary.json").is_file() for i in range(5))


@pytest.mark.slow
def test_only_the_best_trials_keep_their_checkpoints(tiny_root, tmp_path, space_file):  # noqa: F811
    out = tmp_path / "sweep"
    (study,) = sweep.main(tiny_sweep_args(tiny_root, out, space_file, 3, "--no-prune", "--keep-checkpoints", "1"))
    trials = sorted(study.get_trials(), key=lambda t: t.value, reverse=True)
    assert len(trials) == 3
    for rank, trial in enumerate(trials):
        run_dir = Path(trial.user_attrs["run_dir"])
        assert run_dir == (out / study.study_name / f"trial_{trial.number:04d}").resolve()
        assert (run_dir / "summary.json").is_file() and (run_dir / "config.yaml").is_file()
        assert (run_dir / "checkpoints").is_dir() == (rank == 0), (rank, trial.value)
    assert list((Path(trials[0].user_attrs["run_dir"]) / "checkpoints").glob("*.ckpt"))


@pytest.mark.slow
def test_sweep_help_names_the_journal_file_as_the_readme_does():
    out = subprocess.run([sys.executable, "sweep.py", "--help"], cwd=REPO, capture_output=True, text=True,
                         timeout=120, check=True).stdout
    assert "journal:/shared/study.journal" in " ".join(out.split()) and "study.log" not in out
    assert "journal:/shared/study.journal" in (REPO / "README.md").read_text()
