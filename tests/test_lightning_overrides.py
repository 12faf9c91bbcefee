"""The Lightning overrides module checks, at import, that the private names it uses exist,
and the range it states is the one requirements.txt pins."""

import re

import pytest
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.loops import _FitLoop
from pytorch_lightning.loops.progress import _BatchProgress
from pytorch_lightning.strategies import DDPStrategy
from pytorch_lightning.trainer.connectors.checkpoint_connector import _CheckpointConnector

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


def _init_without_attributes(self, *args, **kwargs):
    pass


@pytest.mark.parametrize("owner, name, remove", [
    # an attribute set in __init__: DDP's keyword arguments
    (DDPStrategy, "_ddp_kwargs", lambda mp: mp.setattr(DDPStrategy, "__init__", _init_without_attributes)),
    # a method: the checkpoint connector's requeue path
    (_CheckpointConnector, "hpc_save_path", lambda mp: mp.delattr(_CheckpointConnector, "hpc_save_path")),
    # a dataclass field: the loop counters'
    (_BatchProgress, "is_last_batch", lambda mp: (
        mp.delattr(_BatchProgress, "is_last_batch"),
        mp.setattr(_BatchProgress, "__dataclass_fields__",
                   {k: v for k, v in _BatchProgress.__dataclass_fields__.items() if k != "is_last_batch"}))),
    (_FitLoop, "epoch_progress", lambda mp: mp.setattr(_FitLoop, "__init__", _init_without_attributes)),
])
def test_every_private_name_read_is_checked_too(monkeypatch, owner, name, remove):
    overrides._check_private_api()  # all present as installed
    remove(monkeypatch)
    with pytest.raises(ImportError, match=rf"lacks {owner.__name__}\.{name}\b.* install pytorch-lightning>=2.6,<2.7"):
        overrides._check_private_api()


def test_the_names_read_outside_overrides_are_in_the_table():
    """The trainer attributes the counter helpers read resolve on a real Trainer, and each is listed."""
    import pytorch_lightning as pl

    trainer = pl.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, accelerator="cpu", devices=1)
    assert overrides.epochs_processed(trainer) == 0
    assert overrides.batches_done_before_restart(trainer) == 0
    assert overrides.epoch_batches_done(trainer) is False
    assert overrides.requeue_checkpoint_path(trainer).endswith(".ckpt")
    table = {f"{owner.__name__}.{n}" for owner, names in overrides._PRIVATE_API.items() for n in names}
    assert {"Trainer._checkpoint_connector", "DDPStrategy._ddp_kwargs", "_FitLoop.restarting",
            "_ProcessedTracker.processed", "_BatchProgress.is_last_batch"} <= table
