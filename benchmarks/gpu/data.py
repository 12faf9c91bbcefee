"""The GPU check's data: simulator clips rendered into a clip-cache array, some also as mp4 files,
and a dataset that decodes those mp4s as the loader would without the cache."""

from __future__ import annotations

import multiprocessing
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from benchmarks.gpu.config import CheckConfig


def _render(job: tuple) -> np.ndarray:
    """One simulator clip: uint8 (num_frames, 3, size, size) for the cache; the whole clip as an mp4
    at the release's size when ``mp4`` is a path."""
    seed, render_size, clip_frames, size, num_frames, mp4 = job
    from datamodules.video import resize_frames, sample_frame_indices
    from simulator.scenes import render_scene, sample_scene

    clip = render_scene(sample_scene(np.random.default_rng(seed), 30.0, clip_frames), render_size)
    if mp4 is not None:
        from datamodules.mp4_writer import write_mp4

        write_mp4(mp4, clip.frames, fps=30.0)
    frames = clip.frames[sample_frame_indices(len(clip.frames), num_frames)]
    return resize_frames(frames, size)


@dataclass
class Data:
    clips: np.ndarray  # uint8 memmap (n_clips, num_frames, 3, size, size), the clip cache's layout
    clips_path: Path
    mp4s: list[Path]
    decoder: str | None  # "decord", "pyav" or None


def working_decoder(mp4: Path, num_frames: int, size: int) -> tuple[str | None, str]:
    """The first backend of decord and PyAV (the data module's order) that decodes ``mp4``, and why
    the others did not ("" when the first did)."""
    from datamodules.video import read_clip

    failures = []
    for backend in ("decord", "pyav"):
        try:
            read_clip(mp4, num_frames, size, backend)
            return backend, "; ".join(failures)
        except Exception as err:  # noqa: BLE001 - missing module, or a wheel that does not work here
            failures.append(f"{backend}: {type(err).__name__}")
    return None, "; ".join(failures)


def make_data(cfg: CheckConfig, work: Path) -> tuple[Data, dict]:
    """Render ``n_clips`` simulator clips into a clip-cache array (and ``n_mp4`` of them as mp4 files
    when PyAV can write them), in parallel processes started before any CUDA call."""
    try:
        import av  # noqa: F401 - the mp4 writer
        can_write = True
    except ImportError:
        can_write = False
    mp4_dir = work / "mp4"
    shutil.rmtree(mp4_dir, ignore_errors=True)
    mp4_dir.mkdir(parents=True)
    jobs = [(i, cfg.render_size, cfg.clip_frames, cfg.image_size, cfg.num_frames,
             mp4_dir / f"{i:04d}.mp4" if can_write and i < cfg.n_mp4 else None) for i in range(cfg.n_clips)]
    path = work / "clips.npy"
    clips = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8,
                                      shape=(cfg.n_clips, cfg.num_frames, 3, cfg.image_size, cfg.image_size))
    processes = min(len(jobs), os.cpu_count() or 1, 16)
    if processes > 1:
        with multiprocessing.get_context("fork").Pool(processes, initializer=torch.set_num_threads,
                                                      initargs=(1,)) as pool:
            for i, clip in enumerate(pool.imap(_render, jobs)):
                clips[i] = clip
    else:
        for i, job in enumerate(jobs):
            clips[i] = _render(job)
    clips.flush()
    mp4s = sorted(mp4_dir.glob("*.mp4"))
    decoder, failed = working_decoder(mp4s[0], cfg.num_frames, cfg.image_size) if mp4s else (None, "")
    found = f"decoder {decoder}" if decoder else "no decoder" if mp4s else "no PyAV to write them"
    info = {"result": f"ok: {cfg.n_clips} clips into the cache; {len(mp4s)} mp4 files ({found}"
                      f"{'; failed: ' + failed if failed else ''})"}
    return Data(np.load(path, mmap_mode="r"), path, mp4s, decoder), info


class DecodedClips(torch.utils.data.Dataset):
    """Items as the loader serves them without the cache: each clip decoded from its mp4."""

    def __init__(self, paths: list[Path], n_items: int, num_frames: int, size: int, backend: str, n_voxels: int):
        self.paths, self.n_items = [str(p) for p in paths], n_items
        self.num_frames, self.size, self.backend, self.n_voxels = num_frames, size, backend, n_voxels

    def __len__(self) -> int:
        return self.n_items

    def __getitem__(self, i: int) -> dict:
        from datamodules.video import read_clip

        video = read_clip(self.paths[i % len(self.paths)], self.num_frames, self.size, self.backend)
        return {"video": torch.from_numpy(video), "targets": torch.zeros(self.n_voxels), "index": torch.tensor(i)}
