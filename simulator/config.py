"""What the simulator generates: sizes, frame rates, voxel counts, presets."""

from __future__ import annotations

from dataclasses import dataclass

from scoring.layout import MINI_TRACK_ROIS
from simulator.noise_profiles import check_profile

#: Per-subject voxel counts of the release (design.md), drawn uniformly per subject and region.
RELEASE_VOXEL_RANGES: dict[str, tuple[int, int]] = {
    "V1": (160, 330),
    "V2": (160, 330),
    "V3": (160, 330),
    "V4": (55, 117),
    "LOC": (1034, 1843),
    "EBA": (55, 376),
    "FFA": (68, 210),
    "STS": (80, 421),
    "PPA": (33, 425),
}
#: sub01's voxel counts in the real release: the template of the ``voxel_counts="sub01"`` option.
SUB01_VOXEL_COUNTS: dict[str, int] = {
    "V1": 232, "V2": 231, "V3": 261, "V4": 107, "LOC": 1843,
    "EBA": 351, "FFA": 68, "STS": 341, "PPA": 425,
}
RELEASE_WB_RANGE: tuple[int, int] = (10_836, 21_573)
RELEASE_VOLUME_SHAPE: tuple[int, int, int] = (78, 93, 71)
assert tuple(RELEASE_VOXEL_RANGES) == MINI_TRACK_ROIS == tuple(SUB01_VOXEL_COUNTS)
VOXEL_COUNT_SOURCES = ("ranges", "sub01")
#: File layouts the simulator writes: the 2021 challenge's, or BOLD Moments' (simulator.bmd_writer).
LAYOUTS = ("algonauts2021", "bmd")


@dataclass(frozen=True)
class SyntheticConfig:
    """Sizes and randomness of a synthetic release.

    Attributes
    ----------
    n_train, n_test : videos with fMRI, then videos whose fMRI is withheld (the test set)
    n_subjects : subjects ``sub01 .. subNN``
    size : frame side in pixels (the release's is 268); must be even (yuv420p)
    voxel_scale : multiplies the release's per-region voxel counts (1.0 = release-like)
    min_voxels : fewest voxels any region gets
    wb_volume_shape : shape of the whole-brain ``voxel_mask`` volume
    n_train_repetitions, n_test_repetitions : repetitions per video (release: 3; test: 10)
    seed : everything (clips, voxels, noise) is a function of it
    fps_choices, fps_weights : frame rates and their probabilities (mostly 30, some 25, few 15/20)
    duration_range : clip duration in seconds, uniform
    frame_count_range : clips get at least / at most this many frames (release: 45-91)
    noise_profile : ``"easy"`` (round one's reliable brain) or ``"realistic"`` (as noisy as the
        real release); see :mod:`simulator.noise_profiles`
    voxel_counts : ``"ranges"`` (uniform in the release's per-region ranges) or ``"sub01"``
        (sub01's counts with a spread across subjects)
    layout : ``"algonauts2021"`` (the challenge's files) or ``"bmd"`` (BOLD Moments' files, test
        responses included; see :mod:`simulator.bmd_writer`)
    """

    n_train: int = 160
    n_test: int = 24
    n_subjects: int = 3
    size: int = 268
    voxel_scale: float = 0.1
    min_voxels: int = 6
    wb_volume_shape: tuple[int, int, int] = RELEASE_VOLUME_SHAPE
    n_train_repetitions: int = 3
    n_test_repetitions: int = 10
    seed: int = 0
    fps_choices: tuple[float, ...] = (30.0, 25.0, 20.0, 15.0)
    fps_weights: tuple[float, ...] = (0.6, 0.3, 0.05, 0.05)
    duration_range: tuple[float, float] = (2.95, 3.08)
    frame_count_range: tuple[int, int] = (45, 91)
    noise_profile: str = "easy"
    voxel_counts: str = "ranges"
    layout: str = "algonauts2021"

    def __post_init__(self):
        if self.n_train < 3 or self.n_test < 1:
            raise ValueError(f"need n_train >= 3 and n_test >= 1, got {self.n_train}, "
                             f"{self.n_test}")
        if self.n_train + self.n_test > 9999:
            raise ValueError("at most 9999 videos (names are numbered NNNN_)")
        if self.n_subjects < 1 or self.n_subjects > 99:
            raise ValueError(f"n_subjects must be in 1..99, got {self.n_subjects}")
        if self.size < 16 or self.size % 2:
            raise ValueError(f"size must be an even number of pixels >= 16, got {self.size}")
        if self.voxel_scale <= 0 or self.min_voxels < 1:
            raise ValueError("voxel_scale must be > 0 and min_voxels >= 1")
        if len(self.wb_volume_shape) != 3 or min(self.wb_volume_shape) < 8:
            raise ValueError(f"wb_volume_shape must be 3 sides >= 8, got {self.wb_volume_shape}")
        if self.n_train_repetitions < 2 or self.n_test_repetitions < 1:
            raise ValueError("need at least 2 train repetitions and 1 test repetition")
        if len(self.fps_choices) != len(self.fps_weights) or min(self.fps_choices) * min(
            self.duration_range
        ) < 1:
            raise ValueError("fps_choices and fps_weights must match, and clips need >= 1 frame")
        check_profile(self.noise_profile)
        if self.voxel_counts not in VOXEL_COUNT_SOURCES:
            raise ValueError(f"voxel_counts must be one of {VOXEL_COUNT_SOURCES}, "
                             f"got {self.voxel_counts!r}")
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}, got {self.layout!r}")

    @property
    def n_videos(self) -> int:
        return self.n_train + self.n_test

    @property
    def subjects(self) -> list[str]:
        return [f"sub{i + 1:02d}" for i in range(self.n_subjects)]


#: The demo: generated in well under a minute on one core; an encoder trains on it in minutes.
DEMO_CONFIG = SyntheticConfig()

#: For tests: a few seconds to generate, a few voxels per region.
TINY_CONFIG = SyntheticConfig(
    n_train=12,
    n_test=4,
    n_subjects=2,
    size=64,
    voxel_scale=0.02,
    min_voxels=2,
    wb_volume_shape=(24, 28, 22),
)

#: The release's size and noise: 1000 train + 102 test clips, 10 subjects with sub01-like voxel
#: counts, as noisy as the real data. Whole brain included: several GB on disk.
RELEASE_CONFIG = SyntheticConfig(
    n_train=1000,
    n_test=102,
    n_subjects=10,
    voxel_scale=1.0,
    noise_profile="realistic",
    voxel_counts="sub01",
)
