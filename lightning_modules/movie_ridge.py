"""The movie time-series baseline: ridge from a frozen backbone's features per TR, at several lags.

Frames at ``data.rate_hz`` go through the frozen backbone (its layers' pooled features side by
side); each TR's features are the mean over the frames inside it; the design stacks them at the
FIR lags ``delays`` (or, ``lag: fixed``, the Algonauts 2025 baseline's window ending ``hrf_delay``
TRs back); one :class:`ridge.solver.RidgeCV` per subject, each parcel's penalty chosen by K-fold
CV with folds grouped by stimulus (every TR of a run, and its repetitions, in one fold). Fitted at
the start of fit (no gradient steps); validation scores the held-out stimuli per parcel.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch

from datamodules.movies.frame_cache import tr_means
from datamodules.movies.split import stimulus_groups
from lightning_modules.movie_scores import MovieValidation
from lightning_modules.networks.backbones import build_backbone
from ridge.delays import fir_delays, fixed_lag_window
from ridge.grouped import grouped_ridge_cv
from run_folder.contract import RunFolder
from run_folder.summary_file import RunSummaryRecord
from scoring.summary import ScoreSummary


class MovieRidge(MovieValidation, pl.LightningModule):
    """Parameters: ``backbone``, ``pretrained``, ``layers`` (:func:`build_backbone`); ``lag``
    ``fir`` (``delays`` in TRs, default 0-6) or ``fixed`` (``hrf_delay``, ``window``); ``alphas``; ``folds``
    (at most, grouped by stimulus); ``batch_size`` frames per backbone pass."""

    def __init__(self, backbone: str = "tf_efficientnet_lite0", pretrained: bool = True,
                 layers: list[int] | None = None, lag: str = "fir", delays: list[int] | None = None,
                 hrf_delay: int = 3, window: int = 5, alphas: list[float] | None = None, folds: int = 5,
                 batch_size: int = 64):
        super().__init__()
        delays = list(range(7)) if delays is None else list(delays)
        if lag not in ("fir", "fixed"):
            raise ValueError(f"model.lag must be 'fir' or 'fixed', got {lag!r}")
        self.save_hyperparameters()
        self.hparams.delays = delays
        self.backbone = build_backbone(backbone, pretrained=pretrained, layers=layers).eval()
        self.backbone.requires_grad_(False)
        self.maps: dict[str, dict[str, torch.Tensor]] = {}  # subject -> coef, intercept, alphas
        self._features: dict[tuple[str, int], np.ndarray] = {}
        self.last_summary: ScoreSummary | None = None
        self.best_summary: ScoreSummary | None = None

    # ------------------------------------------------------------------ features
    @torch.no_grad()
    def movie_features(self, datamodule, movie: Path, n_trs: int) -> np.ndarray:
        """float32 (n_trs, n_features): the backbone's features, averaged within each TR."""
        key = (str(movie), n_trs)
        if key not in self._features:
            frames = datamodule.frames(movie)
            mean = torch.tensor(self.backbone.mean).view(1, 3, 1, 1)
            std = torch.tensor(self.backbone.std).view(1, 3, 1, 1)
            out = []
            for i in range(0, len(frames), self.hparams.batch_size):
                x = torch.from_numpy(frames[i:i + self.hparams.batch_size]).float().div(255)
                x = ((x - mean) / std).to(self.device)
                out.append(torch.cat(self.backbone(x), 1).float().cpu().numpy())
            hp = datamodule.hparams
            self._features[key] = tr_means(np.concatenate(out), hp.rate_hz, hp.tr, n_trs)
        return self._features[key]

    def design(self, datamodule, runs: list[tuple[Path, int]]) -> np.ndarray:
        """(sum of n_trs, n_lags * n_features) for runs given as (movie, n_trs), lagged within each run."""
        features = np.concatenate([self.movie_features(datamodule, m, n) for m, n in runs])
        lengths = [n for _, n in runs]
        if self.hparams.lag == "fir":
            return fir_delays(features, lengths, self.hparams.delays)
        return fixed_lag_window(features, lengths, self.hparams.hrf_delay, self.hparams.window)

    def predict_runs(self, datamodule, subject: str, runs: list[tuple[Path, int]]) -> list[np.ndarray]:
        """float32 (n_trs, n_parcels) per run of ``subject``."""
        fitted = self.maps[subject]
        X = torch.from_numpy(self.design(datamodule, runs)).double()
        Y = (X @ fitted["coef"].double() + fitted["intercept"].double()).float().numpy()
        return np.split(Y, np.cumsum([n for _, n in runs])[:-1])

    # ----------------------------------------------------------------------- fit
    def on_fit_start(self) -> None:
        dm = self.trainer.datamodule
        for subject, runs in dm.train_runs.items():
            X = self.design(dm, [(r.movie_path, r.n_trs) for r in runs])
            Y = np.concatenate([dm.responses(r) for r in runs])
            groups, stimuli = stimulus_groups(runs)
            if len(stimuli) < 2:
                raise ValueError(f"{subject}: the ridge's CV needs training runs of at least 2 stimuli, "
                                 f"has {stimuli} (hold out fewer: data.val_stimuli / data.n_val)")
            ridge = grouped_ridge_cv(X, Y, groups, self.hparams.alphas, self.hparams.folds)
            # coef_ and intercept_ act on the raw design (the solver folds its standardisation in)
            self.maps[subject] = {"coef": ridge.coef_.cpu().float(),
                                  "intercept": ridge.intercept_.cpu().float(),
                                  "alphas": ridge.best_alphas_.cpu()}

    def training_step(self, batch, batch_idx):
        return None

    def configure_optimizers(self):
        return None

    # ---------------------------------------------------------------- validation
    def validation_step(self, batch, batch_idx):
        return None

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking or not self.maps:
            return
        dm = self.trainer.datamodule
        score, self.last_summary = self.score_held_out(dm, self.maps)
        self.best_summary = self.best_summary or self.last_summary
        self.log_held_out(dm, score, self.last_summary)

    def on_fit_end(self) -> None:
        if self.trainer.is_global_zero and self.last_summary is not None:
            folder = RunFolder(self.trainer.log_dir or self.trainer.default_root_dir)
            folder.write_summary(RunSummaryRecord(best=self.best_summary, last=self.last_summary,
                                                  ridge=self.last_summary, best_epoch=0,
                                                  epochs_run=self.trainer.current_epoch))
            # the validation per parcel, for report.py's maps through the atlas
            folder.write_predictions(**self.validation_arrays(), epoch=0,
                                     score=self.last_summary.r.overall)

    # -------------------------------------------------------------- checkpoints
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["movie_ridge"] = self.maps

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.maps = checkpoint.get("movie_ridge", {})
