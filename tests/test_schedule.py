import math

import pytest

from lightning_modules.schedule import backbone_should_train, warmup_cosine


def test_warmup_then_cosine():
    assert warmup_cosine(0, 10, 110) == pytest.approx(0.1)
    assert warmup_cosine(9, 10, 110) == pytest.approx(1.0)
    assert warmup_cosine(60, 10, 110) == pytest.approx(0.5)
    assert warmup_cosine(110, 10, 110, min_ratio=0.01) == pytest.approx(0.01)
    assert warmup_cosine(35, 10, 110) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.25)))


def test_freeze_for_epochs():
    assert [backbone_should_train(e, 2, None, None) for e in range(4)] == [False, False, True, True]
    assert not backbone_should_train(50, -1, None, 0.9)


def test_unfreeze_once_validation_reaches_threshold():
    assert not backbone_should_train(3, 1, 0.5, None)
    assert not backbone_should_train(3, 1, 0.5, 0.49)
    assert backbone_should_train(3, 1, 0.5, 0.5)
    assert not backbone_should_train(0, 1, 0.5, 0.9)  # the epoch minimum still holds
