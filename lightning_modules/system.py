"""The LightningModule: trains a :class:`VideoEncoder` on fMRI with a correlation loss.

Steps, losses, metrics and optimisers live here; the networks are plain
nn.Modules in this package (``backbones``, ``temporal``, ``heads``, ``encoder``).
Every ``__init__`` argument is a config key (``model.<name>`` in YAML).
"""

from __future__ import annotations

import logging

import pytorch_lightning as pl
import torch
from pytorch_lightning.strategies import DDPStrategy

from lightning_modules.baseline.handover import baseline_wanted, hand_over, ridge_heads_name
from lightning_modules.head_memory import check_model_heads
from lightning_modules.loss import correlation_loss
from lightning_modules.metrics import VoxelCorrelation
from lightning_modules.networks.backbone_depth import depth_groups
from lightning_modules.networks.backbones import build_backbone
from lightning_modules.networks.encoder import VideoEncoder
from lightning_modules.schedule import backbone_should_train, warmup_cosine
from lightning_modules.settings import (
    BackboneSettings,
    ModelSettings,
    OptimisationSettings,
    RidgeSettings,
    TemporalSettings,
)
from runtime.distributed import gather_rows
from runtime.lightning_overrides import find_unused_parameters
from scoring.layout import TargetLayout, VoxelCounts
from scoring.summary import ScoreSummary, ValidationResult, score_summary

log = logging.getLogger(__name__)


