"""Find the runs of a movie-fMRI release and check them against their movies.

Two layouts (:func:`detect_layout` tells them apart by their folders):

**Algonauts 2025** (Courtois NeuroMod), sizes read from the files::

    ROOT/fmri/sub-0X/func/sub-0X_task-friends_space-MNI152NLin2009cAsym_atlas-Schaefer18_parcel-1000Par7Net_desc-s123456_bold.h5
    ROOT/fmri/sub-0X/func/sub-0X_task-movie10_..._bold.h5
        one dataset per run, float (n_TRs, n_parcels), keyed ``ses-003_task-s01e02a`` (Friends)
        or ``ses-012_task-bourne01_run-1`` (Movie10; ``_run-N`` marks a repeated segment)
    ROOT/fmri/sub-0X/atlas/*_desc-dseg_parcellation.nii.gz     labels 1..n_parcels
    ROOT/fmri/sub-0X/atlas/*_desc-dseg_parcellation.tsv        optional: the labels' names
        (BIDS ``index``/``name`` columns, or Schaefer's ``*_order.txt`` / ``.lut`` rows)
    ROOT/fmri/sub-0X/target_sample_number/sub-0X_friends-s7_fmri_samples.npy  (and _ood_)
        a pickled dict episode -> number of TRs to predict; also read from
        ROOT/target_sample_number/sub-0X_<split>_fmri_samples.npy
    ROOT/stimuli/movies/friends/s1/friends_s01e02a.mkv
    ROOT/stimuli/movies/movie10/bourne/bourne01.mkv
    ROOT/stimuli/movies/ood/chaplin/task-chaplin1_video.mkv   (out-of-distribution test films,
        episodes ``chaplin1`` ... in ``*_ood_fmri_samples.npy``)

The fMRI's first TR starts with the movie's first frame.

**Generic** (a lab's own movie fMRI: HCP 7T movies, StudyForrest, ...)::

    ROOT/movies/<name>.<mkv|mp4|avi|mov|webm>
    ROOT/fmri/<name>[_run-N].npy                 one subject (called ``sub-01``), or
    ROOT/fmri/<subject>/<name>[_run-N].npy       one folder per subject
        float (n_TRs, n_targets), row 0 starting with the movie's first frame; ``_run-N``:
        repetition N of movie ``<name>``
    ROOT/target_sample_number/<subject>_<friends-s7|ood>_fmri_samples.npy   optional: movies of
        ROOT/movies to predict for a submission, {name: n_TRs}

The TR is not in the files: it must be given (``data.tr``).

Every problem stops with one line naming the file: a run with no movie, a movie shorter than
its fMRI, NaN in a run (when it is read), a subject that is not there, runs that differ in their
number of targets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from datamodules.movies.decode import movie_duration

#: Algonauts 2025's repetition time, seconds.
ALGONAUTS_2025_TR = 1.49
TASKS = ("friends", "movie10")
FMRI_DIR, STIMULI_DIR = "fmri", Path("stimuli") / "movies"
BOLD_FILE = ("{subject}_task-{task}_space-MNI152NLin2009cAsym_atlas-Schaefer18_parcel-1000Par7Net"
             "_desc-s123456_bold.h5")
ATLAS_FILE = ("{subject}_space-MNI152NLin2009cAsym_atlas-Schaefer18_parcel-1000Par7Net"
              "_desc-dseg_parcellation.nii.gz")
LAYOUTS = ("algonauts2025", "generic")
GENERIC_MOVIES_DIR, GENERIC_FMRI_DIR = "movies", "fmri"
MOVIE_EXTENSIONS = (".mkv", ".mp4", ".avi", ".mov", ".webm")
#: How many seconds an fMRI run may outlast its movie before it is refused: the scanner may
#: record a last TR that the movie ends inside.
DEFAULT_TOLERANCE_S = ALGONAUTS_2025_TR

_KEY = re.compile(r"^ses-(?P<session>\d+)_task-(?P<stimulus>[A-Za-z0-9]+?)(?:_run-(?P<run>\d+))?$")
_FRIENDS = re.compile(r"^s(?P<season>\d+)e(?P<episode>\d+)(?P<half>[a-z]?)$")
_FILM = re.compile(r"^(?P<film>[A-Za-z]+)(?P<segment>\d+)$")


class MovieDataError(ValueError):
    """The release's files do not fit together; the message names the file."""


