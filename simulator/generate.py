"""Generate a whole synthetic release: clips, their hidden features, every subject's fMRI."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from datamodules.mp4_writer import write_mp4
from scoring.layout import MINI_TRACK_ROIS
from simulator import bmd_writer, brain, features, writer
from simulator.config import DEMO_CONFIG, SyntheticConfig
from simulator.scenes import render_scene, sample_scene
from simulator.subject import simulate_subject


def plan_timing(config: SyntheticConfig) -> tuple[np.ndarray, np.ndarray]:
    """Frame rate and frame count of every clip, each (n_videos,).

    Frame rates follow ``fps_weights``; when there are at least as many clips as
    choices, every frame rate occurs at least once (so even tiny sets mix them).
    """
    rng = np.random.default_rng([config.seed, 2])
    choices = np.asarray(config.fps_choices, np.float64)
    weights = np.asarray(config.fps_weights, np.float64)
    fps = rng.choice(choices, size=config.n_videos, p=weights / weights.sum())
    if config.n_videos >= len(choices):
        for c in choices:
            if c not in fps:
                values, n = np.unique(fps, return_counts=True)
                commonest = np.flatnonzero(fps == values[n.argmax()])
                fps[rng.choice(commonest)] = c
    duration = rng.uniform(*config.duration_range, config.n_videos)
    n_frames = np.clip(np.round(duration * fps), *config.frame_count_range).astype(int)
    return fps, n_frames


@contextmanager
def single_threaded() -> Iterator[None]:
    """Run torch (and numpy's BLAS, when threadpoolctl is there) on one thread, then restore.

    The work comes in many small array operations; on a shared machine, thread pools
    that wait for a busy core make them orders of magnitude slower than one thread.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            yield
        else:
            with threadpool_limits(1, user_api="blas"):
                yield
    finally:
        torch.set_num_threads(previous)


def generate_dataset(out_dir: str | Path, config: SyntheticConfig = DEMO_CONFIG,
                     progress: bool = True) -> Path:
    """Write a synthetic Algonauts-2021-style release with known ground truth to ``out_dir``.

    The layout is the 2021 release's (see :mod:`simulator.writer`) or, with ``config.layout ==
    "bmd"``, BOLD Moments' (:mod:`simulator.bmd_writer`), plus
    ``synthetic_truth/`` with noise-free responses, noisy test responses, true noise
    ceilings and ``meta.json``. Everything is a function of ``config`` (seed included).

    Raises
    ------
    FileExistsError
        ``out_dir`` exists and is not empty.
    """
    out_dir = Path(out_dir)
    writer.check_free(out_dir)
    fps, n_frames = plan_timing(config)
    with writer.staging(out_dir) as tmp, single_threaded():
        per_clip, videos = [], []
        for i in tqdm(range(config.n_videos), desc="clips", disable=not progress, unit="clip"):
            scene = sample_scene(np.random.default_rng([config.seed, 0, i]), fps[i], n_frames[i])
            clip = render_scene(scene, config.size)
            per_clip.append(features.clip_features(clip))
            files = bmd_writer if config.layout == "bmd" else writer
            path = files.video_path(tmp, i, scene.description)
            write_mp4(path, clip.frames, scene.fps)
            videos.append({
                "name": path.name, "fps": scene.fps, "n_frames": scene.n_frames,
                "split": "train" if i < config.n_train else "test",
                "background": scene.background, "objects": [o.kind for o in scene.objects],
            })
        clip_features = features.stack(per_clip)
        counts, ceilings = {}, {}
        for s in tqdm(range(config.n_subjects), desc="subjects", disable=not progress):
            subject = simulate_subject(config, s, clip_features)
            if config.layout == "bmd":
                bmd_writer.write_subject(tmp, subject, config)
            else:
                writer.write_subject(tmp, subject)
            name = _subject_name(config, subject.name)
            counts[name] = {roi: v.clean.shape[1] for roi, v in subject.rois.items()}
            counts[name]["WB"] = subject.wb.clean.shape[1]
            ceilings[name] = {r: _summary(v.noise_ceiling) for r, v in subject.rois.items()}
            ceilings[name]["WB"] = _summary(subject.wb.noise_ceiling)
        writer.write_meta(tmp, _meta(config, counts, ceilings, videos), clip_features)
    return out_dir


def _subject_name(config: SyntheticConfig, name: str) -> str:
    """The subject's name in the written files: ``sub01``, or BMD's ``sub-01``."""
    return bmd_writer.bmd_subject(name) if config.layout == "bmd" else name


def _summary(x: np.ndarray) -> dict[str, float]:
    return {"min": float(x.min()), "median": float(np.median(x)), "max": float(x.max())}


def _meta(config, counts, ceilings, videos) -> dict:
    lo, hi = brain.EXTRA_CEILING_RANGE
    return {
        "generator": "simulator",
        "config": dataclasses.asdict(config),
        "n_train": config.n_train,
        "n_test": config.n_test,
        "subjects": [_subject_name(config, s) for s in config.subjects],
        "voxel_counts": counts,
        "noise_ceilings": ceilings,
        "regions": {roi: brain.REGIONS[roi].description for roi in MINI_TRACK_ROIS},
        "whole_brain": (
            "WB holds every region's voxels (identical responses) plus voxels outside the regions: "
            f"{brain.EXTRA_SIGNAL_SHARE:.0%} carry a weak random mix of all features "
            f"(noise ceiling {lo}-{hi}), the rest pure noise "
            "(noise ceiling 0). Truth WB.pkl 'roi' gives each voxel's region index in "
            f"{list(MINI_TRACK_ROIS)} or -1."
        ),
        "temporal_pooling": (
            f"frame features are averaged with weights exp((t - duration) / {features.HRF_TAU} s): "
            "later frames count more, like a slow haemodynamic response."
        ),
        "noise": (
            "response = gain * standardised signal + offset + gain * sigma * N(0, 1) "
            "per repetition; "
            "noise_ceiling = var(clean) / (var(clean) + noise_sd**2 / n_train_repetitions)."
        ),
        "truth_files": (
            "synthetic_truth/{mini_track,full_track}/subNN/<ROI>.pkl: clean (n_videos, n_voxels), "
            "test (n_test, n_test_repetitions, n_voxels), noise_ceiling and noise_sd (n_voxels,); "
            "features.npz: each hidden feature, (n_videos, ...), before standardisation."
        ),
        "videos": videos,
    }