class EncodingModel(pl.LightningModule):
    """Video -> voxel responses of every selected subject and region.

    Every argument is a config key, ``model.<name>``; ``train.py fit --help`` prints these
    descriptions.

    Parameters
    ----------
    voxel_counts : dict of {subject: {roi: n_voxels}}
        The voxels each head predicts; ``train.py`` links it from the data.
    backbone : BackboneSettings
        The frame network (``model.backbone.name``, ``.pretrained``, ``.layers``, ...).
    temporal : TemporalSettings
        How frames are pooled over time (``model.temporal.kind``, ...).
    optimisation : OptimisationSettings
        Learning rates, schedule, freezing rules and loss mix (``model.optimisation.lr``, ...).
    ridge : RidgeSettings
        The closed-form ridge baseline and its hand-over to the heads (``model.ridge.fit``, ...).
    num_frames : int
        Frames per clip; linked from ``data.num_frames``.
    image_size : int
        Frame side in pixels; linked from ``data.image_size`` (ViTs are built for it).

    Each group's fields are described in :mod:`lightning_modules.settings` and by
    ``train.py fit --help``. Arguments may also be dicts of a group's fields (as checkpoints
    store them).
    """

    def __init__(
        self,
        voxel_counts: VoxelCounts | None = None,
        backbone: BackboneSettings = BackboneSettings(),
        temporal: TemporalSettings = TemporalSettings(),
        optimisation: OptimisationSettings = OptimisationSettings(),
        ridge: RidgeSettings = RidgeSettings(),
        num_frames: int = 16,
        image_size: int = 224,
    ):
        super().__init__()
        if voxel_counts is None:
            raise ValueError("voxel_counts is not set: train.py links it from the data "
                             "({subject: {roi: n_voxels}}); pass it when building the model by hand")
        self.settings = ModelSettings.from_arguments(backbone=backbone, temporal=temporal,
                                                     optimisation=optimisation, ridge=ridge)
        self.save_hyperparameters()
        # Plain dicts in the checkpoint: weights_only=True loads them, and no class path is stored.
        self.hparams.update(self.settings.as_dicts())
        self.layout = TargetLayout(voxel_counts)
        b, tm, opt = self.settings.backbone, self.settings.temporal, self.settings.optimisation
        frame_net = build_backbone(b.name, pretrained=b.pretrained, checkpoint_path=b.checkpoint_path,
                                   layers=b.layers, pool_grid=b.pool_grid, vone_frontend=b.vone_frontend,
                                   image_size=image_size)
        self.model = VideoEncoder(frame_net, temporal_kind=tm.kind, num_frames=num_frames, layout=self.layout,
                                  hidden_dim=tm.lstm_hidden, bidirectional=tm.bidirectional,
                                  frame_diff=tm.frame_diff, head_init_std=opt.head_init_std,
                                  freeze_batchnorm=opt.freeze_batchnorm, channels_last=b.channels_last,
                                  compile_backend="inductor" if b.compile else None)
        self.val_r = VoxelCorrelation(self.layout.n_voxels)
        self.test_r = VoxelCorrelation(self.layout.n_voxels)
        self.val_ceiling: torch.Tensor | None = None
        self.best_score: float | None = None
        #: The latest validation's per-voxel r and scores, for the callbacks (None before the first).
        self.last_validation: ValidationResult | None = None
        self.ridge_summary: ScoreSummary | None = None
        self.banded_summary: ScoreSummary | None = None  # model.ridge.banded's validation
        # The ridge baseline alone takes no gradient step: its training_step returns None, which
        # Lightning's automatic optimisation refuses under DDP.
        self.automatic_optimization = not self.settings.ridge.only

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        """``video`` uint8 (batch, num_frames, 3, H, W) -> predictions (batch, n_voxels_total)."""
        return self.model(video)

    # ------------------------------------------------------------------ set-up
    def setup(self, stage: str) -> None:
        datamodule = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        if datamodule is not None and hasattr(datamodule, "target_layout"):
            if datamodule.target_layout != self.layout:
                raise ValueError(f"the data's voxels {datamodule.target_layout} do not match the model's "
                                 f"{self.layout}: check subjects, regions and track")
            if stage in ("fit", "validate", "test") and datamodule.val_indices is not None:
                self.val_ceiling = datamodule.noise_ceiling("val")
        if stage == "fit":
            check_model_heads(self)  # one line before the first step, not an out-of-memory error mid-way
            self._pin_lower_blocks()
            if self._trainer is not None:
                self._prepare_ddp()

    def _pin_lower_blocks(self) -> None:
        """Under ``train_last_blocks``, pin the backbone's blocks below the last ones: never trained,
        and left out of backward (set-up, so that configure_optimizers only builds optimisers)."""
        opt = self.settings.optimisation
        if opt.train_last_blocks is None or self.settings.ridge.only:
            return
        blocks = depth_groups(self.model.backbone)
        keep = min(opt.train_last_blocks, len(blocks))
        self.model.pin_parameters([p for block in blocks[:len(blocks) - keep] for p in block])

    def _prepare_ddp(self) -> None:
        """Have DDP accept steps in which the frozen backbone gets no gradient (and ridge-only runs).

        DDP is built after this hook, while every parameter still requires a gradient, and it
        expects each of them to get one at every step; a backbone frozen at the start of an
        epoch then fails the second step ("parameters that were not used in producing the
        loss"). Freezing before the wrap would not do either: DDP registers only the parameters
        that require gradients when it is built, and would never sync the backbone's after
        unfreezing. ``find_unused_parameters`` keeps every parameter registered and lets DDP
        skip those left out of a step's graph, so gradients stay in sync on both sides of the
        freeze-to-unfreeze transition (at the cost of a graph traversal per step).
        """
        strategy = self.trainer.strategy
        if isinstance(strategy, DDPStrategy) and self.settings.ridge.only:
            # train.py freezes every parameter of a ridge-only run, and DDP refuses to wrap a module
            # with none to sync; the heads are marked again (no step is taken: manual optimisation).
            self.model.heads.requires_grad_(True)
            return
        freezes = (self.settings.optimisation.freeze_backbone_epochs != 0 or self.settings.optimisation.unfreeze_at_score is not None
                   or self.settings.optimisation.train_last_blocks is not None)
        if not (isinstance(strategy, DDPStrategy) and freezes):
            return
        if find_unused_parameters(strategy):
            log.info("DDP with find_unused_parameters=True: the backbone is frozen for part of the training")

    def on_fit_start(self) -> None:
        # Not on resume: the baselines' summaries and heads come back from the checkpoint.
        if baseline_wanted(self.settings) and self.ridge_summary is None:
            self.ridge_summary, self.banded_summary = hand_over(self)

    @property
    def ridge_heads_name(self) -> str:
        """Which baseline the heads start from: "banded ridge" or "ridge" (for messages)."""
        return ridge_heads_name(self.settings)

    def on_train_start(self) -> None:
        # Lightning skips on_train_epoch_start when it resumes part-way through an epoch (a SLURM
        # requeue checkpoint): the freezing rules for that epoch must hold from the first batch.
        self._apply_backbone_schedule()

    def on_train_epoch_start(self) -> None:
        train_backbone = self._apply_backbone_schedule()
        self.log("train/backbone_trainable", float(train_backbone), on_epoch=True, on_step=False,
                 sync_dist=True)

    def _apply_backbone_schedule(self) -> bool:
        """Freeze or unfreeze the backbone as this epoch's rules say (a ridge-only run never trains
        it); returns whether it trains."""
        opt = self.settings.optimisation
        train_backbone = not self.settings.ridge.only and backbone_should_train(
            self.current_epoch, opt.freeze_backbone_epochs, opt.unfreeze_at_score, self.best_score)
        if train_backbone and self.model.backbone_frozen:
            log.info("epoch %d: unfreezing the backbone", self.current_epoch)
            self.model.unfreeze_backbone()
        elif not train_backbone and not self.model.backbone_frozen:
            self.model.freeze_backbone()
        # Lightning puts back each submodule's own mode after validation (and the sanity check), set
        # flag by flag, bypassing VideoEncoder.train: on a resumed run whose backbone was never
        # frozen in this process that can leave BatchNorm on batch statistics. Re-apply the rules.
        self.model.train(self.training)
        return train_backbone

    # ------------------------------------------------------------------ steps
    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor | None:
        if self.settings.ridge.only:
            return None
        # Under DDP, the correlation is taken over the global batch: every rank gathers all ranks'
        # predictions (with their gradients) and targets and computes the same loss; the gradient
        # reaching each rank's own predictions is then N times the loss's, which DDP's averaging
        # over the N ranks cancels (see distributed.gather_rows). One process holding the whole
        # batch gets the same gradients.
        preds = gather_rows(_at_least_float32(self(batch["video"])))
        targets = gather_rows(batch["targets"])
        loss = correlation_loss(preds, targets, mse_weight=self.settings.optimisation.mse_weight)
        # Already the same global value on every rank; sync_dist only averages equal numbers.
        self.log("train/loss", loss, prog_bar=True, on_step=True, on_epoch=True, batch_size=len(preds),
                 sync_dist=True)
        return loss

    def validation_step(self, batch: dict, batch_idx: int) -> dict:
        preds = self(batch["video"]).float()
        loss = correlation_loss(preds, batch["targets"], mse_weight=self.settings.optimisation.mse_weight)
        self.log("val/loss", loss, on_epoch=True, sync_dist=True, batch_size=len(preds))
        self.val_r.update(preds, batch["targets"])
        return {"preds": preds}  # for callbacks (ValidationDump keeps the best validation's)

    def on_validation_epoch_end(self) -> None:
        r = self.val_r.compute()
        self.val_r.reset()
        summary = score_summary(r, self.val_ceiling, self.layout)
        self.last_validation = ValidationResult(r, self.val_ceiling, self.layout, summary)
        if summary.score is None:
            log.warning("no noise ceiling for the validation videos: val/score is the raw r")
        main = summary.main
        # Every rank already holds the same synced values; sync_dist only averages equal numbers.
        logged = summary.logged()
        logged.pop("score", None)
        self.log_dict({f"val/{k}": v for k, v in logged.items()}, sync_dist=True)
        self.log("val/score", main, prog_bar=True, sync_dist=True)
        for name, baseline in (("ridge", self.ridge_summary), ("banded_ridge", self.banded_summary)):
            if baseline is not None:
                self.log_dict({f"val/{name}/{k}": v for k, v in baseline.logged(per_group=False).items()},
                              sync_dist=True)
        if not self.trainer.sanity_checking:
            self.best_score = main if self.best_score is None else max(self.best_score, main)

    def test_step(self, batch: dict, batch_idx: int) -> None:
        self.test_r.update(self(batch["video"]).float(), batch["targets"])

    def on_test_epoch_end(self) -> None:
        summary = score_summary(self.test_r.compute(), self.val_ceiling, self.layout)
        self.test_r.reset()
        self.log_dict({f"test/{k}": v for k, v in summary.logged().items()}, sync_dist=True)

    def predict_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0) -> dict:
        return {"index": batch["index"], "preds": self(batch["video"]).float()}

    # ------------------------------------------------------------------ optimisation
    def configure_optimizers(self):
        if self.settings.ridge.only:
            return None
        groups = [{"params": list(self.model.head_parameters()), "lr": self.settings.optimisation.lr, "name": "heads"},
                  *self._backbone_groups()]
        optimizer = torch.optim.AdamW(groups, weight_decay=self.settings.optimisation.weight_decay)
        total = max(1, int(self.trainer.estimated_stepping_batches))
        per_epoch = max(1, total // max(1, self.trainer.max_epochs or 1))
        warmup = int(self.settings.optimisation.warmup_epochs * per_epoch)
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: warmup_cosine(step, warmup, total, self.settings.optimisation.min_lr_ratio))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def _backbone_groups(self) -> list[dict]:
        """The backbone's optimiser groups: one, or one per block with layer-wise rates; under
        ``train_last_blocks`` only the last blocks (the lower ones are pinned at set-up)."""
        opt = self.settings.optimisation
        rate = opt.lr * opt.backbone_lr_scale
        if opt.layer_lr_decay is None and opt.train_last_blocks is None:
            return [{"params": list(self.model.backbone_parameters()), "lr": rate, "name": "backbone"}]
        blocks = depth_groups(self.model.backbone)
        keep = len(blocks) if opt.train_last_blocks is None else min(opt.train_last_blocks, len(blocks))
        decay = opt.layer_lr_decay or 1.0
        return [{"params": block, "lr": rate * decay ** (len(blocks) - 1 - i), "name": f"backbone.block{i}"}
                for i, block in enumerate(blocks) if i >= len(blocks) - keep]

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["best_val_score"] = self.best_score
        # Plain containers (ScoreSummary.as_json): weights_only=True still loads the checkpoint.
        checkpoint["ridge_val_summary"] = self.ridge_summary.as_json() if self.ridge_summary else None
        checkpoint["banded_ridge_val_summary"] = self.banded_summary.as_json() if self.banded_summary else None
        checkpoint["ridge_test_scores"] = getattr(self, "ridge_test_scores", None)  # predict.py --score shows it

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.best_score = checkpoint.get("best_val_score")
        self.ridge_summary = ScoreSummary.from_json(checkpoint.get("ridge_val_summary"))
        self.banded_summary = ScoreSummary.from_json(checkpoint.get("banded_ridge_val_summary"))
        self.ridge_test_scores = checkpoint.get("ridge_test_scores")


def _at_least_float32(tensor: torch.Tensor) -> torch.Tensor:
    """Half and bfloat16 (mixed precision) to float32 for the loss; float32 and float64 unchanged."""
    return tensor if tensor.dtype in (torch.float32, torch.float64) else tensor.float()
