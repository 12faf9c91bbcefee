"""The data-source interface: the 2021 source over the simulator's release gives exactly the files'
stimuli, responses, layout and masks (read back here with pickle and numpy); detection refuses a
folder holding no known layout in one line naming what it holds; a new source is one class."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from datamodules.algonauts import AlgonautsDataModule
from datamodules.release import load_release
from datamodules.sources import registry
from datamodules.sources.algonauts2021 import FMRI_DIR, VIDEO_DIR, Algonauts2021Source
from datamodules.sources.base import DataLayoutError, DataSource, Recording, Release, Selection
from scoring.layout import MINI_TRACK_ROIS


def _pickle(path: Path) -> dict:
    with open(path, "rb") as f:
        return pickle.load(f)  # the simulator's own files: trusted here, an independent reader


@pytest.mark.parametrize("track", ["mini", "full"])
def test_2021_source_gives_the_files_stimuli_responses_layout_and_masks(tiny_root, track):
    assert registry.detect_source(tiny_root) is Algonauts2021Source
    release = registry.open_source("auto", tiny_root).read(Selection(track=track))
    track_dir = tiny_root / FMRI_DIR / f"{track}_track"
    subjects = sorted(p.name for p in track_dir.iterdir())
    rois = list(MINI_TRACK_ROIS) if track == "mini" else ["WB"]
    videos = sorted((tiny_root / VIDEO_DIR).glob("*.mp4"))

    assert release.source == "algonauts2021" and release.track == track
    assert release.video_paths == videos and release.stimulus_names == [v.name for v in videos]
    assert release.n_train == 12 and release.n_test == 4
    assert list(release.recordings) == subjects and all(list(r) == rois for r in release.recordings.values())
    files = {s: {r: _pickle(track_dir / s / f"{r}.pkl") for r in rois} for s in subjects}
    assert release.voxel_counts == {s: {r: files[s][r]["train"].shape[2] for r in rois} for s in subjects}
    expected = np.concatenate([files[s][r]["train"] for s in subjects for r in rois], axis=2).astype(np.float32)
    stacked = release.stacked_train()
    assert stacked.dtype == np.float32 and stacked.shape == (12, expected.shape[1], expected.shape[2])
    np.testing.assert_array_equal(stacked, expected)
    assert not release.has_test_responses and release.stacked_test() is None  # the challenge withheld them
    if track == "full":
        assert sorted(release.voxel_masks) == subjects
        for s in subjects:
            np.testing.assert_array_equal(release.voxel_masks[s], files[s]["WB"]["voxel_mask"].astype(bool))
    else:
        assert release.voxel_masks == {}

    # The earlier entry point reads the same through the source.
    before = load_release(tiny_root, track)
    assert before.video_paths == release.video_paths and before.voxel_counts == release.voxel_counts
    np.testing.assert_array_equal(before.stacked_train(), stacked)


def test_data_module_reads_through_the_detected_source(tiny_root):
    dm = AlgonautsDataModule(root=str(tiny_root), subjects=["sub02"], rois=["V1", "FFA"])
    assert dm.hparams.source == "auto" and isinstance(dm.source, Algonauts2021Source)
    direct = Algonauts2021Source(tiny_root).read(Selection(subjects=("sub02",), rois=("V1", "FFA")))
    assert dm.voxel_counts == direct.voxel_counts == {"sub02": {"V1": dm.voxel_counts["sub02"]["V1"],
                                                                 "FFA": dm.voxel_counts["sub02"]["FFA"]}}
    np.testing.assert_array_equal(dm.responses, direct.stacked_train())
    named = AlgonautsDataModule(root=str(tiny_root), source="algonauts2021", subjects=["sub02"], rois=["V1", "FFA"])
    assert named.voxel_counts == dm.voxel_counts


# ----------------------------------------------------------------------------- detection
def test_unknown_folder_is_refused_in_one_line_naming_what_it_holds(tmp_path):
    root = tmp_path / "mine"
    (root / "scans").mkdir(parents=True)
    (root / "notes.txt").write_text("my own data")
    with pytest.raises(DataLayoutError) as err:
        registry.detect_source(root)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"{root}: no data layout this tool reads was found there")
    assert "it holds notes.txt, scans/" in message
    assert f"algonauts2021 ({VIDEO_DIR}/ and {FMRI_DIR}/" in message

    with pytest.raises(DataLayoutError, match=r"it holds nothing \(an empty folder\)"):
        registry.detect_source(tmp_path / "mine" / "scans")
    with pytest.raises(DataLayoutError, match="absent: data folder not found"):
        registry.detect_source(tmp_path / "absent")
    # The data module refuses it the same way, when it first reads.
    with pytest.raises(DataLayoutError, match="no data layout this tool reads was found there"):
        AlgonautsDataModule(root=str(root)).release  # noqa: B018


def test_a_partial_2021_layout_is_detected_and_its_reader_names_what_is_missing(tiny_root, tmp_path):
    root = tmp_path / "videos_only"
    root.mkdir()
    (root / VIDEO_DIR).symlink_to(tiny_root / VIDEO_DIR)
    assert registry.detect_source(root) is Algonauts2021Source
    with pytest.raises(DataLayoutError, match=rf"{FMRI_DIR}/mini_track: fMRI folder not found"):
        AlgonautsDataModule(root=str(root)).release  # noqa: B018


def test_unknown_source_name_is_refused_naming_the_choices(tiny_root):
    choices = ", ".join(registry.source_names())
    assert choices.startswith("auto, algonauts2021")
    with pytest.raises(ValueError, match=rf"data.source must be one of {choices}; got 'bmd2'"):
        AlgonautsDataModule(root=str(tiny_root), source="bmd2")


# ----------------------------------------------------------------------------- a new source is one class
class _ToySource(DataSource):
    """``stimuli/*.mp4`` and ``responses/<subject>.npz`` {"train", "test"}: what a new layout adds."""

    name = "toy"
    layout = "toy (stimuli/ and responses/)"

    @classmethod
    def found_in(cls, root: Path) -> list[str]:
        return [n for n in ("stimuli", "responses") if (root / n).is_dir()]

    def read(self, selection: Selection) -> Release:
        videos = sorted((self.root / "stimuli").glob("*.mp4"))
        recordings = {}
        for path in sorted((self.root / "responses").glob("*.npz")):
            with np.load(path) as z:
                recordings[path.stem] = {"all": Recording(train=z["train"], test=z["test"], path=path)}
        release = Release(self.root, selection.track, videos, recordings, source=self.name)
        release.check_consistent()
        return release


def _toy_release(root: Path, n_test_rows: int = 2) -> Path:
    (root / "stimuli").mkdir(parents=True)
    for i in range(5):
        (root / "stimuli" / f"{i + 1:04d}_x.mp4").write_bytes(b"")
    (root / "responses").mkdir()
    rng = np.random.default_rng(0)
    for subject, n_voxels in (("s1", 3), ("s2", 4)):
        np.savez(root / "responses" / f"{subject}.npz", train=rng.normal(size=(3, 2, n_voxels)).astype(np.float32),
                 test=rng.normal(size=(n_test_rows, 4, n_voxels)).astype(np.float32))
    return root


def test_a_registered_source_is_detected_read_by_the_data_module_and_gives_test_responses(tmp_path, monkeypatch):
    monkeypatch.setitem(registry.SOURCES, "toy", _ToySource)
    root = _toy_release(tmp_path / "toy")
    assert registry.detect_source(root) is _ToySource
    dm = AlgonautsDataModule(root=str(root))
    assert dm.voxel_counts == {"s1": {"all": 3}, "s2": {"all": 4}}
    assert dm.release.n_train == 3 and dm.release.n_test == 2
    test = dm.release.stacked_test()
    with np.load(root / "responses/s1.npz") as a, np.load(root / "responses/s2.npz") as b:
        np.testing.assert_array_equal(test, np.concatenate([a["test"], b["test"]], axis=2))
    assert AlgonautsDataModule(root=str(root), source="toy").hparams.source == "toy"

    # Two layouts in one folder: refused, naming both and the setting that chooses.
    (root / VIDEO_DIR).mkdir()
    with pytest.raises(DataLayoutError, match=rf"more than one layout: algonauts2021 \({VIDEO_DIR}\); "
                                              r"toy \(stimuli, responses\); choose one with data.source"):
        registry.detect_source(root)


def test_test_rows_that_disagree_with_the_stimuli_are_refused_naming_the_file(tmp_path, monkeypatch):
    monkeypatch.setitem(registry.SOURCES, "toy", _ToySource)
    root = _toy_release(tmp_path / "toy", n_test_rows=1)
    with pytest.raises(DataLayoutError, match=r"s1.npz: 1 test rows, but the stimulus folder has 2 test stimuli"):
        registry.open_source("toy", root).read(Selection())
