"""One simulated subject: voxel counts, their place in the volume, clean and noisy responses."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scoring.layout import MINI_TRACK_ROIS
from simulator import brain
from simulator.config import (
    RELEASE_VOXEL_RANGES,
    RELEASE_WB_RANGE,
    SUB01_VOXEL_COUNTS,
    SyntheticConfig,
)
from simulator.noise_profiles import draw_ceilings
from simulator.volume import place_voxels


@dataclass
class Voxels:
    """Responses of one set of voxels (a region, or the whole brain).

    Attributes
    ----------
    clean : float32 (n_videos, n_voxels), noise-free responses to all videos
    train : float32 (n_train, n_train_repetitions, n_voxels), noisy
    test : float32 (n_test, n_test_repetitions, n_voxels), noisy
    noise_sd : float32 (n_voxels,), noise standard deviation of one repetition
    noise_ceiling : float32 (n_voxels,), true reliability of the mean of the train repetitions
    """

    clean: np.ndarray
    train: np.ndarray
    test: np.ndarray
    noise_sd: np.ndarray
    noise_ceiling: np.ndarray

    def columns(self, idx: np.ndarray) -> Voxels:
        return Voxels(self.clean[:, idx], self.train[..., idx], self.test[..., idx],
                      self.noise_sd[idx], self.noise_ceiling[idx])


@dataclass
class Subject:
    """Attributes: ``rois`` ``{roi: Voxels}``; ``wb`` whole-brain :class:`Voxels` (columns in the
    mask's C order); ``voxel_mask`` bool (X, Y, Z); ``wb_roi`` int8 (n_wb,) index into
    ``MINI_TRACK_ROIS`` of each whole-brain voxel, -1 outside the regions."""

    name: str
    rois: dict[str, Voxels]
    wb: Voxels
    voxel_mask: np.ndarray
    wb_roi: np.ndarray


def draw_counts(rng: np.random.Generator, config: SyntheticConfig) -> tuple[dict[str, int], int]:
    """Per-region voxel counts times ``voxel_scale``, and the whole-brain count

    ``config.voxel_counts``: ``"ranges"`` draws each count uniformly in the release's range;
    ``"sub01"`` takes sub01's counts times a log-normal spread (sd 0.25), clipped to the range.
    The whole-brain count (at least 1.25x the regions' total, so some voxels lie outside them)."""
    counts = {}
    for roi in MINI_TRACK_ROIS:
        lo, hi = RELEASE_VOXEL_RANGES[roi]
        if config.voxel_counts == "sub01":
            # sub01's count with a subject-to-subject spread, kept inside the release's range.
            n = float(np.clip(SUB01_VOXEL_COUNTS[roi] * np.exp(rng.normal(0.0, 0.25)), lo, hi))
        else:
            n = rng.uniform(lo, hi)
        counts[roi] = max(config.min_voxels, int(round(n * config.voxel_scale)))
    n_wb = int(round(rng.uniform(*RELEASE_WB_RANGE) * config.voxel_scale))
    return counts, max(n_wb, int(np.ceil(1.25 * sum(counts.values()))))


def _gain_offset(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Arbitrary per-voxel scale and baseline, as in real BOLD units."""
    return np.exp(rng.normal(0.0, 0.3, n)), rng.normal(0.0, 0.3, n)


def simulate_subject(config: SyntheticConfig, index: int,
                     features: dict[str, np.ndarray]) -> Subject:
    """Simulate subject ``index`` (0-based) from the clips' features ``{name: (n_videos, ...)}``."""
    rng = np.random.default_rng([config.seed, 1, index])
    counts, n_wb = draw_counts(rng, config)
    mask, roi_columns, extra_columns = place_voxels(rng, counts, n_wb, config.wb_volume_shape)
    n_videos, k = config.n_videos, config.n_train_repetitions
    signal = np.zeros((n_videos, n_wb))
    ceiling = np.zeros(n_wb)
    wb_roi = np.full(n_wb, -1, np.int8)
    for r, roi in enumerate(MINI_TRACK_ROIS):
        cols = roi_columns[roi]
        model = brain.REGIONS[roi]
        signal[:, cols] = brain.region_signal(rng, model, features, len(cols))
        ceiling[cols] = draw_ceilings(rng, config.noise_profile, roi, len(cols), k)
        wb_roi[cols] = r
    signal[:, extra_columns] = brain.extra_signal(rng, features, len(extra_columns))
    ceiling[extra_columns] = draw_ceilings(rng, config.noise_profile, None, len(extra_columns), k)
    has_signal = signal.std(axis=0) > 0
    sd = np.where(has_signal, brain.noise_sd_for_ceiling(np.maximum(ceiling, 1e-6), k), 1.0)

    gain, offset = _gain_offset(rng, n_wb)
    clean = gain * signal + offset
    noise_sd = gain * sd
    # Exactly 0 where there is no signal, not the rounding error of a constant column's variance.
    true_ceiling = np.where(has_signal, brain.true_ceiling(clean, noise_sd, k), 0.0)
    wb = Voxels(
        clean=clean.astype(np.float32),
        train=brain.add_noise(rng, clean[: config.n_train], noise_sd, k),
        test=brain.add_noise(rng, clean[config.n_train :], noise_sd, config.n_test_repetitions),
        noise_sd=noise_sd.astype(np.float32),
        noise_ceiling=true_ceiling.astype(np.float32),
    )
    rois = {roi: wb.columns(roi_columns[roi]) for roi in MINI_TRACK_ROIS}
    return Subject(config.subjects[index], rois, wb, mask, wb_roi)
