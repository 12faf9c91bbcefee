"""BOLD Moments' whole-brain files converted once to float32 ``.npy`` files read memory-mapped.

A whole-brain pickle holds float64 betas (about 2.6 GB per subject for the train split): unpickling
it needs the whole array in memory, every run. The first read converts each file to
``ROOT/.response_cache/<subject>_task-<split>.f32.npy`` (half the bytes) with its mask, written
aside and renamed, with a progress bar; later reads open it with ``np.load(mmap_mode="r")``, which
costs no memory until rows are touched. A cache entry records the source file's size and
modification time and is rebuilt when they change. Where ``ROOT`` cannot be written the file is
read directly (a warning says so).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
from tqdm import tqdm

from datamodules import bmd_files

CACHE_DIR = ".response_cache"
_ROWS_PER_CHUNK = 64

log = logging.getLogger(__name__)


def _stamp(path: Path) -> dict:
    stat = path.stat()
    return {"source": str(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def cached_whole_brain(root: str | Path, subject: str, split: str, n_train: int | None = None,
                       progress: bool = True) -> bmd_files.WholeBrain:
    """:func:`datamodules.bmd_files.read_whole_brain`, its ``betas`` float32 ``np.memmap``
    (n_videos, n_repetitions, n_voxels) read from the cache (built on first use; NaN kept)."""
    root = Path(root)
    source = bmd_files.whole_brain_path(root, subject, split)
    base = root / CACHE_DIR / f"{subject}_task-{split}"
    meta_path = base.with_suffix(".json")
    if source.is_file() and meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        if meta.get("stamp") == _stamp(source):
            return _open(base, meta)
    whole = bmd_files.read_whole_brain(root, subject, split, n_train=n_train)
    try:
        base.parent.mkdir(parents=True, exist_ok=True)
        meta = _write(base, whole, source, progress)
    except OSError as err:
        log.warning("%s: cannot write the float32 response cache there (%s); reading %s directly",
                    base.parent, err.strerror or err, source)
        return whole
    del whole
    return _open(base, meta)


def _write(base: Path, whole: bmd_files.WholeBrain, source: Path, progress: bool) -> dict:
    tmp = base.with_name(base.name + f".{os.getpid()}.tmp.npy")
    out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=whole.betas.shape)
    rows = range(0, whole.betas.shape[0], _ROWS_PER_CHUNK)
    for start in tqdm(rows, desc=f"float32 cache of {source.name}", disable=not progress, leave=False):
        out[start:start + _ROWS_PER_CHUNK] = whole.betas[start:start + _ROWS_PER_CHUNK]
    out.flush()
    del out
    np.save(base.with_suffix(".mask.npy"), whole.mask)
    os.replace(tmp, base.with_suffix(".f32.npy"))
    meta = {"stamp": _stamp(source), "clips": [int(whole.clips[0]), int(whole.clips[-1])],
            "affine": whole.affine.tolist()}
    base.with_suffix(".json").write_text(json.dumps(meta))  # last: an entry with its json is whole
    return meta


def _open(base: Path, meta: dict) -> bmd_files.WholeBrain:
    betas = np.load(base.with_suffix(".f32.npy"), mmap_mode="r")
    first, last = meta["clips"]
    return bmd_files.WholeBrain(betas, np.arange(first, last + 1), np.load(base.with_suffix(".mask.npy")),
                                np.asarray(meta["affine"], np.float64))
