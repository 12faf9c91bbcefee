"""A full disk and a read-only data folder, injected with real tiny file systems (tmpfs, needs root).

The clip-cache build used to die of SIGBUS (exit 135, no message) writing through its memory map
onto a full disk; the features cache failed naming no path and left its ``.tmp`` file behind.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import namedtuple
from pathlib import Path

import numpy as np
import pytest

from datamodules.algonauts import AlgonautsDataModule
from datamodules.clip_cache import CacheLocationError, ClipCache
from datamodules.disk_space import DiskFullError
from datamodules.release import VIDEO_DIR
from lightning_modules.baseline.frozen_features import cached_features

REPO = Path(__file__).resolve().parents[1]


def _mount_tmpfs(where: Path, *options: str) -> None:
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join(("size=2m", *options)), "tmpfs", str(where)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")


@pytest.fixture
def tiny_disk(tmp_path):
    """A 2 MiB file system at ``tmp_path/disk``."""
    disk = tmp_path / "disk"
    _mount_tmpfs(disk)
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=False)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.suffix in (".partial", ".rows", ".tmp")
                  or p.name.endswith(".npy.partial"))


_BUILD = """
import sys
from pathlib import Path
from datamodules.clip_cache import ClipCache
videos = sorted(Path(sys.argv[1]).glob("*.mp4"))
ClipCache(sys.argv[2], videos, num_frames=8, size=128, backend="pyav").build(progress=False)
"""


def test_clip_cache_on_a_full_disk_fails_with_path_and_size_not_sigbus(tiny_root, tiny_disk):
    cache = tiny_disk / "cache"
    # 16 clips x 8 frames x 3 x 128 x 128 = 6.3 MB into 2 MiB.
    done = subprocess.run([sys.executable, "-c", _BUILD, str(tiny_root / VIDEO_DIR), str(cache)], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, (done.returncode, done.stderr[-2000:])  # an exception, not signal 7 (SIGBUS)
    assert "DiskFullError" in done.stderr and str(cache) in done.stderr
    assert "the clip cache needs 0.006 GB (6,291," in done.stderr and "data.cache_dir" in done.stderr
    assert _leftovers(tiny_disk) == []


def test_clip_cache_reserves_its_file_so_a_disk_filling_meanwhile_is_an_error(tiny_root, tiny_disk, monkeypatch):
    # The free-space check is fooled (the disk "fills up" after it): the reservation still fails cleanly.
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**12, 0, 10**12))
    videos = sorted((tiny_root / VIDEO_DIR).glob("*.mp4"))
    with pytest.raises(DiskFullError, match=r"could not reserve 0.006 GB .* for the clip cache"):
        ClipCache(tiny_disk / "cache", videos, num_frames=8, size=128, backend="pyav").build(progress=False)
    assert _leftovers(tiny_disk) == []


def test_clip_cache_that_fits_builds_on_the_small_disk(tiny_root, tiny_disk):
    videos = sorted((tiny_root / VIDEO_DIR).glob("*.mp4"))
    cache = ClipCache(tiny_disk / "cache", videos, num_frames=2, size=32, backend="pyav").build(progress=False)
    assert cache.is_built and cache.array.shape == (len(videos), 2, 3, 32, 32)


def test_features_cache_on_a_full_disk_names_path_and_size_and_leaves_no_tmp(tiny_disk, monkeypatch):
    features = np.ones((1000, 1000), np.float32)  # 4 MB
    with pytest.raises(DiskFullError, match=r"features-k1.npy: the frozen-features cache needs 0.004 GB"):
        cached_features(tiny_disk, "k1", lambda: features)
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**12, 0, 10**12))  # the check is fooled
    with pytest.raises(DiskFullError, match=r"features-k2.npy: writing the frozen-features cache \(4,000,128 bytes"):
        cached_features(tiny_disk, "k2", lambda: features)
    assert list(tiny_disk.iterdir()) == []


def test_read_only_data_folder_says_to_set_data_cache_dir(tiny_root, tmp_path):
    ro = tmp_path / "ro"
    _mount_tmpfs(ro, "size=8m")
    try:
        shutil.copytree(tiny_root, ro / "release", ignore=shutil.ignore_patterns(".clip_cache"))
        subprocess.run(["mount", "-o", "remount,ro", str(ro)], check=True)
        dm = AlgonautsDataModule(root=str(ro / "release"), num_frames=2, image_size=16, video_backend="pyav",
                                 num_workers=0)
        with pytest.raises(CacheLocationError, match=r"release/.clip_cache: cannot write the clip cache here "
                                                     r"\(Read-only file system\); set data.cache_dir"):
            dm.prepare_data()
    finally:
        subprocess.run(["umount", "-l", str(ro)], check=False)