@dataclass(frozen=True)
class MovieRun:
    """One fMRI run and the movie it was recorded with.

    Attributes
    ----------
    subject : ``sub-01`` (generic layout: ``""``)
    task : ``friends``, ``movie10`` or ``generic``
    stimulus : what was shown: ``s01e02a``, ``bourne01``, or the generic movie's name
    repeat : the ``run-N`` of a repeated segment, else None
    fmri_path : the ``.h5`` (or generic ``.npy``) holding the series
    key : the HDF5 dataset's name (None for ``.npy``)
    movie_path : the movie file
    n_trs, n_parcels : the series' shape
    """

    subject: str
    task: str
    stimulus: str
    repeat: int | None
    fmri_path: Path
    key: str | None
    movie_path: Path
    n_trs: int
    n_parcels: int

    @property
    def name(self) -> str:
        """``s01e02a`` or ``life01_run-2``: unique within a subject."""
        return self.stimulus if self.repeat is None else f"{self.stimulus}_run-{self.repeat}"

    @property
    def where(self) -> str:
        return f"{self.fmri_path}" + (f" [{self.key}]" if self.key else "")


def parse_run_key(key: str) -> tuple[str, int | None]:
    """``ses-012_task-bourne01_run-1`` -> ``("bourne01", 1)``; ``ses-003_task-s01e02a`` ->
    ``("s01e02a", None)``. Raises ValueError for another form."""
    match = _KEY.match(key)
    if match is None:
        raise ValueError(f"run key {key!r} is not of the form ses-NNN_task-<stimulus>[_run-N]")
    run = match["run"]
    return match["stimulus"], None if run is None else int(run)


def movie_path(root: str | Path, task: str, stimulus: str) -> Path:
    """Where the release keeps the movie of ``stimulus`` (``s01e02a`` or ``bourne01``)."""
    movies = Path(root) / STIMULI_DIR
    if task == "friends":
        match = _FRIENDS.match(stimulus)
        if match is None:
            raise ValueError(f"Friends stimulus {stimulus!r} is not of the form sNNeNN[a-z]")
        return movies / "friends" / f"s{int(match['season'])}" / f"friends_{stimulus}.mkv"
    match = _FILM.match(stimulus)
    if match is None:
        raise ValueError(f"Movie10 stimulus {stimulus!r} is not of the form <film><segment>")
    return movies / "movie10" / match["film"] / f"{stimulus}.mkv"


def ood_movie_path(root: str | Path, episode: str) -> Path:
    """Where the 2025 release keeps an out-of-distribution episode (``chaplin1`` ->
    ``ROOT/stimuli/movies/ood/chaplin/task-chaplin1_video.mkv``)."""
    match = _FILM.match(episode)
    if match is None:
        raise ValueError(f"ood episode {episode!r} is not of the form <film><segment>")
    return Path(root) / STIMULI_DIR / "ood" / match["film"] / f"task-{episode}_video.mkv"


def test_movie_path(root: str | Path, split: str, episode: str) -> Path:
    """The movie of a test episode of ``split`` (``friends-s7``: a Friends half-episode;
    ``ood``: an out-of-distribution film's segment) in the Algonauts 2025 layout."""
    if split == "friends-s7":
        return movie_path(root, "friends", episode)
    return ood_movie_path(root, episode)


def detect_layout(root: str | Path) -> str:
    """``algonauts2025`` (``ROOT/stimuli/movies`` or ``ROOT/fmri/sub-*/func``) or ``generic``
    (``ROOT/movies`` beside ``ROOT/fmri``); a folder holding neither is an error naming it."""
    root = Path(root)
    if (root / STIMULI_DIR).is_dir() or any((root / FMRI_DIR).glob("sub-*/func")):
        return "algonauts2025"
    if (root / GENERIC_MOVIES_DIR).is_dir() and (root / GENERIC_FMRI_DIR).is_dir():
        return "generic"
    raise MovieDataError(f"{root}: neither an Algonauts 2025 release ({STIMULI_DIR}/, "
                         f"{FMRI_DIR}/sub-0X/func/) nor a generic movie folder "
                         f"({GENERIC_MOVIES_DIR}/ beside {GENERIC_FMRI_DIR}/*.npy)")


