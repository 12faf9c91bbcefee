"""Random generators' states saved in every checkpoint, so a resumed run draws what an
uninterrupted one would have drawn.

Lightning restores weights, optimiser, scheduler and loop counters, but not the random
generators: without this, anything that draws from them after a resume (dropout, a
randomly initialised module, a user's augmentation) would draw differently from the run that
was never stopped. The data's own draws (training order, repetition subsets) do not use these
generators at all: they follow (seed, epoch, video), see :mod:`datamodules.sampling`.
"""

from __future__ import annotations

import random

import numpy as np
import pytorch_lightning as pl
import torch


class RandomStateCheckpoint(pl.Callback):
    """Saves the torch, CUDA, numpy and Python generators' states with each checkpoint and
    puts them back when training restarts from one.

    The states are written as tensors and plain Python values, so the checkpoint still loads
    with ``torch.load(..., weights_only=True)``. Under DDP the checkpoint holds rank 0's
    states; Lightning's distributed sampler shuffles from the seed and epoch, not from them.
    """

    def state_dict(self) -> dict:
        kind, keys, pos, has_gauss, cached_gaussian = np.random.get_state(legacy=True)
        state = {
            "torch": torch.get_rng_state(),
            "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                      "has_gauss": int(has_gauss), "cached_gaussian": float(cached_gaussian)},
            "python": random.getstate(),
        }
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        """Put the generators back at once.

        Lightning restores callbacks before ``on_fit_start`` and the sanity check (which it runs
        under ``isolate_rng``), and creates the first resumed epoch's data iterator (drawing the
        shuffle and the workers' seeds) before ``on_train_start``: the states must be back
        before that draw, as they were when the uninterrupted run made it.
        """
        torch.set_rng_state(state_dict["torch"])
        n = state_dict["numpy"]
        np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                             n["cached_gaussian"]))
        version, internal, gauss_next = state_dict["python"]
        random.setstate((version, tuple(internal), gauss_next))
        if "cuda" in state_dict and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state_dict["cuda"])
