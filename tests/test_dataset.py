"""Dataset items, repetition sampling, and the data module's batches, splits and ceilings."""

import numpy as np
import pytest
import torch

from datamodules.algonauts import AlgonautsDataModule
from datamodules.dataset import ClipDataset, mean_over_repetitions
from datamodules.release import load_release
from scoring.noise_ceiling import noise_ceiling


class _Clips:
    def __getitem__(self, i):
        return np.full((2, 3, 4, 4), i, dtype=np.uint8)


def test_items_carry_video_index_and_repetition_mean():
    responses = np.random.default_rng(0).normal(size=(5, 3, 7)).astype(np.float32)
    item = ClipDataset(_Clips(), [3, 1], responses)[0]
    assert item["video"].dtype == torch.uint8 and item["video"].shape == (2, 3, 4, 4)
    assert int(item["index"]) == 3 and int(item["video"][0, 0, 0, 0]) == 3
    np.testing.assert_allclose(item["targets"].numpy(), responses[3].mean(0), rtol=1e-6)


def test_random_subset_is_a_nonempty_subset_mean():
    responses = np.arange(3 * 4, dtype=np.float32).reshape(1, 3, 4) ** 2  # distinct per repetition
    dataset = ClipDataset(_Clips(), [0], responses, repetitions="random_subset")
    import itertools

    subset_means = {tuple(np.round(responses[0, list(c)].mean(0), 4))
                    for k in (1, 2, 3) for c in itertools.combinations(range(3), k)}
    seen = {tuple(np.round(dataset[0, epoch]["targets"].numpy(), 4)) for epoch in range(200)}
    assert seen <= subset_means
    assert len(seen) >= 5  # it really varies across epochs


def test_nan_repetitions_are_ignored_in_the_mean():
    responses = np.array([[[1.0, 2.0], [np.nan, 4.0], [3.0, np.nan]]], dtype=np.float32)
    np.testing.assert_allclose(mean_over_repetitions(responses), [[2.0, 3.0]])


def test_unknown_repetition_mode():
    with pytest.raises(ValueError, match="repetitions must be one of"):
        ClipDataset(_Clips(), [0], np.zeros((1, 3, 2)), repetitions="median")


def test_datamodule_batches_every_subject_and_region(tiny_root, tmp_path):
    dm = AlgonautsDataModule(root=str(tiny_root), cache_dir=str(tmp_path / "cache"), num_frames=4, image_size=32,
                             split="holdout", n_val=4, batch_size=5, num_workers=0, video_backend="pyav")
    dm.prepare_data()
    dm.setup("fit")
    release = load_release(tiny_root)
    assert dm.target_layout.n_voxels == sum(sum(r.values()) for r in release.voxel_counts.values())
    batch = next(iter(dm.train_dataloader()))
    assert batch["video"].dtype == torch.uint8 and batch["video"].shape == (5, 4, 3, 32, 32)
    assert batch["targets"].shape == (5, dm.target_layout.n_voxels)
    # Row of a batch = the repetition mean of every subject's and region's voxels, in layout order.
    video = int(batch["index"][0])
    expected = np.concatenate([release.recordings[g.subject][g.roi].train[video].mean(0)
                               for g in dm.target_layout.groups])
    np.testing.assert_allclose(batch["targets"][0].numpy(), expected, rtol=1e-5)
    np.testing.assert_array_equal(dm.val_indices, np.arange(release.n_train - 4, release.n_train))
    test_batch = next(iter(dm.predict_dataloader()))
    assert "targets" not in test_batch and test_batch["index"].tolist() == list(range(release.n_train, 16))
    expected_nc = noise_ceiling(release.stacked_train()[dm.val_indices])
    np.testing.assert_allclose(dm.noise_ceiling("val").numpy(), expected_nc, rtol=1e-5)


def test_synthetic_release_is_generated_once_before_the_data_module_reads_it(tmp_path, monkeypatch):
    import simulator.ensure as ensure

    calls = []
    real = ensure.generate_dataset
    monkeypatch.setattr(ensure, "generate_dataset", lambda root, config: calls.append(root) or
                        real(root, config, progress=False))
    ensure.ensure_release(tmp_path / "gen", "tiny")
    dm = AlgonautsDataModule(root=str(tmp_path / "gen"), synthetic="tiny")
    assert dm.voxel_counts and calls == [dm.root]
    ensure.ensure_release(tmp_path / "gen", "tiny")  # exists now: no second run
    assert len(calls) == 1
    with pytest.raises(ValueError, match="'huge' is not a preset"):
        ensure.ensure_release(tmp_path / "other", "huge")
