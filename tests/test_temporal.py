"""Temporal stages: shapes, initial equivalences, frame differences."""

import numpy as np
import pytest
import torch

from lightning_modules.networks.temporal import build_temporal


@pytest.mark.parametrize("kind", ["mean", "weighted", "lstm"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("frame_diff", [False, True])
def test_shapes(kind, bidirectional, frame_diff):
    stage = build_temporal(kind, 6, 4, hidden_dim=5, bidirectional=bidirectional,
                           frame_diff=frame_diff)
    single = {"mean": 6, "weighted": 6, "lstm": 10 if bidirectional else 5}[kind]
    assert stage.out_dim == single * (2 if frame_diff else 1)
    x = torch.randn(3, 4, 6, requires_grad=True)
    out = stage(x)
    assert out.shape == (3, stage.out_dim)
    out.sum().backward()
    assert torch.isfinite(x.grad).all()


def test_weighted_starts_as_mean():
    x = torch.randn(2, 5, 7)
    torch.testing.assert_close(build_temporal("weighted", 7, 5)(x), x.mean(1))
    got = build_temporal("weighted", 7, 5, frame_diff=True)(x)
    torch.testing.assert_close(got, build_temporal("mean", 7, 5, frame_diff=True)(x))


def test_frame_diff_appends_pooled_difference_magnitudes():
    x = torch.randn(2, 4, 3)
    out = build_temporal("mean", 3, 4, frame_diff=True)(x)
    expected = np.concatenate([x.numpy().mean(1), np.abs(np.diff(x.numpy(), axis=1)).mean(1)], axis=1)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6)
    # Motion energy, not displacement: a clip and its time reversal move the same amount.
    torch.testing.assert_close(out[:, 3:], build_temporal("mean", 3, 4, frame_diff=True)(x.flip(1))[:, 3:])


def test_weighted_learns_and_checks_frame_count():
    stage = build_temporal("weighted", 3, 4)
    stage(torch.randn(2, 4, 3)).pow(2).sum().backward()
    assert stage.logits.grad is not None
    with pytest.raises(ValueError, match="4 frames"):
        stage(torch.randn(2, 5, 3))


def test_lstm_bidirectional_reads_both_ends():
    stage = build_temporal("lstm", 3, 4, hidden_dim=2, bidirectional=True)
    x = torch.randn(1, 4, 3)
    _, (h_n, _) = stage.lstm(x)
    out = stage(x)
    torch.testing.assert_close(out[0, :2], h_n[0, 0])
    torch.testing.assert_close(out[0, 2:], h_n[1, 0])


def test_errors():
    with pytest.raises(ValueError, match="mean, weighted, lstm"):
        build_temporal("gru", 3, 4)
    with pytest.raises(ValueError, match="num_frames >= 2"):
        build_temporal("mean", 3, 1, frame_diff=True)


def test_the_registry_builds_every_kind_and_refuses_a_second_registration(monkeypatch):
    from torch import nn

    from lightning_modules.networks import temporal

    for kind, entry in temporal.TEMPORAL_KINDS.items():
        assert type(build_temporal(kind, 6, 4, hidden_dim=5)) is entry.pool
    with pytest.raises(ValueError, match="temporal kind 'mean' is registered twice"):
        temporal.register_temporal("mean", starts_as_frame_mean=True)(nn.Identity)

    class Last(nn.Module):  # a kind added by registration alone is built through the same path
        def __init__(self, in_dim):
            super().__init__()
            self.out_dim = in_dim

        @classmethod
        def from_options(cls, in_dim, num_frames, hidden_dim, bidirectional):
            return cls(in_dim)

        def forward(self, x):
            return x[:, -1]

    monkeypatch.setitem(temporal.TEMPORAL_KINDS, "last", temporal.TemporalKind(Last, False))
    stage = build_temporal("last", 6, 4, frame_diff=True)
    x = torch.randn(2, 4, 6)
    assert torch.equal(stage(x), torch.cat([x[:, -1], (x[:, 3] - x[:, 2]).abs()], dim=1))
