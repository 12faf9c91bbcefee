"""Issue 27's end-to-end movie model: whole runs predicted in overlapping segments agree where
they overlap and stitch without seams; training segments hold the right frames and responses;
running out of memory names the settings that size a segment."""

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from datamodules.movies.files import MovieRun
from datamodules.movies.segments import MovieSegments, segment_frames
from lightning_modules.movie_finetune import MovieFinetune

TR, RATE = 1.49, 2.0


def _model(temporal: str) -> MovieFinetune:
    torch.manual_seed(0)
    return MovieFinetune(backbone="test_efficientnet", pretrained=False, rate_hz=RATE,
                         temporal=temporal, temporal_init="noise", window_s=4.0, project_dim=8,
                         d_model=8, n_heads=2, n_layers=2, predict_segment_trs=7,
                         predict_overlap_trs=3,
                         frames_per_pass=16, subjects=["sub-01", "sub-02"], n_parcels=5).eval()


def _frames(n: int = 48, size: int = 16) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (n, 3, size, size), dtype=np.uint8)


@pytest.mark.parametrize("temporal", ["depthwise", "transformer"])
def test_overlapping_segments_agree_and_stitch_without_seams(temporal):
    model, frames = _model(temporal), _frames()
    a = model.predict_segment(frames, "sub-01", 3, 8, TR)  # TRs 3..10
    b = model.predict_segment(frames, "sub-01", 6, 8, TR)  # TRs 6..13
    np.testing.assert_allclose(a[3:], b[:5], atol=1e-5, rtol=1e-5)
    assert np.abs(a[3:]).max() > 1e-3  # not trivially zero
    # a run predicted in segments of 7 TRs overlapping by 3 == the run in one segment
    n_trs = 15
    dm = SimpleNamespace(frames=lambda movie: frames, hparams=SimpleNamespace(tr=TR))
    stitched = model.predict_runs(dm, "sub-02", [("movie", n_trs)])[0]
    whole = model.predict_segment(frames, "sub-02", 0, n_trs, TR)
    assert stitched.shape == (n_trs, 5) and stitched.dtype == np.float32
    np.testing.assert_allclose(stitched, whole, atol=1e-5, rtol=1e-5)
    # a frame inside TR 5's window changes TR 5; one after it does not
    seg = segment_frames(5, 1, RATE, TR, model.context_frames, len(frames))
    changed = frames.copy()
    changed[seg.read[0]] = 255 - changed[seg.read[0]]
    changed[seg.read[-1] + 1] = 255 - changed[seg.read[-1] + 1]
    again = model.predict_segment(changed, "sub-02", 5, 1, TR)
    np.testing.assert_allclose(again[0] != whole[5], True)
    # the frame after TR 5's is TR 6's
    assert not np.allclose(model.predict_segment(changed, "sub-02", 6, 1, TR), whole[6])


def test_training_segments_hold_their_frames_and_responses():
    movie = _frames(40, 8)
    runs = {s: [MovieRun(s, "friends", "s01e01a", None, Path(f"{s}.h5"), "k", Path("m.mkv"), n, 3)]
            for s, n in (("sub-02", 12), ("sub-01", 11))}
    series = {r: np.arange(r.n_trs * 3, dtype=np.float32).reshape(r.n_trs, 3) + i * 100
              for i, rs in enumerate(runs.values()) for r in rs}
    data = MovieSegments(runs, ["sub-01", "sub-02"], series.__getitem__, lambda m: movie, n_trs=4,
                         stride=3, context=5, rate_hz=RATE, tr=TR)
    # starts 0, 3, 6 and the last (7) for 11 TRs; 0, 3, 6, 8 for 12
    assert [(s, run.n_trs, start) for s, run, start in data.items] == [
        ("sub-01", 11, 0), ("sub-01", 11, 3), ("sub-01", 11, 6), ("sub-01", 11, 7),
        ("sub-02", 12, 0), ("sub-02", 12, 3), ("sub-02", 12, 6), ("sub-02", 12, 8)]
    item = data[6]
    run = runs["sub-02"][0]
    np.testing.assert_array_equal(item["targets"].numpy(), series[run][6:10])
    assert int(item["subject"]) == 1
    seg = segment_frames(6, 4, RATE, TR, 5, len(movie), data.n_frames)
    np.testing.assert_array_equal(item["frames"].numpy(), movie[seg.read])
    assert {tuple(data[i]["frames"].shape) for i in range(len(data))} == {(data.n_frames, 3, 8, 8)}
    np.testing.assert_allclose(item["pool"].sum(1).numpy(), 1.0)


def test_out_of_memory_names_the_segment_settings():
    from cli.movies import FINETUNE_MEMORY_SETTINGS
    from runtime.out_of_memory import DeviceOutOfMemoryError, explain_out_of_memory

    with pytest.raises(DeviceOutOfMemoryError) as err:
        now = {"data.segment_trs": "16: ~68 frames"}
        with explain_out_of_memory("fit", FINETUNE_MEMORY_SETTINGS, now):
            raise RuntimeError("CUDA error: out of memory")
    message = str(err.value)
    for name in ("data.batch_size", "data.segment_trs (now 16: ~68 frames)", "data.rate_hz",
                 "model.window_s", "model.checkpoint_backbone"):
        assert name in message


def test_backbone_checkpointing_gives_the_same_gradients():
    model = _model("depthwise").train()
    model.backbone_trains = True
    frames = torch.from_numpy(_frames(20))[None]
    seg = segment_frames(2, 3, RATE, TR, model.context_frames, 20, pad_to=20)
    pool = torch.from_numpy(seg.pool)[None]
    grads = []
    for ckpt in (False, True):
        model.hparams.checkpoint_backbone = ckpt
        model.zero_grad()
        model(frames[:, seg.read], pool, torch.tensor([0])).square().sum().backward()
        grads.append([p.grad.clone() for p in model.backbone.parameters() if p.grad is not None])
    assert len(grads[0]) == len(grads[1]) > 0
    for g0, g1 in zip(*grads, strict=True):
        torch.testing.assert_close(g0, g1, atol=1e-5, rtol=1e-4)
