"""kfold.py never counts a fold trained with another K (or another fold index) as done, nor
ensembles it: the fold folder's ``config.yaml`` is compared with the command's split."""

import pytest
import yaml

import kfold
from tests.helpers import FAST, REPO


def _fake_fold(out, k, n_folds, fold=None):
    run = out / f"fold_{k:02d}"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(yaml.safe_dump(
        {"data": {"split": "kfold", "n_folds": n_folds, "fold": k if fold is None else fold}}))
    (run / "summary.json").write_text("{}")


def test_ensemble_of_folds_trained_with_another_k_is_refused_naming_the_setting(tmp_path):
    out = tmp_path / "kf"
    for k in range(2):
        _fake_fold(out, k, n_folds=3)
    with pytest.raises(SystemExit, match=r"error: .*fold_00/config.yaml was trained with data.n_folds 3 "
                                         r"\(this command: 2\)"):
        kfold.main(["--config", str(REPO / "configs/demo.yaml"), "--folds", "2", "--out", str(out),
                    "--ensemble-only"])


def test_a_fold_folder_of_another_index_is_not_taken_for_this_fold(tmp_path):
    out = tmp_path / "kf"
    _fake_fold(out, 1, n_folds=2, fold=0)
    with pytest.raises(SystemExit, match=r"data.fold 0 \(this command: 1\)"):
        kfold.main(["--config", str(REPO / "configs/demo.yaml"), "--folds", "2", "--out", str(out), "--fold", "1"])


@pytest.mark.slow
def test_fold_trained_with_k3_is_not_reused_by_a_k2_command(tiny_root, tmp_path):
    out = tmp_path / "kf"
    overrides = [*FAST, "--data.root", str(tiny_root), "--data.synthetic", "null",
                 "--data.cache_dir", str(tiny_root.parent / "cache"), "--trainer.max_epochs", "1",
                 "--model.ridge.fit", "false"]
    base = ["--config", str(REPO / "configs/demo.yaml"), "--out", str(out), "--fold", "0"]
    kfold.main([*base, "--folds", "3", "--", *overrides])
    summary = (out / "fold_00" / "summary.json").read_bytes()
    with pytest.raises(SystemExit, match=r"data.n_folds 3 \(this command: 2\)"):
        kfold.main([*base, "--folds", "2", "--", *overrides])
    assert (out / "fold_00" / "summary.json").read_bytes() == summary
