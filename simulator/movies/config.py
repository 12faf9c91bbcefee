"""What the movie simulator generates: which movies, how long, how many parcels, how noisy."""

from __future__ import annotations

from dataclasses import dataclass

from datamodules.movies.files import ALGONAUTS_2025_TR


@dataclass(frozen=True)
class MovieConfig:
    """Sizes and randomness of a synthetic Algonauts-2025-style release.

    Attributes
    ----------
    n_subjects : ``sub-01 .. sub-0N``
    n_parcels : Schaefer-style parcels (the release: 1000), split evenly over two hemispheres
    seasons : Friends seasons with fMRI (``s1``, ``s2``, ...), each of ``episodes_per_season``
        episodes, each episode two runs (``a``, ``b``) as in the release
    test_episodes : episodes of season 7, held out: their fMRI is not written, only their
        length (``target_sample_number``) and, aside, their truth
    films : Movie10 films ``(name, n_segments, repeated)``; a repeated film's segments were
        each shown twice (``run-1``, ``run-2``)
    ood_films : out-of-distribution test films ``(name, n_segments)`` (the 2025 release's
        ``stimuli/movies/ood/<film>/task-<film>N_video.mkv``), held out like season 7
    layout : ``algonauts2025`` (the release's files) or ``generic`` (``movies/<name>.mkv``,
        ``fmri/<subject>/<name>[_run-N].npy``, ``target_sample_number/``: the generic movie folder
        of :mod:`datamodules.movies.files`)
    run_minutes : length of every movie (a run)
    missing_runs : runs that every subject but the first lacks (drawn per subject)
    tr : seconds per fMRI sample
    fps, size : the rendered movies' frame rate and side in pixels (square, even)
    shot_seconds : each shot (a continuous scene) lasts a uniform draw from this range;
        a cut starts a new scene
    sample_rate : audio samples per second
    mean_ceiling : target mean over parcels of r(noise-free series, measured series), the best
        any model can reach; networks scale it (:data:`simulator.movies.parcels.NETWORKS`)
    noise_ar : lag-one autocorrelation of the noise within a run (slow physiological noise)
    seed : everything is a function of it
    """

    n_subjects: int = 3
    n_parcels: int = 100
    seasons: int = 2
    episodes_per_season: int = 2
    test_episodes: int = 2
    films: tuple[tuple[str, int, bool], ...] = (("bourne", 2, False), ("life", 1, True))
    ood_films: tuple[tuple[str, int], ...] = (("chaplin", 1),)
    layout: str = "algonauts2025"
    run_minutes: float = 3.0
    missing_runs: int = 1
    tr: float = ALGONAUTS_2025_TR
    fps: float = 10.0
    size: int = 96
    shot_seconds: tuple[float, float] = (2.0, 12.0)
    sample_rate: int = 16000
    mean_ceiling: float = 0.40
    noise_ar: float = 0.3
    seed: int = 0

    def __post_init__(self):
        if not 1 <= self.n_subjects <= 9:
            raise ValueError(f"n_subjects must be in 1..9, got {self.n_subjects}")
        if self.n_parcels < 14 or self.n_parcels % 2:
            raise ValueError(f"n_parcels must be even and >= 14 (one per network and hemisphere), "
                             f"got {self.n_parcels}")
        if self.seasons < 1 or self.episodes_per_season < 1 or self.test_episodes < 1:
            raise ValueError("need at least one season, one episode per season and one test "
                             "episode")
        if self.seasons > 6:
            raise ValueError(f"seasons must be at most 6 (season 7 is the test season), "
                             f"got {self.seasons}")
        if self.run_minutes * 60 < 10 * self.tr:
            raise ValueError(f"run_minutes={self.run_minutes} gives fewer than 10 TRs per run")
        if self.size < 16 or self.size % 2:
            raise ValueError(f"size must be an even number of pixels >= 16, got {self.size}")
        if not 0 < self.mean_ceiling < 1 or not 0 <= self.noise_ar < 1:
            raise ValueError("mean_ceiling must be in (0, 1) and noise_ar in [0, 1)")
        if self.missing_runs < 0:
            raise ValueError(f"missing_runs must be >= 0, got {self.missing_runs}")
        for film in self.films:
            if len(film) != 3 or not film[0].isalpha() or film[1] < 1:
                raise ValueError(f"films are (name of letters, n_segments >= 1, repeated), "
                                 f"got {film}")
        for film in self.ood_films:
            if len(film) != 2 or not film[0].isalpha() or film[1] < 1:
                raise ValueError(f"ood_films are (name of letters, n_segments >= 1), got {film}")
        if self.layout not in ("algonauts2025", "generic"):
            raise ValueError(f"layout must be 'algonauts2025' or 'generic', got {self.layout!r}")
        if not self.tr > 0:
            raise ValueError(f"tr must be > 0 seconds, got {self.tr}")

    @property
    def subjects(self) -> list[str]:
        return [f"sub-{i + 1:02d}" for i in range(self.n_subjects)]


#: The demo: a few minutes to generate on one core; ~20 three-minute movies, 100 parcels.
MOVIES_DEMO = MovieConfig()

#: For tests: seconds to generate; 30-second movies at 48 px, 14 parcels, 2 subjects.
MOVIES_TINY = MovieConfig(n_subjects=2, n_parcels=14, seasons=1, episodes_per_season=1,
                          test_episodes=1, films=(("life", 1, True),), run_minutes=0.5,
                          fps=8.0, size=48, shot_seconds=(2.0, 6.0))
