"""Issue 27 under DDP: the movie model's correlation loss is taken over every rank's segments
(gathered, per subject), so one step on 2 gloo processes holding unequal shares gives the same
gradients as 1 process holding all the segments (slow: spawns processes)."""

import os
import socket

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from datamodules.movies.segments import segment_frames
from lightning_modules.movie_finetune import MovieFinetune

TR, RATE, N_TRS, N_FRAMES = 1.49, 2.0, 4, 30
SHARES = ([0, 1], [2])  # rank 0 holds two segments, rank 1 one


def _model() -> MovieFinetune:
    torch.manual_seed(0)
    model = MovieFinetune(backbone="test_efficientnet", pretrained=False, rate_hz=RATE,
                          window_s=3.0, temporal_init="noise", mse_weight=0.1,
                          subjects=["sub-01", "sub-02"], n_parcels=6)
    model.train()
    model.backbone_trains = True
    return model


def _batch(rows) -> dict:
    rng = np.random.default_rng(0)
    movie = rng.integers(0, 256, (N_FRAMES, 3, 16, 16), dtype=np.uint8)
    items = []
    for start in (0, 3, 6):
        seg = segment_frames(start, N_TRS, RATE, TR, 5, N_FRAMES, pad_to=20)
        items.append((movie[seg.read], seg.pool))
    targets = rng.standard_normal((3, N_TRS, 6)).astype(np.float32)
    subject = np.array([0, 1, 0])
    return {"frames": torch.from_numpy(np.stack([items[i][0] for i in rows])),
            "pool": torch.from_numpy(np.stack([items[i][1] for i in rows])),
            "targets": torch.from_numpy(targets[rows]), "subject": torch.from_numpy(subject[rows])}


def _gradients(model: MovieFinetune) -> dict[str, torch.Tensor]:
    return {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}


def _rank(rank: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    torch.set_num_threads(1)
    model = _model()
    model.training_step(_batch(SHARES[rank]), 0).backward()
    grads = _gradients(model)
    for g in grads.values():  # what DDP does: average over the ranks
        dist.all_reduce(g)
        g /= 2
    if rank == 0:
        torch.save(grads, out)
    dist.destroy_process_group()


@pytest.mark.slow
@pytest.mark.filterwarnings(r"ignore:You are trying to `self.log\(\)`")
def test_two_processes_give_the_gradients_of_one_holding_every_segment(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = str(tmp_path / "grads.pt")
    mp.spawn(_rank, args=(port, out), nprocs=2, join=True)
    two = torch.load(out)
    model = _model()
    model.training_step(_batch([0, 1, 2]), 0).backward()
    one = _gradients(model)
    assert one.keys() == two.keys()
    assert any(k.startswith("backbone.") for k in one)
    assert any(k.startswith("heads.sub-02") for k in one)
    for key in one:
        torch.testing.assert_close(two[key], one[key], atol=1e-5, rtol=1e-4, msg=key)
    # a loss per rank (no gather) would not: rank 1's segment alone has another correlation
    alone = _model()
    alone.training_step(_batch([2]), 0).backward()
    key = "heads.sub-01.weight"  # sub-01 has segments 0 and 2 in all, only 2 on rank 1
    assert not torch.allclose(_gradients(alone)[key], one[key], atol=1e-3)
