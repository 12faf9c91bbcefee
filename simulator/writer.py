"""Files on disk in the release's layout, plus the hidden truth the release withholds.

```
ROOT/AlgonautsVideos268_All_30fpsmax/NNNN_<description>.mp4
ROOT/participants_data_v2021/mini_track/subNN/<ROI>.pkl   {"train": (n_train, 3, n_voxels)}
ROOT/participants_data_v2021/full_track/subNN/WB.pkl  {"train": ..., "voxel_mask": bool (X, Y, Z)}
ROOT/synthetic_truth/{mini_track,full_track}/subNN/<ROI>.pkl
    {"clean": (n_videos, n_voxels), "test": (n_test, n_test_repetitions, n_voxels),
     "noise_ceiling": (n_voxels,), "noise_sd": (n_voxels,)}  (+ "roi": int8 (n_wb,) for WB)
ROOT/synthetic_truth/meta.json, features.npz
```
A dataset is written into a hidden sibling folder and renamed into place only when
complete, so an interrupted run never leaves something that looks like a dataset.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from datamodules.release import FMRI_DIR, VIDEO_DIR
from runtime.processes import pid_alive
from simulator.subject import Subject, Voxels

TRUTH_DIR = "synthetic_truth"
PICKLE_PROTOCOL = 4


def video_path(root: Path, index: int, description: str) -> Path:
    """``ROOT/AlgonautsVideos268_All_30fpsmax/NNNN_<description>.mp4`` for 0-based ``index``."""
    return Path(root) / VIDEO_DIR / f"{index + 1:04d}_{description}.mp4"


def write_pickle(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=PICKLE_PROTOCOL)


def _truth(v: Voxels) -> dict:
    return {"clean": v.clean, "test": v.test, "noise_ceiling": v.noise_ceiling,
            "noise_sd": v.noise_sd}


def write_subject(root: Path, subject: Subject) -> None:
    """The subject's release pickles (mini and full track) and its truth pickles."""
    fmri, truth = Path(root) / FMRI_DIR, Path(root) / TRUTH_DIR
    for roi, v in subject.rois.items():
        write_pickle(fmri / "mini_track" / subject.name / f"{roi}.pkl", {"train": v.train})
        write_pickle(truth / "mini_track" / subject.name / f"{roi}.pkl", _truth(v))
    write_pickle(fmri / "full_track" / subject.name / "WB.pkl",
                 {"train": subject.wb.train, "voxel_mask": subject.voxel_mask})
    write_pickle(truth / "full_track" / subject.name / "WB.pkl",
                 {**_truth(subject.wb), "roi": subject.wb_roi})


def write_meta(root: Path, meta: dict, features: dict[str, np.ndarray]) -> None:
    """``meta.json`` (config, counts, what drives each region) and the clips' hidden features."""
    truth = Path(root) / TRUTH_DIR
    truth.mkdir(parents=True, exist_ok=True)
    (truth / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    np.savez_compressed(truth / "features.npz", **features)


def check_free(out_dir: Path) -> None:
    """Refuse an ``out_dir`` that exists and is not an empty folder."""
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise FileExistsError(f"{out_dir} already exists and is not empty; "
                              "choose a new folder or remove it")


_HOST_MARK = ".partial-host"  # inside a staging folder: the machine whose process writes it


def remove_stale_staging(out_dir: Path) -> list[Path]:
    """Remove ``.<name>.partial-<pid>`` siblings of ``out_dir`` left by a generation that was killed
    (SIGKILL, OOM: no ``except`` ran): their process is gone from this machine. One written from
    another machine (a shared file system) is left alone. Returns what was removed."""
    removed = []
    for stale in out_dir.parent.glob(f".{out_dir.name}.partial-*"):
        pid = stale.name.rsplit("-", 1)[-1]
        try:
            host = (stale / _HOST_MARK).read_text().strip()
        except OSError:
            host = socket.gethostname()
        if pid.isdigit() and host == socket.gethostname() and not pid_alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
            removed.append(stale)
    return removed


@contextmanager
def staging(out_dir: str | Path) -> Iterator[Path]:
    """Yield a hidden temporary sibling of ``out_dir``; rename it to ``out_dir`` on success,
    delete it on failure (including Ctrl-C). Staging folders of killed generations are removed first."""
    out_dir = Path(out_dir).absolute()
    check_free(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    for stale in remove_stale_staging(out_dir):
        print(f"removed {stale}, left by a data generation that was killed")
    tmp = out_dir.parent / f".{out_dir.name}.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    (tmp / _HOST_MARK).write_text(socket.gethostname())
    try:
        yield tmp
        (tmp / _HOST_MARK).unlink()
        check_free(out_dir)  # something may have appeared there meanwhile
        if out_dir.exists():
            out_dir.rmdir()
        tmp.rename(out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
