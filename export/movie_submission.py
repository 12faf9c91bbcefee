"""The Algonauts 2025 submission: ``{"sub-01": {"s07e01a": float32 (n_TRs, n_parcels), ...}, ...}``
saved with ``np.save`` (a pickled dict) as ``fmri_predictions_friends_s7.npy`` (or ``_ood``) and
zipped, the ``.npy`` at the archive's root.

Before anything is returned the predictions are checked against ``target_sample_number``: every
subject and episode present, each with exactly the listed number of rows, the same number of
parcels throughout, finite values; and the written zip is read back and checked again.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from datamodules.movies.samples import load_pickled_npy
from export.submission import read_zip_member

SPLIT_FILES = {"friends-s7": "fmri_predictions_friends_s7.npy", "ood": "fmri_predictions_ood.npy"}


class MovieSubmissionError(ValueError):
    """Predictions the challenge would reject; the message lists every problem."""


def check_movie_submission(predictions: Mapping[str, Mapping[str, np.ndarray]],
                           expected: Mapping[str, Mapping[str, int]],
                           n_parcels: int | None = None, where: str = "predictions") -> int:
    """Check ``{subject: {episode: (n_TRs, n_parcels)}}`` against ``{subject: {episode: n_TRs}}``.

    ``n_parcels`` None: whatever the first array has, the same for all. Returns the parcel count.

    Raises
    ------
    MovieSubmissionError
        Listing every problem, each naming the subject and episode.
    """
    problems = []
    if not isinstance(predictions, Mapping):
        raise MovieSubmissionError(f"{where}: expected a dict {{subject: {{episode: array}}}}, got "
                                   f"{type(predictions).__name__}")
    for subject in sorted(set(predictions) - set(expected)):
        problems.append(f"unexpected subject {subject!r}")
    for subject in sorted(expected):
        episodes = predictions.get(subject)
        if episodes is None:
            problems.append(f"{subject}: missing")
            continue
        if not isinstance(episodes, Mapping):
            problems.append(f"{subject}: expected a dict {{episode: array}}, got "
                            f"{type(episodes).__name__}")
            continue
        for episode in sorted(set(episodes) - set(expected[subject])):
            problems.append(f"{subject}/{episode}: not in target_sample_number")
        for episode, n_trs in sorted(expected[subject].items()):
            if episode not in episodes:
                problems.append(f"{subject}/{episode}: missing ({n_trs} TRs expected)")
                continue
            array = np.asarray(episodes[episode])
            if array.ndim != 2:
                problems.append(f"{subject}/{episode}: shape {array.shape}, expected "
                                "(n_TRs, n_parcels)")
                continue
            if n_parcels is None:
                n_parcels = array.shape[1]
            if array.shape != (n_trs, n_parcels):
                problems.append(f"{subject}/{episode}: shape {array.shape}, expected "
                                f"{(n_trs, n_parcels)} (TRs from target_sample_number)")
            elif not np.issubdtype(array.dtype, np.floating):
                problems.append(f"{subject}/{episode}: dtype {array.dtype}, expected float")
            elif not np.isfinite(array).all():
                problems.append(f"{subject}/{episode}: {int((~np.isfinite(array)).sum())} values "
                                "are NaN or infinite")
    if problems:
        raise MovieSubmissionError(f"{where}: {len(problems)} problem(s): " + "; ".join(problems))
    return int(n_parcels or 0)


def write_movie_submission(predictions: Mapping[str, Mapping[str, np.ndarray]],
                           expected: Mapping[str, Mapping[str, int]], out_dir: str | Path,
                           split: str = "friends-s7", n_parcels: int | None = None) -> Path:
    """Check, then write ``OUT/fmri_predictions_<split>.zip`` (float32 arrays); read it back and
    check it again. Written to a temporary name and renamed when complete.

    Returns the zip's path.
    """
    if split not in SPLIT_FILES:
        raise ValueError(f"split must be one of {tuple(SPLIT_FILES)}, got {split!r}")
    n_parcels = check_movie_submission(predictions, expected, n_parcels)
    submission = {subject: {episode: np.ascontiguousarray(predictions[subject][episode],
                                                          dtype=np.float32)
                            for episode in sorted(episodes)}
                  for subject, episodes in sorted(expected.items())}
    npy_name = SPLIT_FILES[split]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    final = out_dir / npy_name.replace(".npy", ".zip")
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=out_dir)
    os.close(fd)
    try:
        with tempfile.TemporaryDirectory(dir=out_dir) as folder:
            npy = Path(folder) / npy_name
            np.save(npy, submission, allow_pickle=True)
            with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                archive.write(npy, arcname=npy_name)
        validate_movie_submission_zip(tmp, expected, split, n_parcels)
        os.replace(tmp, final)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return final


def validate_movie_submission_zip(zip_path: str | Path, expected: Mapping[str, Mapping[str, int]],
                                  split: str = "friends-s7", n_parcels: int | None = None) -> dict:
    """Read a submission zip (exactly ``fmri_predictions_<split>.npy`` at its root) with the safe
    unpickler and check it as :func:`check_movie_submission` does; return the loaded dict."""
    zip_path = Path(zip_path)
    npy_name = SPLIT_FILES[split]
    submission = read_zip_member(zip_path, npy_name, load_pickled_npy, MovieSubmissionError)
    check_movie_submission(submission, expected, n_parcels, where=str(zip_path))
    return submission
