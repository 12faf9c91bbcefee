"""Rebuild a trained model from its checkpoint alone, and average several of them."""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
import torch
from torch import nn

from lightning_modules.settings import grouped_hyperparameters
from lightning_modules.system import EncodingModel


def read_checkpoint(path: str | Path) -> dict:
    """Load a Lightning checkpoint with ``weights_only=True``: tensors and plain containers only."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found")
    try:
        from pytorch_lightning.utilities.parsing import AttributeDict

        with torch.serialization.safe_globals([AttributeDict]):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001
        raise ValueError(f"{path}: not a loadable checkpoint ({type(err).__name__}: {err})") from err


def load_encoding_model(path: str | Path) -> tuple[EncodingModel, dict]:
    """The trained model (eval mode) and the data settings it was trained with.

    The backbone is rebuilt without downloading anything (``pretrained=False``,
    ``checkpoint_path=None``): the checkpoint's own weights replace it.
    """
    checkpoint = read_checkpoint(path)
    if "hyper_parameters" not in checkpoint or "state_dict" not in checkpoint:
        raise ValueError(f"{path}: not an EncodingModel checkpoint (no hyper_parameters/state_dict)")
    hparams = grouped_hyperparameters(_init_arguments(checkpoint["hyper_parameters"]))
    hparams["backbone"] = {**(hparams.get("backbone") or {}), "pretrained": False, "checkpoint_path": None}
    model = EncodingModel(**hparams)
    model.load_state_dict(checkpoint["state_dict"])
    model.eval()
    model.checkpoint_epoch = checkpoint.get("epoch")  # an ensemble checks its validation file against it
    model.ridge_test_scores = checkpoint.get("ridge_test_scores")  # the ridge baseline's, beside the model's
    return model, _init_arguments(checkpoint.get("datamodule_hyper_parameters", {}))


def _init_arguments(hparams) -> dict:
    """Saved hyper-parameters without LightningCLI's bookkeeping (``_instantiator``, ``_class_path``)."""
    return {k: v for k, v in dict(hparams).items() if not k.startswith("_")}


class EnsemblePredictor(pl.LightningModule):
    """Combines the predictions of models with the same voxel layout, in one pass over the videos.

    ``weights`` of shape (n_models, n_voxels) (each voxel's weights summing to 1 over models, see
    ``export/ensemble_weights.py``) give ``sum_m weights[m] * model_m(video)``; without them the
    models are averaged.
    """

    def __init__(self, models: list[EncodingModel], weights: torch.Tensor | None = None):
        super().__init__()
        self.models = nn.ModuleList(models)
        if weights is not None:
            weights = torch.as_tensor(weights, dtype=torch.float32)
            if weights.shape != (len(models), models[0].layout.n_voxels):
                raise ValueError(f"ensemble weights of shape {tuple(weights.shape)}, expected "
                                 f"({len(models)}, {models[0].layout.n_voxels}): (n_models, n_voxels)")
        self.register_buffer("weights", weights, persistent=False)

    def predict_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0) -> dict:
        preds = torch.stack([m(batch["video"]).float() for m in self.models])  # (n_models, batch, n_voxels)
        preds = preds.mean(0) if self.weights is None else (preds * self.weights[:, None, :]).sum(0)
        return {"index": batch["index"], "preds": preds}
