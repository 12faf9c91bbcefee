"""A whole-brain BMD release read in slices (issue 25, item 4): the memory-mapped stack of every
subject's cache, its repetition means written beside the cache, the data module's voxel report and
noise ceilings in voxel blocks, and the finite check done once as the cache is written."""

import dataclasses
import pickle
import shutil

import numpy as np
import pytest

from datamodules import bmd_files, response_cache
from datamodules.algonauts import AlgonautsDataModule
from datamodules.sources import stacked
from datamodules.sources.base import Selection
from datamodules.sources.bmd import BMDSource
from datamodules.sources.stacked import StackedResponses, split_noise_ceiling, voxel_report
from datamodules.voxel_checks import NonFiniteResponseError, check_voxels
from scoring.noise_ceiling import noise_ceiling
from simulator import TINY_CONFIG, generate_dataset

CONFIG = dataclasses.replace(TINY_CONFIG, n_train=12, n_test=6, voxel_scale=0.1, layout="bmd")


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return generate_dataset(tmp_path_factory.mktemp("bmd_scale") / "release", CONFIG, progress=False)


def _copy(root, tmp_path):
    copy = tmp_path / "release"
    shutil.copytree(root / "derivatives" / "versionB", copy / "derivatives" / "versionB")
    (copy / bmd_files.VIDEO_DIR).parent.mkdir(parents=True)
    (copy / bmd_files.VIDEO_DIR).symlink_to(root / bmd_files.VIDEO_DIR)
    return copy


def _parts(tmp_path, rng, widths=(5, 9, 3), n=7, reps=3):
    parts = []
    for i, width in enumerate(widths):
        x = rng.standard_normal((n, reps, width)).astype(np.float32)
        x[rng.random(x.shape) < 0.1] = np.nan
        x[0, :, 0] = np.nan  # one video never measured in a voxel
        path = tmp_path / f"part{i}.npy"
        np.save(path, x)
        parts.append(np.load(path, mmap_mode="r"))
    return parts


