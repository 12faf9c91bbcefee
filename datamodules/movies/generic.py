"""The generic movie folder (a lab's own movie fMRI; the layout is in
:mod:`datamodules.movies.files`' docstring): ``ROOT/movies/<name>.<ext>`` and one
``ROOT/fmri[/<subject>]/<name>[_run-N].npy`` (n_TRs, n_targets) per run, the TR given."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from datamodules.movies.files import (
    DEFAULT_TOLERANCE_S,
    GENERIC_FMRI_DIR,
    GENERIC_MOVIES_DIR,
    MOVIE_EXTENSIONS,
    MovieDataError,
    MovieRun,
    check_runs,
)

#: The subject of a generic folder whose ``fmri/`` holds the ``.npy`` runs directly.
GENERIC_SUBJECT = "sub-01"
_GENERIC = re.compile(r"^(?P<stimulus>.+?)(?:_run-(?P<run>\d+))?$")


def list_generic_runs(movie_dir: str | Path, fmri_dir: str | Path, tr: float,
                      check_movies: bool = True, tolerance_s: float = DEFAULT_TOLERANCE_S,
                      subject: str = "") -> list[MovieRun]:
    """Runs of the generic layout: every ``fmri_dir/<name>[_run-N].npy`` (n_TRs, n_targets) with
    its movie ``movie_dir/<name>.<ext>``, sorted by file name. The TR must be given. Runs that
    differ in their number of targets are an error naming both files."""
    if not tr or not tr > 0:
        raise ValueError(f"tr must be > 0 seconds, got {tr}")
    movie_dir, fmri_dir = Path(movie_dir), Path(fmri_dir)
    for folder in (movie_dir, fmri_dir):
        if not folder.is_dir():
            raise MovieDataError(f"{folder}: folder not found")
    movies = generic_movies(movie_dir)
    runs = []
    for path in sorted(fmri_dir.glob("*.npy")):
        match = _GENERIC.match(path.stem)
        stimulus, repeat = match["stimulus"], match["run"]
        if stimulus not in movies:
            kinds = "|".join(e[1:] for e in MOVIE_EXTENSIONS)
            raise MovieDataError(f"{path}: no movie {stimulus}.<{kinds}> in {movie_dir}")
        try:
            array = np.load(path, mmap_mode="r")
        except ValueError as err:
            raise MovieDataError(f"{path}: not a numeric .npy array ({err})") from None
        if array.ndim != 2:
            raise MovieDataError(f"{path}: expected (n_TRs, n_targets), got {array.shape}")
        if runs and array.shape[1] != runs[0].n_parcels:
            raise MovieDataError(f"{path}: {array.shape[1]} targets, but {runs[0].fmri_path} has "
                                 f"{runs[0].n_parcels} (every run needs the same targets)")
        runs.append(MovieRun(subject, "generic", stimulus, None if repeat is None else int(repeat),
                             path, None, movies[stimulus], *array.shape))
    if not runs:
        raise MovieDataError(f"{fmri_dir}: no .npy runs")
    if check_movies:
        check_runs(runs, tr, tolerance_s)
    return runs


def generic_movies(movie_dir: str | Path) -> dict[str, Path]:
    """``{name: path}`` of the movie files in a generic folder's ``movies/``."""
    return {p.stem: p for p in sorted(Path(movie_dir).iterdir())
            if p.suffix.lower() in MOVIE_EXTENSIONS}


def list_generic_subjects(root: str | Path) -> list[str]:
    """A generic folder's subjects: ``[sub-01]`` when ``ROOT/fmri`` holds the ``.npy`` runs
    itself, else its sub-folders holding ``.npy`` files, sorted."""
    folder = Path(root) / GENERIC_FMRI_DIR
    if not folder.is_dir():
        raise MovieDataError(f"{folder}: no fMRI folder; is {root} a generic movie folder?")
    flat = any(folder.glob("*.npy"))
    nested = sorted(p.name for p in folder.iterdir() if p.is_dir() and any(p.glob("*.npy")))
    if flat and nested:
        raise MovieDataError(f"{folder}: holds both .npy runs and subject folders {nested}; "
                             "use one or the other")
    if not flat and not nested:
        raise MovieDataError(f"{folder}: no .npy runs (expected {GENERIC_FMRI_DIR}/<movie>.npy or "
                             f"{GENERIC_FMRI_DIR}/<subject>/<movie>.npy)")
    return [GENERIC_SUBJECT] if flat else nested


def generic_fmri_dir(root: str | Path, subject: str) -> Path:
    folder = Path(root) / GENERIC_FMRI_DIR
    return folder if subject == GENERIC_SUBJECT and any(folder.glob("*.npy")) else folder / subject


def list_generic_subject_runs(root: str | Path, subject: str, tr: float, check_movies: bool = True,
                              tolerance_s: float = DEFAULT_TOLERANCE_S) -> list[MovieRun]:
    """Every run of ``subject`` in the generic folder at ``root`` (:func:`list_generic_runs`)."""
    subjects = list_generic_subjects(root)
    if subject not in subjects:
        raise MovieDataError(f"{Path(root) / GENERIC_FMRI_DIR / subject}: no such subject "
                             f"(the folder has {subjects})")
    return list_generic_runs(Path(root) / GENERIC_MOVIES_DIR, generic_fmri_dir(root, subject), tr,
                             check_movies, tolerance_s, subject=subject)


def generic_test_movie(root: str | Path, episode: str) -> Path:
    """The movie ``ROOT/movies/<episode>.<ext>`` of a generic folder's test episode."""
    movies = generic_movies(Path(root) / GENERIC_MOVIES_DIR)
    if episode not in movies:
        kinds = "|".join(e[1:] for e in MOVIE_EXTENSIONS)
        raise MovieDataError(f"{Path(root) / GENERIC_MOVIES_DIR / episode}.<{kinds}>: no movie "
                             f"for test episode {episode}")
    return movies[episode]
