"""BOLD Moments' whole-brain files converted once to float32 ``.npy`` files read memory-mapped.

A whole-brain pickle holds float64 betas (about 2.6 GB per subject for the train split): unpickling
it needs the whole array in memory, every run. The first read converts each file to
``ROOT/.response_cache/<subject>_task-<split>.f32.npy`` (half the bytes) with its mask, written
aside and renamed, with a progress bar; later reads open it with ``np.load(mmap_mode="r")``, which
costs no memory until rows are touched. A cache entry records the source file's size and
modification time and is rebuilt when they change (a release moved elsewhere, its cache with it,
keeps the cache). Where ``ROOT`` cannot be written the file is
read directly (a warning says so).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from pathlib import Path

import numpy as np
from tqdm import tqdm

from datamodules import bmd_files
from datamodules.voxel_checks import MAX_ABS_RESPONSE, check_finite

CACHE_DIR = ".response_cache"
_ROWS_PER_CHUNK = 64

log = logging.getLogger(__name__)


def _stamp(path: Path) -> dict:
    stat = path.stat()
    return {"source": str(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _same_source(stamp, path: Path) -> bool:
    """Whether a cache entry's ``stamp`` is of ``path`` as it is now: the same file name, size and
    modification time (not the same folder: a release moved or mounted elsewhere keeps its cache)."""
    if not isinstance(stamp, dict):
        return False
    now = _stamp(path)
    return (Path(stamp.get("source", "")).name == path.name and stamp.get("size") == now["size"]
            and stamp.get("mtime_ns") == now["mtime_ns"])


def cached_whole_brain(root: str | Path, subject: str, split: str, n_train: int | None = None,
                       progress: bool = True, non_finite: str = "raise") -> bmd_files.WholeBrain:
    """:func:`datamodules.bmd_files.read_whole_brain`, its ``betas`` float32 ``np.memmap``
    (n_videos, n_repetitions, n_voxels) read from the cache (built on first use; NaN kept).

    Infinite values and values beyond float32's safe range are checked once, as the cache is
    written (:func:`datamodules.voxel_checks.check_finite`; ``non_finite`` "raise" refuses them
    naming the file, "mask" stores them as NaN); the entry records how many there were, so a later
    read with "raise" refuses a cache built with "mask" the same way."""
    root = Path(root)
    source = bmd_files.whole_brain_path(root, subject, split)
    base = root / CACHE_DIR / f"{subject}_task-{split}"
    meta_path = base.with_suffix(".json")
    if source.is_file() and meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        if _same_source(meta.get("stamp"), source) and "non_finite" in meta and "header" in meta:
            if meta["non_finite"] and non_finite == "raise":  # the pickle's own values, named
                check_finite(bmd_files.read_whole_brain(root, subject, split, n_train=n_train).betas, source)
            elif meta["non_finite"]:
                log.warning("%s: %d infinite or out-of-range value(s) read as missing (NaN; non_finite=mask)",
                            source, meta["non_finite"])
            return _open(base, meta)
    whole = bmd_files.read_whole_brain(root, subject, split, n_train=n_train)
    n_bad = _count_non_finite(whole.betas)
    if n_bad:  # refused (raise) or a masked copy (mask), with the check's message
        whole = dataclasses.replace(whole, betas=check_finite(whole.betas, source, non_finite))
    try:
        base.parent.mkdir(parents=True, exist_ok=True)
        meta = _write(base, whole, source, progress, n_bad)
    except OSError as err:
        log.warning("%s: cannot write the float32 response cache there (%s); reading %s directly",
                    base.parent, err.strerror or err, source)
        return dataclasses.replace(whole, betas=whole.betas.astype(np.float32))
    del whole
    return _open(base, meta)


def _count_non_finite(betas: np.ndarray) -> int:
    """Infinite or beyond :data:`~datamodules.voxel_checks.MAX_ABS_RESPONSE` entries, counted in
    row chunks (no float64 temporary of the whole array)."""
    count = 0
    for start in range(0, betas.shape[0], _ROWS_PER_CHUNK):
        chunk = betas[start:start + _ROWS_PER_CHUNK]
        with np.errstate(invalid="ignore"):
            count += int((np.isinf(chunk) | (np.abs(chunk) > MAX_ABS_RESPONSE)).sum())
    return count


def _write(base: Path, whole: bmd_files.WholeBrain, source: Path, progress: bool, n_bad: int) -> dict:
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
            "affine": whole.affine.tolist(), "header": whole.header.hex(), "non_finite": n_bad}
    base.with_suffix(".json").write_text(json.dumps(meta))  # last: an entry with its json is whole
    return meta


def _open(base: Path, meta: dict) -> bmd_files.WholeBrain:
    betas = np.load(base.with_suffix(".f32.npy"), mmap_mode="r")
    first, last = meta["clips"]
    return bmd_files.WholeBrain(betas, np.arange(first, last + 1), np.load(base.with_suffix(".mask.npy")),
                                np.asarray(meta["affine"], np.float64), bytes.fromhex(meta["header"]))
