"""A subject folder not named as the release names them (``sub1`` beside ``sub01``) is an error
naming it, not one more subject trained and exported under a key the challenge lacks."""

import shutil

import pytest

from datamodules.algonauts import AlgonautsDataModule
from datamodules.numbering import DataLayoutError
from datamodules.sources.algonauts2021 import FMRI_DIR, available_subjects
from tests.faults import copy_release


@pytest.mark.parametrize("odd", ["sub1", "sub001", "sub01_old"])
def test_an_oddly_named_subject_folder_is_refused_naming_it(tiny_root, tmp_path, odd):
    root = copy_release(tiny_root, tmp_path)
    track = root / FMRI_DIR / "mini_track"
    shutil.copytree(track / "sub01", track / odd)
    with pytest.raises(DataLayoutError, match=rf"subject folder\(s\) {odd} are not named as the release"):
        available_subjects(root)
    with pytest.raises(DataLayoutError, match=odd):  # what training reads
        AlgonautsDataModule(root=str(root), num_workers=0).voxel_counts
    shutil.rmtree(track / odd)
    assert available_subjects(root) == ["sub01", "sub02"]
