"""What identifies a clip cache's content, and its manifest: the key, the fingerprints, the record.

A cache's key hashes everything that changes its bytes: :data:`FORMAT_VERSION`, the frame sampling
(:attr:`FrameSampling.description <datamodules.frame_sampling.FrameSampling.description>`), the resize (:data:`RESIZE`), ``num_frames``, ``size``, the decoder and each
video's fingerprint (name, bytes, mtime_ns). The manifest (``<stem>.json`` beside ``<stem>.npy``)
records them, with the decoders' versions and the videos that could not be decoded; rows of an
unchanged video can be copied from any other complete cache with the same settings.

Format versions: 2 (PyAV turns clips upright by their display matrix as decord does, and the
sampling may be consecutive at a rate); 1 before. A cache of another version is never read.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from datamodules.frame_sampling import SPREAD_FORMULA

FORMAT_VERSION = 2
#: The default sampling's description (spread over the clip).
SAMPLING = SPREAD_FORMULA
RESIZE = "torch bilinear antialias=True on float32, rounded to uint8"


def video_fingerprint(path: Path) -> dict:
    """``{"name", "bytes", "mtime_ns"}`` of a video; -1 for a missing file."""
    try:
        st = path.stat()
        return {"name": path.name, "bytes": st.st_size, "mtime_ns": st.st_mtime_ns}
    except FileNotFoundError:
        return {"name": path.name, "bytes": -1, "mtime_ns": -1}


def cache_key(fingerprints: Sequence[dict], num_frames: int, size: int, backend: str,
              sampling: str = SAMPLING) -> str:
    """16 hex digits of sha256 over the content-defining settings and fingerprints;
    ``sampling``: the frame sampling's description."""
    spec = {"format_version": FORMAT_VERSION, "sampling": sampling, "resize": RESIZE,
            "num_frames": num_frames, "size": size, "backend": backend,
            "videos": list(fingerprints)}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def build_manifest(key: str, file_name: str, shape: tuple, num_frames: int, size: int, backend: str,
                   fingerprints: list[dict], bad: list[dict], sampling: str = SAMPLING,
                   frame_sampling: dict | None = None) -> dict:
    """The manifest of a finished cache; ``bad``: ``[{"index", "name", "error"}]`` of the blank rows;
    ``sampling``: the frame sampling's description, ``frame_sampling``: its settings."""
    import av

    try:
        import decord
        decord_version = decord.__version__
    except ImportError:
        decord_version = None
    return {
        "format_version": FORMAT_VERSION, "key": key, "file": file_name,
        "shape": list(shape), "dtype": "uint8", "num_frames": num_frames,
        "size": size, "backend": backend, "sampling": sampling, "resize": RESIZE,
        "frame_sampling": frame_sampling or {"kind": "spread", "rate": None},
        "decoders": {"av": av.__version__, "decord": decord_version},
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "videos": fingerprints,
        "bad_videos": bad,
    }


def rows_in_older_caches(cache_dir: Path, prefix: str, own_manifest: Path, wanted: dict[str, int],
                         sampling: str = SAMPLING) -> Iterator[tuple[int, np.ndarray]]:
    """``(row, clip)`` for each wanted video found decoded in another complete cache of ``cache_dir``.

    ``wanted`` maps a fingerprint (``json.dumps(fingerprint, sort_keys=True)``) to the row that needs
    it; found entries are removed from it. ``clip`` is a read-only (num_frames, 3, size, size) view.
    Caches with other settings (another ``prefix``, another ``sampling``), another format or
    unreadable files are skipped.
    """
    for man_path in sorted(cache_dir.glob(f"{prefix}*.json")):
        if not wanted or man_path == own_manifest:
            continue
        try:
            man = json.loads(man_path.read_text())
            bad = {b["index"] for b in man["bad_videos"]}
            if man.get("format_version") != FORMAT_VERSION or man.get("sampling") != sampling:
                continue
            old = np.load(man_path.with_suffix(".npy"), mmap_mode="r")
        except (OSError, ValueError, KeyError):
            continue
        for j, fingerprint in enumerate(man["videos"]):
            i = wanted.pop(json.dumps(fingerprint, sort_keys=True), None) if j not in bad else None
            if i is not None:
                yield i, old[j]
