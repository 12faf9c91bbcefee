"""The Lightning overrides module checks, at import, that the private names it uses exist,
and the range it states is the one requirements.txt pins."""

import re

import pytest
from pytorch_lightning.callbacks import ModelCheckpoint

import runtime.lightning_overrides as overrides
from tests.helpers import REPO


def test_requirements_pin_the_tested_range():
    pin = re.search(r"^pytorch-lightning(.*)$", (REPO / "requirements.txt").read_text(), re.M).group(1).strip()
    assert pin == overrides.TESTED_LIGHTNING


def test_a_missing_private_name_stops_the_import_naming_it_and_the_range(monkeypatch):
    monkeypatch.delattr(ModelCheckpoint, "_save_topk_checkpoint")
    with pytest.raises(ImportError, match=r"lacks ModelCheckpoint._save_topk_checkpoint, .* install "
                                          r"pytorch-lightning>=2.6,<2.7"):
        overrides._check_private_api()


def test_every_override_in_the_module_is_checked():
    for cls in (overrides.EpochCheckpoint, overrides.SubcommandHooks):
        parent = cls.__mro__[1]
        own_private = {n for n in vars(cls) if n.startswith("_") and not n.startswith("__") and hasattr(parent, n)}
        assert own_private <= set(overrides._PRIVATE_API[parent]), own_private
