"""The test lengths of a movie release: ``target_sample_number/<subject>_<split>_fmri_samples.npy``,
a pickled dict ``{episode: n_TRs to predict}``, read with the release's safe unpickler from
``ROOT/target_sample_number/`` or ``ROOT/fmri/sub-0X/target_sample_number/``."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from datamodules.movies.files import FMRI_DIR, MovieDataError, list_subjects

SAMPLES_FILE = "{subject}_{split}_fmri_samples.npy"
SAMPLES_DIR = "target_sample_number"
SPLITS = ("friends-s7", "ood")


def samples_file(root: str | Path, subject: str, split: str = "friends-s7") -> Path:
    """Where the 2025 release (and its public code) keeps the test lengths:
    ``ROOT/fmri/sub-0X/target_sample_number/sub-0X_<split>_fmri_samples.npy``."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    name = SAMPLES_FILE.format(subject=subject, split=split)
    return Path(root) / FMRI_DIR / subject / SAMPLES_DIR / name


def samples_file_places(root: str | Path, subject: str, split: str = "friends-s7") -> list[Path]:
    """Where the test lengths are looked for, in order: ``ROOT/target_sample_number/<file>`` (as
    issue 26 and the generic folder have it), then :func:`samples_file` (the release's place)."""
    release = samples_file(root, subject, split)
    return [Path(root) / SAMPLES_DIR / release.name, release]


def find_samples_file(root: str | Path, subject: str, split: str = "friends-s7") -> Path:
    """The first of :func:`samples_file_places` that exists; one error naming both when neither."""
    places = samples_file_places(root, subject, split)
    for path in places:
        if path.is_file():
            return path
    raise MovieDataError(f"no target_sample_number for {subject} ({split}): neither {places[0]} "
                         f"nor {places[1]} exists")


def load_pickled_npy(path: str | Path):
    """The object in an ``np.save``-d pickle (a dict), read with the release's safe unpickler."""
    from datamodules import safe_pickle

    path = Path(path)
    if not path.is_file():
        raise MovieDataError(f"{path}: file not found")
    with open(path, "rb") as f:
        try:
            version = np.lib.format.read_magic(f)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, _, dtype = read_header(f)
        except ValueError as err:
            raise MovieDataError(f"{path}: not a .npy file ({err})") from None
        if dtype != np.dtype(object) or shape != ():
            raise MovieDataError(f"{path}: expected a pickled dict, got a {dtype} array {shape}")
        payload = f.read()
    try:
        # the unpickler load_pickle uses, on the bytes after the .npy header
        array = safe_pickle._RestrictedUnpickler(io.BytesIO(payload), path, False).load()
    except safe_pickle.UnsafePickleError:
        raise
    except Exception as err:  # noqa: BLE001 - refused or corrupt: one line naming the file
        raise MovieDataError(f"{path}: not a readable pickled .npy ({type(err).__name__}: "
                             f"{err})") from None
    return array.item() if isinstance(array, np.ndarray) else array


def read_sample_numbers(root: str | Path, split: str = "friends-s7",
                        subjects: list[str] | None = None) -> dict[str, dict[str, int]]:
    """``{subject: {episode: n_TRs}}`` to predict, from ``target_sample_number``."""
    out = {}
    for subject in subjects if subjects is not None else list_subjects(root):
        path = find_samples_file(root, subject, split)
        counts = load_pickled_npy(path)
        if not isinstance(counts, dict) or not all(
                isinstance(k, str) and int(v) == v and v > 0 for k, v in counts.items()):
            raise MovieDataError(f"{path}: expected a dict episode -> number of TRs")
        out[subject] = {k: int(v) for k, v in counts.items()}
    return out
