"""The training order and the repetition subsets depend on (seed, epoch, video) only: not on the
number of worker processes, nor on what the process's random generators drew before."""

import numpy as np
import pytest
import torch

from datamodules.algonauts import AlgonautsDataModule
from datamodules.dataset import ClipDataset
from datamodules.sampling import EpochOrderSampler


def _datamodule(tiny_root, num_workers: int) -> AlgonautsDataModule:
    dm = AlgonautsDataModule(root=str(tiny_root), cache_dir=str(tiny_root.parent / "cache"), num_frames=4,
                             image_size=32, split="holdout", n_val=4, batch_size=3, num_workers=num_workers,
                             repetitions="random_subset", seed=7)
    dm.prepare_data()
    dm.setup("fit")
    return dm


def _epochs(dm: AlgonautsDataModule, epochs=(0, 1, 2)) -> list[tuple[int, list[int], np.ndarray]]:
    """Every training batch of ``epochs`` as (epoch, video indices, targets), through one loader
    (persistent workers, as in training)."""
    loader = dm.train_dataloader()
    out = []
    for epoch in epochs:
        loader.sampler.set_epoch(epoch)
        torch.manual_seed(1000 + epoch)  # whatever the main process's generator holds: no effect
        np.random.seed(epoch)
        for batch in loader:
            out.append((epoch, batch["index"].tolist(), batch["targets"].numpy()))
    return out


def test_training_batches_do_not_depend_on_the_number_of_workers(tiny_root):
    without = _epochs(_datamodule(tiny_root, 0))
    with_workers = _epochs(_datamodule(tiny_root, 2))
    assert [b[:2] for b in without] == [b[:2] for b in with_workers]
    for (_, _, a), (_, _, b) in zip(without, with_workers, strict=True):
        np.testing.assert_array_equal(a, b)
    # ...and still random: each epoch has its own order and its own repetition subsets.
    orders = {epoch: sum((idx for e, idx, _ in without if e == epoch), []) for epoch in (0, 1, 2)}
    assert len({tuple(o) for o in orders.values()}) > 1
    assert all(sorted(o) == sorted(orders[0]) for o in orders.values())
    targets = {0: {}, 1: {}, 2: {}}
    for epoch, idx, tg in without:
        targets[epoch].update(zip(idx, tg, strict=True))
    assert any(not np.array_equal(targets[0][v], targets[1][v]) for v in targets[0])


def test_draws_follow_seed_epoch_and_video():
    responses = np.arange(4 * 3 * 5, dtype=np.float32).reshape(4, 3, 5) ** 2
    dataset = ClipDataset(np.zeros((4, 1, 3, 2, 2), np.uint8), [0, 1, 2, 3], responses, "random_subset", seed=3)
    again = ClipDataset(np.zeros((4, 1, 3, 2, 2), np.uint8), [3, 2, 1, 0], responses, "random_subset", seed=3)
    for epoch in range(5):
        torch.manual_seed(epoch)
        # The same video at the same epoch: the same subset, whichever position it holds.
        np.testing.assert_array_equal(dataset[1, epoch]["targets"], again[2, epoch]["targets"])
    other_seed = ClipDataset(np.zeros((4, 1, 3, 2, 2), np.uint8), [0, 1, 2, 3], responses, "random_subset", seed=4)
    assert any(not np.array_equal(dataset[i, e]["targets"], other_seed[i, e]["targets"])
               for i in range(4) for e in range(5))


@pytest.mark.parametrize("n", [7, 8])
def test_epoch_order_is_a_seeded_permutation_split_across_ranks(n):
    data = list(range(n))
    single = EpochOrderSampler(data, seed=5)
    single.set_epoch(2)
    pairs = list(single)
    assert {e for _, e in pairs} == {2} and sorted(i for i, _ in pairs) == data
    assert [i for i, _ in pairs] == list(EpochOrderSampler(data, seed=5, epoch_of=lambda: 2).order(2))
    assert list(single.order(2)) != list(single.order(3))
    ranks = [EpochOrderSampler(data, seed=5, epoch_of=lambda: 2, num_replicas=2, rank=r) for r in (0, 1)]
    shards = [[i for i, _ in sampler] for sampler in ranks]
    assert len(shards[0]) == len(shards[1]) == len(ranks[0]) == -(-n // 2)
    assert set(shards[0]) | set(shards[1]) == set(data)
    if n % 2 == 0:  # nothing padded: the ranks share no video
        assert not set(shards[0]) & set(shards[1])