def bold_path(root: str | Path, subject: str, task: str) -> Path:
    return Path(root) / FMRI_DIR / subject / "func" / BOLD_FILE.format(subject=subject, task=task)


def list_subjects(root: str | Path) -> list[str]:
    """Subjects with a ``func`` folder under ``ROOT/fmri``, sorted."""
    folder = Path(root) / FMRI_DIR
    if not folder.is_dir():
        raise MovieDataError(f"{folder}: no fMRI folder; is {root} an Algonauts 2025 release?")
    return sorted(p.name for p in folder.glob("sub-*") if (p / "func").is_dir())


def _check_length(run: MovieRun, tr: float, tolerance_s: float) -> None:
    seconds = movie_duration(run.movie_path)
    if run.n_trs * tr > seconds + tolerance_s:
        raise MovieDataError(
            f"{run.movie_path}: the movie lasts {seconds:.2f} s but its fMRI {run.where} has "
            f"{run.n_trs} TRs ({run.n_trs * tr:.2f} s at TR {tr} s)")


def list_runs(root: str | Path, subject: str, tasks: tuple[str, ...] = TASKS,
              tr: float = ALGONAUTS_2025_TR, check_movies: bool = True,
              tolerance_s: float = DEFAULT_TOLERANCE_S) -> list[MovieRun]:
    """Every run of ``subject`` in the release at ``root``, in file then key order.

    Shapes come from the HDF5 headers (no series is read). With ``check_movies``, each run's
    movie must exist and last at least as long as its fMRI (less ``tolerance_s``).
    A task whose ``.h5`` is absent has no runs (some subjects lack some); a subject without
    any is an error.
    """
    import h5py

    subjects = list_subjects(root)
    if subject not in subjects:
        raise MovieDataError(f"{Path(root) / FMRI_DIR / subject}: no such subject "
                             f"(the release has {subjects})")
    runs = []
    for task in tasks:
        if task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {task!r}")
        path = bold_path(root, subject, task)
        if not path.is_file():
            continue
        try:
            with h5py.File(path, "r") as f:
                shapes = {key: f[key].shape for key in sorted(f.keys())}
        except OSError as err:
            raise MovieDataError(f"{path}: not a readable HDF5 file ({err})") from err
        for key, shape in shapes.items():
            try:
                stimulus, repeat = parse_run_key(key)
                movie = movie_path(root, task, stimulus)
            except ValueError as err:
                raise MovieDataError(f"{path}: {err}") from None
            if len(shape) != 2:
                raise MovieDataError(f"{path} [{key}]: expected (n_TRs, n_parcels), got {shape}")
            runs.append(MovieRun(subject, task, stimulus, repeat, path, key, movie, *shape))
    if not runs:
        looked = [bold_path(root, subject, t).name for t in tasks]
        raise MovieDataError(f"{Path(root) / FMRI_DIR / subject / 'func'}: no fMRI runs for "
                             f"{subject} (looked for {looked})")
    if check_movies:
        check_runs(runs, tr, tolerance_s)
    return runs


def check_runs(runs: list[MovieRun], tr: float, tolerance_s: float = DEFAULT_TOLERANCE_S) -> None:
    """Each run's movie exists and is not shorter than its fMRI (one duration read per movie)."""
    for run in runs:
        if not run.movie_path.is_file():
            raise MovieDataError(f"{run.where}: run {run.name} has no movie (expected "
                                 f"{run.movie_path})")
    for run in runs:
        _check_length(run, tr, tolerance_s)


def load_run(run: MovieRun) -> np.ndarray:
    """The run's series, float32 (n_TRs, n_parcels); a run with NaN is refused, naming it."""
    if run.key is None:
        data = np.load(run.fmri_path)
    else:
        import h5py

        with h5py.File(run.fmri_path, "r") as f:
            data = f[run.key][()]
    data = np.asarray(data, np.float32)
    if data.shape != (run.n_trs, run.n_parcels):
        raise MovieDataError(f"{run.where}: shape {data.shape}, listed as "
                             f"{(run.n_trs, run.n_parcels)}")
    bad = np.isnan(data).any(1)
    if bad.any():
        raise MovieDataError(f"{run.where}: {int(bad.sum())} TRs hold NaN (first at TR "
                             f"{int(np.argmax(bad))}); drop or impute them first")
    return data
