"""End-to-end fine-tuning on movie time series (issue 27): frames -> backbone -> temporal stage
with a learned lag -> per-subject heads to parcels, trained on segments of consecutive TRs.

One forward pass takes a segment of ``T`` TRs: the frames sampled at ``rate_hz`` inside them plus
the temporal stage's window before the first (:func:`datamodules.movies.segments.segment_frames`).
Each frame goes through the backbone once, the temporal stage (:mod:`.networks.movie_temporal`)
runs over the frame sequence, each TR's output is the mean over the frames inside it, and the
subject's linear head maps it to parcels. The loss is the correlation over the batch's TRs per
parcel (:func:`lightning_modules.loss.correlation_loss`, optionally plus MSE), per subject, over
every rank's segments under DDP (:func:`runtime.distributed.gather_rows`, as the clip mode).

Memory: activations grow with ``data.batch_size x frames per segment`` where frames per segment
= ``(data.segment_trs x tr + model.window_s) x data.rate_hz``; ``model.checkpoint_backbone``
recomputes the backbone's activations in backward instead of storing them (chunks of
``model.frames_per_pass`` frames); a frozen backbone stores none.

The backbone's BatchNorm statistics stay as pretrained (eval mode) throughout: the frames of a
segment are consecutive, hence far from independent, and prediction must not depend on which
frames share a pass.

Validation and prediction take whole runs in overlapping segments (:meth:`predict_runs`); a TR's
prediction depends only on the frames of its window, so the segments agree where they overlap
and the stitched series has no seams.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from datamodules.movies.segments import segment_frames
from datamodules.movies.split import stimulus_groups
from lightning_modules.loss import correlation_loss
from lightning_modules.movie_scores import MovieValidation
from lightning_modules.networks.backbones import build_backbone
from lightning_modules.networks.movie_temporal import build_temporal, window_frames
from lightning_modules.schedule import backbone_should_train, warmup_cosine
from ridge.grouped import grouped_ridge_cv
from run_folder.contract import RunFolder
from run_folder.summary_file import RunSummaryRecord
from runtime.distributed import broadcast_module, gather_rows
from runtime.lightning_overrides import find_unused_parameters

log = logging.getLogger(__name__)


class MovieFinetune(MovieValidation, pl.LightningModule):
    """Parameters
    ----------
    backbone, pretrained, layers : :func:`build_backbone` (as :class:`MovieRidge`)
    rate_hz : frames per second (linked from ``data.rate_hz``)
    temporal : ``depthwise`` (learned FIR per channel) or ``transformer``
    temporal_init : ``hrf`` or ``noise`` (depthwise only)
    window_s : seconds of frames each output looks back over (per transformer layer)
    project_dim : a linear map of the backbone's features to this many channels first (None: none)
    d_model, n_heads, n_layers, dropout : the transformer's size
    lr, backbone_lr_scale, weight_decay, warmup_epochs, min_lr_ratio : AdamW and the warm-up +
        cosine schedule (:func:`warmup_cosine`); the backbone's rate is ``lr x backbone_lr_scale``
    freeze_backbone_epochs : epochs before the backbone trains (-1: never)
    mse_weight : weight of an MSE term added to the correlation loss
    heads_from_ridge : start the heads from a ridge on the untrained model's TR features
    ridge_alphas : its penalties (default :data:`ridge.solver.DEFAULT_ALPHAS`)
    checkpoint_backbone : gradient checkpointing of the backbone while it trains
    frames_per_pass : frames per backbone call
    predict_segment_trs, predict_overlap_trs : how validation and prediction tile a run
    subjects, n_parcels : the heads; taken from the data at fit, saved in the checkpoint
    """

    def __init__(self, backbone: str = "tf_efficientnet_lite0", pretrained: bool = True,
                 layers: list[int] | None = None, rate_hz: float = 2.0, temporal: str = "depthwise",
                 temporal_init: str = "hrf", window_s: float = 20.0, project_dim: int | None = None,
                 d_model: int = 64, n_heads: int = 4, n_layers: int = 1, dropout: float = 0.1,
                 lr: float = 1e-3, backbone_lr_scale: float = 0.1, weight_decay: float = 1e-4,
                 warmup_epochs: float = 0.0, min_lr_ratio: float = 0.0,
                 freeze_backbone_epochs: int = 1,
                 mse_weight: float = 0.0, heads_from_ridge: bool = False,
                 ridge_alphas: list[float] | None = None, checkpoint_backbone: bool = False,
                 frames_per_pass: int = 64, predict_segment_trs: int = 32,
                 predict_overlap_trs: int = 4,
                 seed: int = 0, subjects: list[str] | None = None, n_parcels: int | None = None):
        super().__init__()
        if (frames_per_pass < 1 or predict_segment_trs < 1
                or not 0 <= predict_overlap_trs < predict_segment_trs):
            raise ValueError("model.frames_per_pass and model.predict_segment_trs must be >= 1 and "
                             "0 <= model.predict_overlap_trs < model.predict_segment_trs")
        self.save_hyperparameters()
        self.backbone = build_backbone(backbone, pretrained=pretrained, layers=layers).eval()
        for name, value in (("pixel_mean", self.backbone.mean), ("pixel_std", self.backbone.std)):
            self.register_buffer(name, torch.tensor(value).view(1, 3, 1, 1), persistent=False)
        n_features = sum(self.backbone.feature_dims)
        self.project = nn.Linear(n_features, project_dim) if project_dim else nn.Identity()
        self.temporal = build_temporal(temporal, project_dim or n_features,
                                       window_frames(window_s, rate_hz), rate_hz, temporal_init,
                                       seed, d_model, n_heads, n_layers, dropout)
        self.heads = nn.ModuleDict()
        if subjects and n_parcels:
            self._build_heads(subjects, n_parcels)
        self.backbone_trains = False
        self.best_score: float | None = None
        self.last_summary = self.best_summary = self.ridge_summary = None
        self.best_epoch = 0
        self._best_validation: dict | None = None  # the best epoch's val_predictions.npz arrays

    @property
    def context_frames(self) -> int:
        """Frames before a kept frame that its output depends on."""
        return self.temporal.window_frames - 1

    def _build_heads(self, subjects: list[str], n_parcels: int) -> None:
        self.subject_names = list(subjects)
        self.heads = nn.ModuleDict({s: nn.Linear(self.temporal.out_dim, n_parcels)
                                    for s in subjects})

    # ------------------------------------------------------------------- set-up
    def setup(self, stage: str) -> None:
        dm = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        if dm is None or not hasattr(dm, "head_subjects"):
            return
        subjects = dm.head_subjects
        if not self.heads:
            self._build_heads(subjects, dm.n_parcels)
            self.hparams.update(subjects=subjects, n_parcels=dm.n_parcels)
        elif (list(self.heads), self.hparams.n_parcels) != (subjects, dm.n_parcels):
            raise ValueError(f"the data's subjects {subjects} and {dm.n_parcels} parcels differ "
                             "from the "
                             f"model's {list(self.heads)} and {self.hparams.n_parcels}")
        if abs(dm.hparams.rate_hz - self.hparams.rate_hz) > 1e-9:
            raise ValueError(f"data.rate_hz {dm.hparams.rate_hz} differs from model.rate_hz "
                             f"{self.hparams.rate_hz}")
        dm.context_frames = self.context_frames
        if stage == "fit" and self.hparams.freeze_backbone_epochs != 0 and find_unused_parameters(
                self.trainer.strategy):
            log.info("DDP with find_unused_parameters=True: the backbone is frozen for part of "
                     "the training")

    def train(self, mode: bool = True):
        super().train(mode)
        self.backbone.eval()  # BatchNorm statistics stay as pretrained (see the module's docstring)
        return self

    # ------------------------------------------------------------------ forward
    def _backbone_pass(self, x: torch.Tensor) -> torch.Tensor:
        x = (x.float().div(255) - self.pixel_mean) / self.pixel_std
        return torch.cat(self.backbone(x), 1)

    def frame_features(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 (n, 3, H, W) -> (n, n_features), ``frames_per_pass`` frames per backbone call."""
        out = []
        for chunk in frames.split(self.hparams.frames_per_pass):
            if not (self.training and self.backbone_trains):
                with torch.no_grad():
                    out.append(self._backbone_pass(chunk))
            elif self.hparams.checkpoint_backbone:
                out.append(checkpoint(self._backbone_pass, chunk, use_reentrant=False))
            else:
                out.append(self._backbone_pass(chunk))
        return torch.cat(out)

    def tr_features(self, frames: torch.Tensor, pool: torch.Tensor) -> torch.Tensor:
        """Frames uint8 (B, n_frames, 3, H, W), pool (B, T, n_frames) -> (B, T, out_dim)."""
        b, n = frames.shape[:2]
        feats = self.project(self.frame_features(frames.flatten(0, 1)).view(b, n, -1))
        return pool.to(feats.dtype) @ self.temporal(feats)

    def forward(self, frames: torch.Tensor, pool: torch.Tensor,
                subject: torch.Tensor) -> torch.Tensor:
        """(B, T, n_parcels): every head on every segment, then each segment's subject's."""
        z = self.tr_features(frames, pool)
        every = torch.stack([self.heads[s](z) for s in self.subject_names])  # (S, B, T, P)
        return every[subject, torch.arange(len(subject), device=z.device)]

    # ------------------------------------------------------------------ training
    def on_train_start(self) -> None:
        self._apply_backbone_schedule()

    def on_train_epoch_start(self) -> None:
        self.log("train/backbone_trainable", float(self._apply_backbone_schedule()), on_epoch=True,
                 on_step=False, sync_dist=True)

    def _apply_backbone_schedule(self) -> bool:
        self.backbone_trains = backbone_should_train(
            self.current_epoch, self.hparams.freeze_backbone_epochs, None, self.best_score)
        self.backbone.eval()
        return self.backbone_trains

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        preds = self(batch["frames"], batch["pool"], batch["subject"])
        b, t, p = preds.shape
        # every rank's segments: the same loss everywhere, DDP's averaging cancels the N (system.py)
        preds = gather_rows(preds.float().reshape(b * t, p))
        targets = gather_rows(batch["targets"].reshape(b * t, p))
        subject = gather_rows(batch["subject"].repeat_interleave(t))
        mse = self.hparams.mse_weight
        losses = [correlation_loss(preds[subject == s], targets[subject == s], mse)
                  for s in subject.unique()]
        loss = torch.stack(losses).mean()
        self.log("train/loss", loss, prog_bar=True, on_step=True, on_epoch=True, batch_size=b,
                 sync_dist=True)
        return loss

    def configure_optimizers(self):
        h = self.hparams
        top = [*self.project.parameters(), *self.temporal.parameters(), *self.heads.parameters()]
        groups = [{"params": top, "lr": h.lr, "name": "top"}]
        if h.freeze_backbone_epochs >= 0:
            groups.append({"params": list(self.backbone.parameters()),
                           "lr": h.lr * h.backbone_lr_scale, "name": "backbone"})
        optimizer = torch.optim.AdamW(groups, weight_decay=h.weight_decay)
        total = max(1, int(self.trainer.estimated_stepping_batches))
        warmup = int(h.warmup_epochs * max(1, total // max(1, self.trainer.max_epochs or 1)))
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: warmup_cosine(step, warmup, total, h.min_lr_ratio))
        return {"optimizer": optimizer,
                "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    # ---------------------------------------------------------------- prediction
    @torch.no_grad()
    def segment_tr_features(self, frames: np.ndarray, start: int, n_trs: int,
                            tr: float) -> torch.Tensor:
        """(n_trs, out_dim): the temporal stage's TR features of TRs ``start ..`` of a run whose
        movie's frames (uint8 (n_samples, 3, H, W) at ``rate_hz``) are ``frames``; each distinct
        frame goes through the backbone once."""
        seg = segment_frames(start, n_trs, self.hparams.rate_hz, tr, self.context_frames,
                             len(frames))
        unique, where = np.unique(seg.read, return_inverse=True)
        x = torch.from_numpy(np.ascontiguousarray(frames[unique])).to(self.device)
        feats = self.project(self.frame_features(x)[torch.from_numpy(where).to(self.device)])
        return torch.from_numpy(seg.pool).to(self.device) @ self.temporal(feats[None])[0]

    def predict_segment(self, frames: np.ndarray, subject: str, start: int, n_trs: int,
                        tr: float) -> np.ndarray:
        """float32 (n_trs, n_parcels): :meth:`segment_tr_features` through ``subject``'s head."""
        with torch.no_grad():
            z = self.segment_tr_features(frames, start, n_trs, tr)
            return self.heads[subject](z).float().cpu().numpy()

    @torch.no_grad()
    def run_tr_features(self, datamodule, movie: Path, n_trs: int) -> torch.Tensor:
        """(n_trs, out_dim) of a whole run, in segments of ``predict_segment_trs`` TRs overlapping
        by ``predict_overlap_trs``, stitched (the overlaps are written again with the same
        values)."""
        h = self.hparams
        frames = datamodule.frames(movie)
        n = min(h.predict_segment_trs, n_trs)
        starts = list(range(0, n_trs - n + 1, h.predict_segment_trs - h.predict_overlap_trs))
        if starts[-1] != n_trs - n:
            starts.append(n_trs - n)
        series = torch.empty(n_trs, self.temporal.out_dim, device=self.device)
        for s in starts:
            series[s:s + n] = self.segment_tr_features(frames, s, n, datamodule.hparams.tr)
        return series

    def predict_runs(self, datamodule, subject: str,
                     runs: list[tuple[Path, int]]) -> list[np.ndarray]:
        """float32 (n_trs, n_parcels) per run of ``subject`` (whole runs,
        :meth:`run_tr_features`)."""
        if subject not in self.heads:
            raise ValueError(f"no head for {subject} (trained on {sorted(self.heads)})")
        was_training = self.training
        self.eval()
        with torch.no_grad():
            out = [self.heads[subject](self.run_tr_features(datamodule, m, n)).float().cpu().numpy()
                   for m, n in runs]
        self.train(was_training)
        return out

    # ------------------------------------------------------------- ridge heads
    def on_fit_start(self) -> None:
        if self.hparams.heads_from_ridge and self.trainer.ckpt_path is None:
            self.heads_from_ridge(self.trainer.datamodule)
            broadcast_module(self.heads)  # every rank solved the same; rank 0's copy for certain
            _, self.ridge_summary = self.validation_summary(self.trainer.datamodule)
            log.info("ridge heads: val/score %.4f", self.ridge_summary.main)

    def heads_from_ridge(self, dm) -> None:
        """Each subject's head := a ridge (per-parcel penalty by CV, folds grouped by stimulus)
        from the model's TR features of its training runs to their responses."""
        for subject in self.subject_names:
            runs = dm.train_runs[subject]
            X = torch.cat([self.run_tr_features(dm, r.movie_path, r.n_trs) for r in runs])
            Y = np.concatenate([dm.responses(r) for r in runs])
            groups, stimuli = stimulus_groups(runs)
            if len(stimuli) < 2:
                raise ValueError(f"{subject}: model.heads_from_ridge needs training runs of at "
                                 f"least 2 stimuli, has {stimuli}")
            ridge = grouped_ridge_cv(X.double().cpu().numpy(), Y, groups, self.hparams.ridge_alphas)
            # coef_ and intercept_ act on the raw features (the solver folds its standardisation in)
            with torch.no_grad():
                self.heads[subject].weight.copy_(ridge.coef_.T.float())
                self.heads[subject].bias.copy_(ridge.intercept_.float())

    # ---------------------------------------------------------------- validation
    def validation_step(self, batch, batch_idx):
        return None

    def validation_summary(self, dm):
        """(TimeseriesScore, ScoreSummary) of the held-out runs, predicted whole."""
        return self.score_held_out(dm, self.heads)

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:
            return
        dm = self.trainer.datamodule
        score, self.last_summary = self.validation_summary(dm)
        if self.best_score is None or score.overall > self.best_score:
            self.best_score, self.best_summary = score.overall, self.last_summary
            self.best_epoch = self.current_epoch
            self._best_validation = self.validation_arrays()  # val_predictions.npz at the fit's end
        # every rank computed the same whole-run predictions: nothing to sync
        self.log_held_out(dm, score, self.last_summary)
        if self.ridge_summary is not None:
            self.log("val/ridge/score", self.ridge_summary.main)

    def on_fit_end(self) -> None:
        # log_dir is a broadcast under DDP: every rank asks
        where = self.trainer.log_dir or self.trainer.default_root_dir
        if self.trainer.is_global_zero and self.last_summary is not None:
            folder = RunFolder(where)
            folder.write_summary(RunSummaryRecord(
                best=self.best_summary, last=self.last_summary, ridge=self.ridge_summary,
                best_epoch=self.best_epoch, epochs_run=self.trainer.current_epoch,
                gain_over_ridge=None if self.ridge_summary is None
                else self.best_summary.main - self.ridge_summary.main))
            if self._best_validation is not None:  # report.py's per-parcel maps
                folder.write_predictions(**self._best_validation, epoch=self.best_epoch,
                                         score=self.best_score)

    # ---------------------------------------------------------------- checkpoints
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["movie_finetune"] = {"best_score": self.best_score,
                                        "best_epoch": self.best_epoch}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        state = checkpoint.get("movie_finetune") or {}
        self.best_score, self.best_epoch = state.get("best_score"), state.get("best_epoch", 0)
