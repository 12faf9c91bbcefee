"""The LightningDataModule: a dataset (read by its source) as batches.

A batch is a dict: ``video`` uint8 (batch, num_frames, 3, size, size), ``index``
int64 (batch,), and for videos with fMRI ``targets`` float32 (batch,
n_voxels_total) holding every selected subject's and region's voxels in the
order of :class:`scoring.layout.TargetLayout`. Normalisation happens on the
device, in the model, after the uint8 transfer.

Stimuli and responses come from a data source (:mod:`datamodules.sources`), clips from a
:class:`~datamodules.clip_cache.ClipCache`, loaders from :mod:`datamodules.loaders`; prediction
rebuilds this module from a checkpoint (:mod:`datamodules.rebuild`): defaults live here alone.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from datamodules.clip_cache import ClipCache
from datamodules.clip_settings import CLIP_DEFAULTS, ClipSettings, OnBadVideo, VideoBackend
from datamodules.dataset import ClipDataset, mean_over_repetitions
from datamodules.frame_sampling import FrameSampling, FrameSamplingKind
from datamodules.loaders import EpochOrderLoaders
from datamodules.settings_checks import check_batch_size, check_clip_settings, check_split_sizes
from datamodules.sources.base import DataSource, Release, Selection
from datamodules.sources.registry import AUTO, check_source_name, open_source
from datamodules.sources.stacked import split_noise_ceiling, voxel_report
from scoring.layout import TargetLayout, VoxelCounts
from scoring.splits import holdout_split, kfold_split

log = logging.getLogger(__name__)

#: The clip cache's folder inside the data folder when ``data.cache_dir`` is not set.
DEFAULT_CACHE_DIR = ".clip_cache"


class AlgonautsDataModule(EpochOrderLoaders, pl.LightningDataModule):
    """Videos and their fMRI responses, split by video, with a decoded-clip cache.

    Every argument is a config key, ``data.<name>``; ``train.py fit --help`` prints these descriptions.

    Parameters
    ----------
    root : str
        The dataset folder: the Algonauts 2021 release (``AlgonautsVideos268_All_30fpsmax/``,
        ``participants_data_v2021/``), a BOLD Moments release (``derivatives/versionB/MNI152/``,
        clips in ``derivatives/stimuli_metadata/mp4_h264/``) or the documented folder format
        (``stimuli.csv``, ``stimuli/``, ``responses/``; README, "Your own data").
    source : str
        The layout of ``root``: "auto" (default) detects it from what is there; "algonauts2021",
        "bmd" or "folder" names it.
    track : {"mini", "full"}
        "mini": regions of interest (2021: the nine region files; BMD: the region files, by default
        the challenge's nine regions); "full": the whole brain (2021 ``WB.pkl``, BMD's GLM files).
    subjects : list of str or None
        Subjects to train on, e.g. ``[sub01, sub02]`` (BMD: ``[sub-01]``); default all found.
    rois : list of str or None
        Regions to train on; default all of the track's. BMD regions: the 2021 challenge's nine (V1
        = lV1v+lV1d+rV1v+rV1d, V2 and V3 likewise, V4 = lhV4+rhV4, LOC/EBA/FFA/STS/PPA =
        left+right), BMD's bilateral names (EBA = lEBA+rEBA, V1v = lV1v+rV1v, ...), one hemisphere's
        file (lEBA), or BMDgeneral; merged columns are left hemisphere first, ventral before dorsal.
    video_dir : str or None
        The stimulus folder where it is not the layout's own (BMD: clips downloaded elsewhere,
        ``0001.mp4`` or the 2021 folder's ``0001_name.mp4``); None: the layout's.
    synthetic : {"demo", "tiny"} or None
        If ``root`` does not exist, ``train.py`` first generates the simulator's release there
        with this preset (:func:`simulator.ensure.ensure_release`, a step before the data module
        is built); None (the default) means the real data must be there.
    num_frames : int
        Frames sampled from each clip (``frame_sampling`` says which).
    frame_sampling : {"spread", "consecutive"}
        "spread" (default): ``num_frames`` frames spread evenly over the whole clip (the Algonauts
        dev-kit's sampling; for image backbones). "consecutive": ``num_frames`` frames
        ``1 / frame_rate`` s apart in a window centred in the clip, the clips a video network was
        trained on (torchvision's Kinetics weights: 16 frames at 15 Hz for r3d_18, mc3_18 and
        r2plus1d_18, 16 at 7.5 Hz for the MViTs, 32 at 15 Hz for the Swin3Ds; the
        ``configs/video_*.yaml`` recipes set them). A clip shorter than the window repeats its last
        frame (logged). Part of the clip cache's key; prediction reads it from the checkpoint.
    frame_rate : float or None
        Frames per second of ``frame_sampling: consecutive`` (None: every frame of the clip);
        must be None with "spread".
    image_size : int
        Frames are resized to ``image_size`` x ``image_size`` pixels.
    video_backend : {"decord", "pyav"}
        The video decoder: "decord" (fast) or "pyav" (wherever FFmpeg's Python bindings install).
    cache_dir : str or None
        Where the decoded-clip cache (uint8, memory-mapped) lives; default ``<root>/.clip_cache``.
    split : {"kfold", "holdout"}
        "kfold": ``n_folds`` shuffled folds of the videos with fMRI, validating on ``fold``;
        "holdout": the last ``n_val`` videos with fMRI (the challenge's validation convention).
    n_folds : int
        Number of folds (``split: kfold``).
    fold : int
        The validation fold, 0 to ``n_folds - 1`` (``split: kfold``).
    n_val : int
        Number of validation videos (``split: holdout``).
    seed : int
        Seed of the k-fold split. With the run's ``seed_everything`` it also seeds the
        training order and the repetition subsets, drawn from (seed, epoch, video): the same
        batches whatever ``num_workers`` is and whether or not the run was resumed.
    repetitions : {"mean", "random_subset"}
        Training target: the mean over the repetitions, or (augmentation) the mean over a
        random non-empty subset of them, a new one each epoch. Validation always uses the mean.
    batch_size : int
        Videos per batch, per device.
    num_workers : int
        Data-loading worker processes (0: load in the training process).
    pin_memory : bool or None
        Batches in page-locked memory, copied to the GPU without blocking (the copy overlaps the
        step); None (default): on when the trainer runs on a GPU.
    on_bad_video : {"raise", "skip"}
        "raise" (default) stops at an undecodable clip, naming it; "skip" stores it as blank
        frames (logged) and leaves such videos out of the training and validation videos (count
        logged), so a blank clip never trains or scores as if it had been watched.
    missing_rois : {"raise", "skip"}
        A subject lacking one region's file: "raise" (default) a ``DataLayoutError`` naming the
        file, or "skip" just that subject's region (logged warning naming the file); the heads,
        metrics and submission then cover the (subject, region) pairs that exist.
    non_finite : {"raise", "mask"}
        Infinite values (or values beyond 1e15, whose squares overflow float32) in a response
        file: "raise" (default) stops at set-up naming the file, video, repetition and voxel;
        "mask" treats them as missing measurements (NaN), logged.

    At set-up the data module logs how many voxels have missing measurements (NaN
    repetitions), how many are NaN in every repetition of some video (masked in the loss
    and metrics) and how many are constant over the training videos.
    """

    def __init__(
        self,
        root: str = "data/synthetic_demo",
        source: str = AUTO,
        track: Literal["mini", "full"] = "mini",
        subjects: list[str] | None = None,
        rois: list[str] | None = None,
        video_dir: str | None = None,
        synthetic: Literal["demo", "tiny"] | None = None,
        num_frames: int = CLIP_DEFAULTS.num_frames,
        image_size: int = CLIP_DEFAULTS.image_size,
        video_backend: VideoBackend = CLIP_DEFAULTS.video_backend,
        frame_sampling: FrameSamplingKind = CLIP_DEFAULTS.frame_sampling,
        frame_rate: float | None = CLIP_DEFAULTS.frame_rate,
        cache_dir: str | None = None,
        split: Literal["kfold", "holdout"] = "kfold",
        n_folds: int = 10,
        fold: int = 0,
        n_val: int = 100,
        seed: int = 0,
        repetitions: Literal["mean", "random_subset"] = "mean",
        batch_size: int = 8,
        num_workers: int = 2,
        pin_memory: bool | None = None,
        on_bad_video: OnBadVideo = CLIP_DEFAULTS.on_bad_video,
        missing_rois: Literal["raise", "skip"] = "raise",
        non_finite: Literal["raise", "mask"] = "raise",
    ):
        super().__init__()
        check_batch_size(batch_size)
        check_clip_settings(num_frames, image_size)
        FrameSampling(frame_sampling, frame_rate)  # a bad pair is refused here, naming the settings
        check_source_name(source)
        self.save_hyperparameters()
        self._release: Release | None = None
        self._clips: ClipCache | None = None
        self.train_indices = self.val_indices = None
        self._voxels_reported = False
        self._resumed_epoch = 0

    # ----------------------------------------------------------------- the data on disk
    @property
    def root(self) -> Path:
        return Path(self.hparams.root)

    @property
    def source(self) -> DataSource:
        """The reader of ``root``'s layout (``data.source``; "auto" detects it)."""
        return open_source(self.hparams.source, self.root, kind="clips")

    @property
    def release(self) -> Release:
        """The stimuli in row order and the selected responses, read once."""
        if self._release is None:
            self._release = self.source.read(Selection.from_settings(self.hparams))
        return self._release

    @property
    def voxel_counts(self) -> VoxelCounts:
        """``{subject: {roi: n_voxels}}`` of the selection; the model's heads are built from it."""
        return self.release.voxel_counts

    @property
    def target_layout(self) -> TargetLayout:
        return TargetLayout(self.voxel_counts)

    @property
    def cache_dir(self) -> Path:
        """Where this module's clip cache lives: ``data.cache_dir``, else ``<root>/.clip_cache``."""
        return Path(self.hparams.cache_dir or self.root / DEFAULT_CACHE_DIR)

    @property
    def clip_settings(self) -> ClipSettings:
        """How clips are sampled, sized and decoded (``data.num_frames``, ``image_size``, ...)."""
        return ClipSettings.from_data_settings(self.hparams)

    def clip_cache_in(self, folder: str | Path, videos: list[Path] | None = None) -> ClipCache:
        """The clip cache of ``videos`` (default: every stimulus of the release) in ``folder``, with
        this module's clip settings; nothing is decoded until it is built."""
        videos = self.release.video_paths if videos is None else videos
        return ClipCache(folder, videos, **self.clip_settings.cache_arguments())

    @property
    def clips(self) -> ClipCache:
        if self._clips is None:
            self._clips = self.clip_cache_in(self.cache_dir)
        return self._clips

    # ----------------------------------------------------------------- Lightning hooks
    def prepare_data(self) -> None:
        """Runs once per node: decode every clip once."""
        self.release  # noqa: B018 - fails early, naming the file, if the layout is wrong
        if not self.clips.is_built:
            self.clips.build(progress=True, num_workers=self.hparams.num_workers)

    def split_of(self, n_train: int) -> tuple[np.ndarray, np.ndarray]:
        """The training and validation rows (int64) of ``n_train`` videos with fMRI under
        ``data.split`` (before undecodable videos are left out): what ``setup`` uses, and what an
        ensemble recomputes for a checkpoint (:mod:`datamodules.rebuild`)."""
        if self.hparams.split == "kfold":
            return kfold_split(n_train, self.hparams.n_folds, self.hparams.fold, self.hparams.seed)
        return holdout_split(n_train, self.hparams.n_val)

    def setup(self, stage: str | None = None) -> None:
        n_train = self.release.n_train
        self.train_indices, self.val_indices = self.split_of(n_train)
        check_split_sizes(len(self.train_indices), len(self.val_indices), n_train, self.hparams.split,
                          self.hparams.n_val, self.hparams.n_folds)
        if not self.clips.is_built:  # prepare_data ran in another process (multi-node without shared disk)
            self.clips.build(progress=True)
        self._drop_bad_videos()
        if not self._voxels_reported:
            self._voxels_reported = True
            report = voxel_report(self.responses, self.mean_responses, self.train_indices)
            for line in report.describe(self.target_layout):
                log.warning(line)

    def _drop_bad_videos(self) -> None:
        """Leave videos stored as blank clips (``on_bad_video: skip``) out of training and validation."""
        bad = np.array(sorted(b["index"] for b in self.clips.manifest["bad_videos"]), dtype=np.int64)
        if not bad.size:
            return
        keep_train = ~np.isin(self.train_indices, bad)
        keep_val = ~np.isin(self.val_indices, bad)
        dropped = [self.release.video_paths[i].name for i in bad if i < self.release.n_train]
        self.train_indices, self.val_indices = self.train_indices[keep_train], self.val_indices[keep_val]
        log.warning("left out %d training and %d validation video(s) that could not be decoded "
                    "(on_bad_video=skip): %s", int((~keep_train).sum()), int((~keep_val).sum()), ", ".join(dropped))
        if n_test_bad := int((bad >= self.release.n_train).sum()):
            log.warning("%d test video(s) could not be decoded: their predictions come from blank clips", n_test_bad)
        if len(self.train_indices) < 2 or len(self.val_indices) < 1:
            raise ValueError(f"only {len(self.train_indices)} training and {len(self.val_indices)} validation "
                             "videos are left after dropping undecodable ones")

    @property
    def responses(self) -> np.ndarray:
        """``(n_train, n_repetitions, n_voxels_total)`` float32, cached: an array, or for memory-mapped
        whole-brain caches a :class:`~datamodules.sources.stacked.StackedResponses` read in slices."""
        if getattr(self, "_responses", None) is None:
            self._responses = self.release.train_responses()
        return self._responses

    @property
    def mean_responses(self) -> np.ndarray:
        """Repetition means (NaN repetitions ignored), ``(n_train, n_voxels_total)`` float32."""
        if getattr(self, "_mean_responses", None) is None:
            self._mean_responses = mean_over_repetitions(self.responses)
        return self._mean_responses

    def evaluation_dataloader(self, indices) -> DataLoader:
        """Videos ``indices`` in that order, no shuffling, repetition-mean targets."""
        return self._loader(ClipDataset(self.clips, indices, self.responses), shuffle=False)

    # ----------------------------------------------------------------- for the ridge fits and the dump
    @property
    def feature_cache(self) -> tuple[Path, str]:
        """Where frozen features of these clips are cached, and the clip cache's key (:class:`RidgeData`)."""
        return Path(self.clips.cache_dir), self.clips.key

    def video_names(self, rows) -> list[str]:
        return [self.release.video_paths[i].name for i in rows]  # at rows of the release (ValidationData)

    @property
    def voxel_masks(self) -> dict[str, np.ndarray]:
        return self.release.voxel_masks  # {subject: bool (X, Y, Z)} of whole-brain recordings, else {}

    @property
    def voxel_spaces(self) -> dict[str, tuple[np.ndarray, bytes]]:
        """``{subject: (affine (4, 4), NIfTI header bytes)}`` of the whole-brain masks whose file gave them."""
        return {s: (space.affine, space.header) for (s, _), (_, space) in self.release.whole_brain_groups.items()
                if space is not None}

    def noise_ceiling(self, split: Literal["train", "val", "all"] = "val") -> torch.Tensor:
        """Per-voxel noise ceiling of the repetition mean over a split's videos, ``(n_voxels_total,)``."""
        rows = {"train": self.train_indices, "val": self.val_indices, "all": slice(None)}[split]
        if rows is None:
            raise RuntimeError("call setup() before asking for a split's noise ceiling")
        return torch.from_numpy(split_noise_ceiling(self.responses, rows).astype(np.float32))

    #: False for a run that fits nothing by gradient (``model.ridge.only``, set by ``train.py``):
    #: the training loop then gets one empty batch per epoch and no clip is read for it.
    training_batches: bool = True

    def train_dataloader(self) -> DataLoader:
        if not self.training_batches:
            return DataLoader([{}], batch_size=None)
        return self._loader(ClipDataset(self.clips, self.train_indices, self.responses, self.hparams.repetitions,
                                        seed=self.draw_seed), shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(ClipDataset(self.clips, self.val_indices, self.responses), shuffle=False,
                            evaluation=True)

    def test_dataloader(self) -> DataLoader:
        return self.val_dataloader()

    # ----------------------------------------------------------------- prediction
    def predict_dataloader(self) -> DataLoader:
        """The release's test videos (those without fMRI), in order. ``predict.py`` is the tool
        that exports them; this serves ``train.py predict``."""
        indices = np.arange(self.release.n_train, len(self.release.video_paths))
        return self._loader(ClipDataset(self.clips, indices), shuffle=False, evaluation=True)
