"""What identifies a clip cache's content, and its manifest: the key, the fingerprints, the record.

A cache's key hashes everything that changes its bytes: :data:`FORMAT_VERSION`, the frame sampling
(:data:`SAMPLING`), the resize (:data:`RESIZE`), ``num_frames``, ``size``, the decoder and each
video's fingerprint (name, bytes, mtime_ns). The manifest (``<stem>.json`` beside ``<stem>.npy``)
records them, with the decoders' versions and the videos that could not be decoded; rows of an
unchanged video can be copied from any other complete cache with the same settings.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

FORMAT_VERSION = 1
SAMPLING = "np.linspace(0, n_frames - 1, num_frames).astype(int)"
RESIZE = "torch bilinear antialias=True on float32, rounded to uint8"


def video_fingerprint(path: Path) -> dict:
    """``{"name", "bytes", "mtime_ns"}`` of a video; -1 for a missing file."""
    try:
        st = path.stat()
        return {"name": path.name, "bytes": st.st_size, "mtime_ns": st.st_mtime_ns}
    except FileNotFoundError:
        return {"name": path.name, "bytes": -1, "mtime_ns": -1}


def cache_key(fingerprints: Sequence[dict], num_frames: int, size: int, backend: str) -> str:
    """16 hex digits of sha256 over the content-defining settings and fingerprints."""
    spec = {"format_version": FORMAT_VERSION, "sampling": SAMPLING, "resize": RESIZE,
            "num_frames": num_frames, "size": size, "backend": backend,
            "videos": list(fingerprints)}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def build_manifest(key: str, file_name: str, shape: tuple, num_frames: int, size: int, backend: str,
                   fingerprints: list[dict], bad: list[dict]) -> dict:
    """The manifest of a finished cache; ``bad``: ``[{"index", "name", "error"}]`` of the blank rows."""
    import av

    try:
        import decord
        decord_version = decord.__version__
    except ImportError:
        decord_version = None
    return {
        "format_version": FORMAT_VERSION, "key": key, "file": file_name,
        "shape": list(shape), "dtype": "uint8", "num_frames": num_frames,
        "size": size, "backend": backend, "sampling": SAMPLING, "resize": RESIZE,
        "decoders": {"av": av.__version__, "decord": decord_version},
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "videos": fingerprints,
        "bad_videos": bad,
    }


def rows_in_older_caches(cache_dir: Path, prefix: str, own_manifest: Path,
                         wanted: dict[str, int]) -> Iterator[tuple[int, np.ndarray]]:
    """``(row, clip)`` for each wanted video found decoded in another complete cache of ``cache_dir``.

    ``wanted`` maps a fingerprint (``json.dumps(fingerprint, sort_keys=True)``) to the row that needs
    it; found entries are removed from it. ``clip`` is a read-only (num_frames, 3, size, size) view.
    Caches with other settings (another ``prefix``), another format or unreadable files are skipped.
    """
    for man_path in sorted(cache_dir.glob(f"{prefix}*.json")):
        if not wanted or man_path == own_manifest:
            continue
        try:
            man = json.loads(man_path.read_text())
            bad = {b["index"] for b in man["bad_videos"]}
            if man.get("format_version") != FORMAT_VERSION:
                continue
            old = np.load(man_path.with_suffix(".npy"), mmap_mode="r")
        except (OSError, ValueError, KeyError):
            continue
        for j, fingerprint in enumerate(man["videos"]):
            i = wanted.pop(json.dumps(fingerprint, sort_keys=True), None) if j not in bad else None
            if i is not None:
                yield i, old[j]
