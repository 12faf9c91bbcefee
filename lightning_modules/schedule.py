"""Learning-rate schedule and backbone freezing rules for fine-tuning."""

from __future__ import annotations

import math


def warmup_cosine(step: int, warmup_steps: int, total_steps: int, min_ratio: float = 0.0) -> float:
    """Multiplier of the base learning rate: linear warm-up from 0, then cosine decay to ``min_ratio``."""
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def backbone_should_train(epoch: int, freeze_epochs: int, unfreeze_at_score: float | None,
                          best_score: float | None) -> bool:
    """Whether the backbone trains in ``epoch``.

    With ``unfreeze_at_score`` set, the backbone is frozen until validation has reached that
    score (the 2021 winner's rule), and ``freeze_epochs`` is a minimum; otherwise it is frozen
    for the first ``freeze_epochs`` epochs. ``freeze_epochs < 0`` keeps it frozen for good.
    """
    if freeze_epochs < 0 or epoch < freeze_epochs:
        return False
    if unfreeze_at_score is not None:
        return best_score is not None and best_score >= unfreeze_at_score
    return True
