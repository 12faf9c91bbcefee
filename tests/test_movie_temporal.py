"""Issue 27's temporal stages: a depthwise (learned FIR per channel) stage started from noise
recovers a simulated HRF's peak; both stages are causal within their window (so a segment's
kept TRs do not depend on where it starts); segment frames pool exactly the frames inside each
TR."""

import numpy as np
import pytest
import torch

from datamodules.movies.frame_cache import tr_means
from datamodules.movies.segments import max_frames, segment_frames
from lightning_modules.loss import correlation_loss
from lightning_modules.networks.movie_temporal import (
    DepthwiseTemporal,
    WindowTransformer,
    build_temporal,
)
from simulator.movies.hrf import convolve_runs, hrf_kernel, peak_time

RATE, TR = 2.0, 1.49


def test_depthwise_stage_from_noise_recovers_the_hrf_peak_within_one_tr():
    rng = np.random.default_rng(0)
    n_frames, channels = 800, 4  # 6.7 minutes at 2 Hz
    x = rng.standard_normal((n_frames, channels))
    w_true = np.array([1.0, 0.5, 0.8, 0.3])
    # the simulator's frame-rate response
    bold = convolve_runs(x @ w_true[:, None], hrf_kernel(RATE))
    n_trs = int(n_frames / RATE / TR)
    y = tr_means(bold, RATE, TR, n_trs)
    y = (y - y.mean()) / y.std() + 0.3 * rng.standard_normal(y.shape)  # noisy, as measured
    seg = segment_frames(0, n_trs, RATE, TR, 0, n_frames)
    # tr_means and the segment's pooling agree (an independent average of the same frames)
    np.testing.assert_allclose(seg.pool @ bold[seg.read], tr_means(bold, RATE, TR, n_trs),
                               rtol=1e-5, atol=1e-6)

    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny ops: threads only add overhead (and stall on a loaded CPU)
    stage = DepthwiseTemporal(channels, n_taps=40, rate_hz=RATE, init="noise", seed=1)
    head = torch.nn.Linear(channels, 1)
    X = torch.from_numpy(x[seg.read]).float()[None]
    pool = torch.from_numpy(seg.pool)
    Y = torch.from_numpy(y).float()
    start_peak = stage.peak_lag_s(head.weight[0])
    opt = torch.optim.Adam([*stage.parameters(), *head.parameters()], lr=0.03)
    try:
        for _ in range(200):
            pred = head(pool @ stage(X)[0])
            loss = correlation_loss(pred, Y)
            opt.zero_grad()
            loss.backward()
            opt.step()
    finally:
        torch.set_num_threads(threads)
    assert loss.item() < 0.1  # r > 0.9 against the noisy series
    learned = stage.peak_lag_s(head.weight[0])
    assert abs(learned - peak_time()) <= TR, (learned, start_peak)
    assert abs(start_peak - peak_time()) > TR  # the noise start was not already there


@pytest.mark.parametrize("kind", ["depthwise", "transformer"])
def test_outputs_depend_only_on_the_window(kind):
    torch.manual_seed(0)
    stage = build_temporal(kind, 6, 8, RATE, init="noise", d_model=8, n_heads=2, n_layers=2).eval()
    w = stage.window_frames
    assert w == (8 if kind == "depthwise" else 15)  # two layers of 8 frames each reach 15 back
    x = torch.randn(1, 40, 6)
    full = stage(x)
    # from frame 20 on, a sequence starting window - 1 frames earlier gives the same outputs
    tail = stage(x[:, 21 - w:])
    torch.testing.assert_close(tail[:, w - 1:], full[:, 20:], atol=1e-5, rtol=1e-5)
    # changing a frame outside every window of frames 20.. changes none of them, inside does
    y = x.clone()
    y[:, 20 - w] += 10
    torch.testing.assert_close(stage(y)[:, 20:], full[:, 20:], atol=1e-5, rtol=1e-5)
    y[:, 21 - w] += 10
    assert not torch.allclose(stage(y)[:, 20], full[:, 20], atol=1e-3)


def test_hrf_start_is_the_canonical_kernel_and_transformer_bias_is_a_lag_profile():
    stage = DepthwiseTemporal(3, 40, RATE, init="hrf")
    h = hrf_kernel(RATE)[:40]
    np.testing.assert_allclose(stage.kernel[1].detach().numpy(), h / h.sum(), rtol=1e-5)
    assert stage.peak_lag_s() == pytest.approx(peak_time(), abs=0.5 / RATE)
    t = WindowTransformer(3, 10, RATE, d_model=8, n_heads=2)
    assert t.lag_profile().shape == (10,)
    with pytest.raises(ValueError, match="model.temporal must be"):
        build_temporal("lstm", 3, 10, RATE)


def test_segment_frames_hold_context_and_the_trs_samples():
    pad = max_frames(4, RATE, TR, 5)
    seg = segment_frames(3, 4, RATE, TR, context=5, n_samples=30, pad_to=pad)
    assert len(seg.positions) == pad == seg.pool.shape[1]
    times = seg.positions / RATE
    kept = np.arange(pad) >= 5
    kept[len(np.unique(seg.positions)):] = False  # the padding repeats the last position
    for t in range(4):
        inside = (times >= (3 + t) * TR) & (times < (4 + t) * TR) & kept
        assert inside.sum() >= 2
        np.testing.assert_allclose(seg.pool[t][inside], 1 / inside.sum())
        assert seg.pool[t][~inside].sum() == 0
    first = int(np.flatnonzero(seg.pool.sum(0))[0])
    # 5 context frames before TR 3's first
    assert first == 5 and seg.positions[first] == np.ceil(3 * TR * RATE)
    start = segment_frames(0, 4, RATE, TR, context=5, n_samples=30)
    assert list(start.positions[:5]) == [-5, -4, -3, -2, -1] and list(start.read[:6]) == [0] * 6
