"""A resume on other data than the checkpoint trained on (another split, a region file replaced by
another subject's with the same voxel count) is refused, naming what changed."""

import gc
import types

import numpy as np
import pytest

from cli.resume_data import ResumeDataError, data_record, differences
from run_folder.contract import RunFolder
from scoring.layout import TargetLayout
from tests.faults import copy_release, rewrite_roi
from tests.helpers import fit_tiny


def _datamodule(responses, train, val):
    layout = TargetLayout({"sub01": {"V1": 2, "V2": 1}})
    return types.SimpleNamespace(responses=responses, target_layout=layout, train_indices=np.array(train),
                                 val_indices=np.array(val))


def test_record_names_the_changed_split_and_region():
    rng = np.random.default_rng(0)
    responses = rng.standard_normal((6, 2, 3)).astype(np.float32)
    saved = data_record(_datamodule(responses, [0, 1, 2, 3], [4, 5]))
    assert differences(saved, data_record(_datamodule(responses.copy(), [0, 1, 2, 3], [4, 5]))) == []
    other = responses.copy()
    other[:, :, 2] = rng.standard_normal((6, 2))  # V2's file replaced, same voxel count
    lines = differences(saved, data_record(_datamodule(other, [0, 1, 2], [3, 4, 5])))
    assert lines[0].startswith("the training videos") and "rows only in the checkpoint's [3]" in lines[0]
    assert lines[1].startswith("the validation videos") and "only in this run's [3]" in lines[1]
    assert lines[2].startswith("the training responses of sub01/V2 ")
    assert "sub01/V1" not in lines[2]


def _refused(message: str, *fit_args) -> None:
    with pytest.raises(ResumeDataError, match=message):
        fit_tiny(*fit_args)
    gc.collect()  # the refused trainer (and the run folder's lock it holds) goes, as with its process


@pytest.mark.slow
def test_resume_after_the_split_or_a_region_file_changed_is_refused(tiny_root, tmp_path):
    root = copy_release(tiny_root, tmp_path)
    fixed = ("--model.ridge.fit", "false", "--trainer.logger.init_args.version", "r", "--data.root", str(root),
             "--data.cache_dir", str(tmp_path / "cache"))
    fit_tiny(tiny_root, tmp_path, *fixed, "--trainer.max_epochs", "1")
    run = RunFolder(tmp_path / "runs" / "demo" / "r")
    summary = run.summary_path.read_bytes()
    resume = (*fixed, "--trainer.max_epochs", "2", "--ckpt_path", "last")
    _refused(r"the validation videos .* checkpoint 6, this run 4", tiny_root, tmp_path, *resume, "--data.n_val", "4")
    # another subject's file in its place: here sub01's own responses reordered, same shape and voxel count
    rewrite_roi(root, "sub01", "V1", lambda train: np.flip(train, axis=0))
    _refused(r"the training responses of sub01/V1 ", tiny_root, tmp_path, *resume)
    assert run.summary_path.read_bytes() == summary  # the refused resumes trained and wrote nothing