def test_a_stack_reads_rows_and_voxel_ranges_as_the_concatenated_array(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    parts = _parts(tmp_path, rng)
    whole = np.concatenate([np.asarray(p) for p in parts], axis=2)
    stack = StackedResponses(parts)
    assert stack.shape == whole.shape and len(stack) == 7
    np.testing.assert_array_equal(stack[3], whole[3])
    np.testing.assert_array_equal(stack[np.array([4, 1])], whole[[4, 1]])
    np.testing.assert_array_equal(stack[2:5], whole[2:5])
    for a, b in ((0, 17), (3, 12), (5, 14), (6, 9), (14, 17)):
        np.testing.assert_array_equal(stack[..., a:b], whole[..., a:b])
    np.testing.assert_array_equal(np.asarray(stack), whole)
    monkeypatch.setattr(stacked, "COLUMN_BLOCK", 4)
    blocks = list(stack.blocks(4))
    assert [(b.start, b.stop) for b in blocks] == [(0, 4), (4, 5), (5, 9), (9, 13), (13, 14), (14, 17)]
    with pytest.raises(TypeError, match="rows .* or a voxel range"):
        stack[1, 2]


def test_repetition_means_are_written_beside_the_cache_once_and_match_nanmean(tmp_path):
    rng = np.random.default_rng(1)
    parts = _parts(tmp_path, rng)
    whole = np.concatenate([np.asarray(p) for p in parts], axis=2).astype(np.float64)
    with np.errstate(invalid="ignore"), pytest.warns(RuntimeWarning, match="Mean of empty slice"):
        expected = np.nanmean(whole, axis=1)
    means = StackedResponses(parts).repetition_means()
    assert isinstance(means, np.memmap) and means.shape == (7, 17)
    np.testing.assert_allclose(means, expected, rtol=1e-6, equal_nan=True)
    written = sorted(tmp_path.glob("means-*.f32.npy"))
    assert len(written) == 1
    # A second stack over the same files reads the file instead of computing again.
    np.save(written[0], np.zeros((7, 17), np.float32))
    np.testing.assert_array_equal(StackedResponses(parts).repetition_means(), 0)
    # In-memory parts: means in memory, no file.
    in_memory = StackedResponses([np.asarray(p) for p in parts]).repetition_means()
    assert not isinstance(in_memory, np.memmap)
    np.testing.assert_allclose(in_memory, expected, rtol=1e-6, equal_nan=True)


def test_block_wise_voxel_report_and_noise_ceiling_equal_the_whole_array_ones(tmp_path, monkeypatch):
    rng = np.random.default_rng(2)
    parts = _parts(tmp_path, rng, widths=(6, 11))
    parts[1][:, :, 4]  # noqa: B018
    whole = np.concatenate([np.asarray(p) for p in parts], axis=2)
    whole[:, :, 7] = 1.0  # a constant voxel
    np.save(tmp_path / "part1.npy", whole[:, :, 6:])
    parts = [parts[0], np.load(tmp_path / "part1.npy", mmap_mode="r")]
    monkeypatch.setattr(stacked, "COLUMN_BLOCK", 4)
    stack = StackedResponses(parts)
    rows = np.array([0, 2, 3, 5, 6])
    means = stack.repetition_means()
    from datamodules.dataset import mean_over_repetitions
    expected = check_voxels(whole, mean_over_repetitions(whole)[rows])
    got = voxel_report(stack, means, rows)
    assert expected.constant[7] and expected.unmeasured[0]
    for kind in ("missing", "unmeasured", "constant"):
        np.testing.assert_array_equal(getattr(got, kind), getattr(expected, kind))
    np.testing.assert_allclose(split_noise_ceiling(stack, rows), noise_ceiling(whole[rows]), equal_nan=True)


def test_whole_brain_data_module_keeps_every_subject_memory_mapped(root, tmp_path):
    copy = _copy(root, tmp_path)
    direct = BMDSource(copy).read(Selection(track="full"))  # builds the caches
    data = AlgonautsDataModule(root=str(copy), source="bmd", track="full", split="holdout", n_val=3)
    responses = data.responses
    assert isinstance(responses, StackedResponses)
    assert all(isinstance(p, np.memmap) for p in responses.parts)
    whole = direct.stacked_train()
    np.testing.assert_array_equal(np.asarray(responses), whole)
    with np.errstate(invalid="ignore"):
        expected = np.nanmean(whole.astype(np.float64), axis=1)
    assert isinstance(data.mean_responses, np.memmap)
    np.testing.assert_allclose(data.mean_responses, expected, rtol=1e-5, atol=1e-6)
    data.train_indices, data.val_indices = data.split_of(data.release.n_train)
    np.testing.assert_allclose(data.noise_ceiling("val").numpy(),
                               noise_ceiling(whole[data.val_indices]).astype(np.float32), rtol=1e-5, atol=1e-6)


def _poison(copy, value):
    path = bmd_files.whole_brain_path(copy, "sub-01", "train")
    with open(path, "rb") as f:
        betas, order, mask = pickle.load(f)
    betas[2, 1, 5] = value
    with open(path, "wb") as f:
        pickle.dump((betas, order, mask), f)


def test_out_of_range_values_are_refused_or_masked_as_the_cache_is_written_and_remembered(root, tmp_path):
    copy = _copy(root, tmp_path)
    _poison(copy, 1e300)  # infinite ones are refused by the reader whatever the policy
    selection = Selection(track="full", subjects=("sub-01",))
    with pytest.raises(NonFiniteResponseError, match="sub-01_organized_betas_task-train.*video row 2"):
        BMDSource(copy).read(selection)
    assert not (copy / response_cache.CACHE_DIR / "sub-01_task-train.f32.npy").exists()
    masked = BMDSource(copy).read(dataclasses.replace(selection, non_finite="mask"))
    wb = masked.recordings["sub-01"]["WB"]
    assert isinstance(wb.train, np.memmap) and np.isnan(wb.train[2, 1, 5])
    # The cache built with "mask" does not let a later "raise" read pass.
    with pytest.raises(NonFiniteResponseError, match="video row 2"):
        BMDSource(copy).read(selection)


def test_a_release_moved_with_its_cache_is_not_converted_again(root, tmp_path, monkeypatch):
    copy = _copy(root, tmp_path)
    BMDSource(copy).read(Selection(track="full", subjects=("sub-01",)))
    moved = tmp_path / "moved"
    shutil.copytree(copy, moved, symlinks=True)  # copy2: sizes and modification times kept

    def no_unpickling(*args, **kwargs):
        raise AssertionError("a cached file was unpickled again")

    monkeypatch.setattr(bmd_files, "load_pickle", no_unpickling)
    wb = BMDSource(moved).read(Selection(track="full", subjects=("sub-01",))).recordings["sub-01"]["WB"]
    assert isinstance(wb.train, np.memmap) and str(moved) in str(wb.train.filename)
