"""Temporal stages: pool per-frame features of a clip into one vector.

Every stage maps ``(batch, num_frames, in_dim)`` to ``(batch, out_dim)`` and
exposes ``out_dim``. Each kind registers itself by its config name (``model.temporal.kind``)
with :func:`register_temporal`, as timm's ``register_model`` does, and ``build_temporal`` builds it
from :data:`TEMPORAL_KINDS` through the class's ``from_options``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, get_args

import torch
from torch import nn

TemporalKindName = Literal["mean", "weighted", "lstm"]


@dataclass(frozen=True)
class TemporalKind:
    """What one temporal kind is and implies.

    ``pool``: the stage's class; its ``from_options(in_dim, num_frames, hidden_dim, bidirectional)``
    builds it from the options every kind is given (each takes what it needs).
    ``starts_as_frame_mean``: at initialisation the stage outputs the mean of the frames' features
    (``weighted`` starts uniform), so heads fitted on frame-averaged features (the ridge baseline's)
    can start the trainable heads.
    """

    pool: type[nn.Module]
    starts_as_frame_mean: bool


#: Every temporal kind, by its config name (``model.temporal.kind``); :func:`register_temporal`
#: fills it.
TEMPORAL_KINDS: dict[str, TemporalKind] = {}


def register_temporal(name: str, starts_as_frame_mean: bool
                      ) -> Callable[[type[nn.Module]], type[nn.Module]]:
    """Class decorator: the stage becomes temporal kind ``name`` (see :class:`TemporalKind`)."""

    def add(pool: type[nn.Module]) -> type[nn.Module]:
        if name in TEMPORAL_KINDS:
            raise ValueError(f"temporal kind {name!r} is registered twice")
        TEMPORAL_KINDS[name] = TemporalKind(pool, starts_as_frame_mean)
        return pool

    return add


@register_temporal("mean", starts_as_frame_mean=True)
class MeanPool(nn.Module):
    """Average over frames: ``out = mean_t x[:, t]``; ``out_dim = in_dim``."""

    def __init__(self, in_dim: int):
        super().__init__()
        self.out_dim = in_dim

    @classmethod
    def from_options(cls, in_dim: int, num_frames: int, hidden_dim: int,
                     bidirectional: bool) -> MeanPool:
        return cls(in_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=1)


@register_temporal("weighted", starts_as_frame_mean=True)
class WeightedPool(nn.Module):
    """Learned convex combination of frames: ``out = sum_t softmax(a)_t x[:, t]``.

    The logits ``a`` (num_frames,) start at zero, so the stage starts as ``MeanPool``.
    """

    def __init__(self, in_dim: int, num_frames: int):
        super().__init__()
        self.out_dim = in_dim
        self.num_frames = num_frames
        self.logits = nn.Parameter(torch.zeros(num_frames))

    @classmethod
    def from_options(cls, in_dim: int, num_frames: int, hidden_dim: int,
                     bidirectional: bool) -> WeightedPool:
        return cls(in_dim, num_frames)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != self.num_frames:
            raise ValueError(f"built for {self.num_frames} frames, got {x.shape[1]}")
        w = torch.softmax(self.logits, dim=0).to(x.dtype)
        return torch.einsum("btd,t->bd", x, w)


@register_temporal("lstm", starts_as_frame_mean=False)
class LSTMPool(nn.Module):
    """One-layer LSTM over frames; the output is its final hidden state.

    Unidirectional: ``h_T`` after reading all frames, ``out_dim = hidden_dim``.
    Bidirectional: ``[h_T(forward), h_1(backward)]``, each direction's state after
    reading the whole clip, ``out_dim = 2 * hidden_dim``. The final state (rather
    than the mean of outputs) lets the network decide what to keep over the clip.
    """

    def __init__(self, in_dim: int, hidden_dim: int = 512, bidirectional: bool = False):
        super().__init__()
        self.lstm = nn.LSTM(in_dim, hidden_dim, batch_first=True, bidirectional=bidirectional)
        self.out_dim = hidden_dim * (2 if bidirectional else 1)

    @classmethod
    def from_options(cls, in_dim: int, num_frames: int, hidden_dim: int,
                     bidirectional: bool) -> LSTMPool:
        return cls(in_dim, hidden_dim, bidirectional)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, (h_n, _) = self.lstm(x)  # h_n: (num_directions, batch, hidden_dim)
        return h_n.transpose(0, 1).reshape(x.shape[0], self.out_dim)


class FrameDiffPool(nn.Module):
    """Concatenate pooled frames with pooled magnitudes of frame-to-frame differences.

    ``out = [frames(x), diffs(|x[:, 1:] - x[:, :-1]|)]``, two stages of the same kind
    with their own parameters; ``out_dim = frames.out_dim + diffs.out_dim``.
    The magnitude is what makes this a motion signal (a motion-energy model, as in
    the field's motion-energy encoding models): a weighted sum of *signed*
    differences is just another linear weighting of the frames, which the frame
    stage already has, and their mean telescopes to ``(x[:, -1] - x[:, 0]) / (T - 1)``.
    """

    def __init__(self, frames: nn.Module, diffs: nn.Module):
        super().__init__()
        self.frames, self.diffs = frames, diffs
        self.out_dim = frames.out_dim + diffs.out_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.frames(x), self.diffs((x[:, 1:] - x[:, :-1]).abs())], dim=1)


assert set(TEMPORAL_KINDS) == set(get_args(TemporalKindName))


def _build(kind, in_dim, num_frames, hidden_dim, bidirectional) -> nn.Module:
    if kind not in TEMPORAL_KINDS:
        raise ValueError(f"unknown temporal kind {kind!r}; choose one of "
                         f"{', '.join(TEMPORAL_KINDS)}")
    return TEMPORAL_KINDS[kind].pool.from_options(in_dim, num_frames, hidden_dim, bidirectional)


def heads_read_frame_mean(kind: str, frame_diff: bool) -> bool:
    """Whether the heads read frame-averaged features at initialisation (ridge can set them)."""
    return TEMPORAL_KINDS[kind].starts_as_frame_mean and not frame_diff


def build_temporal(
    kind: str,
    in_dim: int,
    num_frames: int,
    hidden_dim: int = 512,
    bidirectional: bool = False,
    frame_diff: bool = False,
) -> nn.Module:
    """Temporal stage ``(batch, num_frames, in_dim) -> (batch, out_dim)``.

    Parameters
    ----------
    kind : {"mean", "weighted", "lstm"}
        A key of :data:`TEMPORAL_KINDS`.
    in_dim : int
        Per-frame feature size.
    num_frames : int
        Frames per clip (fixed for "weighted"; >= 2 with ``frame_diff``).
    hidden_dim, bidirectional
        LSTM size and direction ("lstm" only).
    frame_diff : bool
        Also pool ``|x[:, 1:] - x[:, :-1]|`` (same kind, own parameters) and
        concatenate it; ``out_dim`` doubles.
    """
    frames = _build(kind, in_dim, num_frames, hidden_dim, bidirectional)
    if not frame_diff:
        return frames
    if num_frames < 2:
        raise ValueError("frame_diff needs num_frames >= 2")
    return FrameDiffPool(frames, _build(kind, in_dim, num_frames - 1, hidden_dim, bidirectional))
