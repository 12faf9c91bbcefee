"""An ensemble of checkpoints trained on clips of different settings is refused, naming the
member and the setting: one set of clips (the first member's) would feed every member."""

from pathlib import Path

import pytest

import predict
from export.member_clips import EnsembleClipsError, check_same_clips
from run_folder.contract import RunFolder
from tests.helpers import fit_tiny


def test_members_with_other_clip_settings_are_named_with_the_setting():
    paths = [Path("a.ckpt"), Path("b.ckpt"), Path("c.ckpt")]
    settings = [{"num_frames": 4, "image_size": 32}, {"num_frames": 4, "image_size": 32},
                {"num_frames": 2, "image_size": 48}]
    with pytest.raises(EnsembleClipsError, match=r"c.ckpt: data.num_frames 2 \(first member: 4\), "
                                                 r"data.image_size 48 \(first member: 32\)") as err:
        check_same_clips(settings, paths)
    assert "b.ckpt" not in str(err.value)
    check_same_clips(settings[:2], paths[:2])  # the same clips: accepted
    check_same_clips([{}, {"num_frames": 16, "image_size": 224}], paths[:2])  # absent = the defaults


@pytest.mark.slow
def test_real_ensemble_of_two_clip_sizes_is_refused_and_exports_nothing(tiny_root, tmp_path):
    ckpts = []
    for name, size in (("small", "32"), ("large", "48")):
        fit_tiny(tiny_root, tmp_path, "--trainer.max_epochs", "1", "--model.ridge.fit", "false",
                 "--data.image_size", size, "--trainer.logger.init_args.version", name)
        ckpts.append(RunFolder(tmp_path / "runs" / "demo" / name).last_checkpoint)
    out = tmp_path / "out"
    with pytest.raises(EnsembleClipsError, match=rf"{ckpts[1]}: data.image_size 48 \(first member: 32\)"):
        predict.predict(predict.parse_args(["--ckpt_path", *map(str, ckpts), "--output_dir", str(out),
                                            "--accelerator", "cpu", "--num_workers", "0"]))
    assert not (out / "manifest.json").exists()
