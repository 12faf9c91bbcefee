"""Generate a synthetic Algonauts 2025 release: long movies, parcel time series, the truth aside.

Steps: (1) render every movie shot by shot (each shot a continuous scene of
:mod:`simulator.scenes`, a cut between shots), write it as ``.mkv`` with an audio track and keep
its frame features; (2) draw the parcels' feature mixes from the features' correlation over all
movies; (3) per movie, the parcels' frame-rate signal convolved with the canonical HRF
(:mod:`.hrf`), averaged over each TR (TR ``i`` covers ``[i TR, (i + 1) TR)`` of the movie), then
standardised per parcel over all movies: the noise-free series, shared by the subjects;
(4) per subject and run, that series plus AR(1) noise at the parcel's level. Season 7's
and the out-of-distribution films' fMRI is not written (only their lengths, in
``target_sample_number``); the atlas gets its label names beside it
(``*_desc-dseg_parcellation.tsv``, BIDS ``index``/``name``). ``config.layout == "generic"``
writes the same data as the generic movie folder instead (``movies/``, ``fmri/<subject>/``,
``target_sample_number/``, no atlas).
Everything hidden is under ``synthetic_truth/``::

    synthetic_truth/meta.json       config, runs per subject, missing runs, parcels, calibration
    synthetic_truth/hrf.npz         times_s, values (peak 1), peak_s, tr
    synthetic_truth/clean/<stimulus>.npy      float32 (n_TRs, n_parcels), noise-free, unit variance
    synthetic_truth/features/<stimulus>.npy   float32 (n_TRs, n_features) standardised frame
        features averaged per TR, without the HRF (the simulated brain's input)
    synthetic_truth/sub-0X/ceiling.npy, noise_sd.npy   (n_parcels,)
    synthetic_truth/sub-0X/test/<episode>.npy          the held-out episodes' measured series
        (season 7 and ood)
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from datamodules.movies import atlas as movie_atlas
from datamodules.movies import files
from datamodules.movies import samples as movie_samples
from simulator import writer
from simulator.backgrounds import BACKGROUNDS
from simulator.features import frame_features
from simulator.generate import single_threaded
from simulator.movies import hrf, parcels
from simulator.movies.config import MOVIES_DEMO, MovieConfig
from simulator.movies.mkv import MkvWriter
from simulator.scenes import render_scene, sample_scene

TRUTH_DIR = writer.TRUTH_DIR


@dataclass(frozen=True)
class Stimulus:
    """A movie of the release. ``repeats``: the ``run-N`` numbers it was shown under (Movie10),
    ``(None,)`` for a Friends half-episode shown once. ``task``: ``friends``, ``movie10`` or
    ``ood``; held-out stimuli belong to the test split ``split``."""

    task: str
    name: str
    repeats: tuple[int | None, ...]
    held_out: bool = False

    @property
    def split(self) -> str | None:
        """``friends-s7`` or ``ood`` for a held-out stimulus, else None."""
        if not self.held_out:
            return None
        return "ood" if self.task == "ood" else "friends-s7"


def movie_file(root: Path, config: MovieConfig, stim: Stimulus) -> Path:
    """Where the layout keeps ``stim``'s movie."""
    if config.layout == "generic":
        return root / files.GENERIC_MOVIES_DIR / f"{stim.name}.mkv"
    if stim.task == "ood":
        return files.ood_movie_path(root, stim.name)
    return files.movie_path(root, stim.task, stim.name)


def plan_stimuli(config: MovieConfig) -> list[Stimulus]:
    """Friends half-episodes (``s01e01a``, ...), season 7's held out, then Movie10 segments."""
    out = []
    for season in range(1, config.seasons + 1):
        for episode in range(1, config.episodes_per_season + 1):
            out += [Stimulus("friends", f"s{season:02d}e{episode:02d}{half}", (None,))
                    for half in "ab"]
    for episode in range(1, config.test_episodes + 1):
        out += [Stimulus("friends", f"s07e{episode:02d}{half}", (None,), held_out=True)
                for half in "ab"]
    for film, n_segments, repeated in config.films:
        out += [Stimulus("movie10", f"{film}{segment:02d}", (1, 2) if repeated else (1,))
                for segment in range(1, n_segments + 1)]
    for film, n_segments in config.ood_films:  # named as the release's ood samples: chaplin1
        out += [Stimulus("ood", f"{film}{segment}", (None,), held_out=True)
                for segment in range(1, n_segments + 1)]
    return out


def plan_runs(config: MovieConfig,
              stimuli: list[Stimulus]) -> dict[str, list[tuple[Stimulus, int | None]]]:
    """``{subject: [(stimulus, repeat), ...]}`` with fMRI; all but the first subject lack
    ``missing_runs`` Friends runs drawn at random."""
    rng = np.random.default_rng([config.seed, 7])
    shown = [(s, r) for s in stimuli if not s.held_out for r in s.repeats]
    friends = [i for i, (s, _) in enumerate(shown) if s.task == "friends"]
    out = {}
    for k, subject in enumerate(config.subjects):
        n_missing = 0 if k == 0 else min(config.missing_runs, len(friends) - 1)
        missing = set(rng.choice(friends, n_missing, replace=False).tolist())
        out[subject] = [run for i, run in enumerate(shown) if i not in missing]
    return out


def _audio(rng: np.random.Generator, scene, n_frames: int, fps: float, sample_rate: int,
           start_sample: int) -> np.ndarray:
    """A tone per shot (pitch from what is on screen, loudness from how fast it moves), float32."""
    end = int(round((start_sample / sample_rate + n_frames / fps) * sample_rate))
    t = np.arange(start_sample, end) / sample_rate
    pitch = 150.0 + 90.0 * len(scene.objects) + 40.0 * BACKGROUNDS.index(scene.background)
    loud = 0.1 + 0.4 * min(1.0, sum(np.hypot(*o.velocity) for o in scene.objects))
    wave = loud * np.sin(2 * np.pi * pitch * t) + 0.01 * rng.standard_normal(len(t))
    return wave.astype(np.float32)


def render_movie(path: Path, config: MovieConfig, seed: list[int]) -> np.ndarray:
    """Write one movie (shots with cuts) to ``path``; its frame features float32 (n_frames, n_f)."""
    rng = np.random.default_rng(seed)
    n_total = int(round(config.run_minutes * 60 * config.fps))
    feats, done = [], 0
    with MkvWriter(path, config.fps, config.size, config.size, config.sample_rate) as out:
        while done < n_total:
            n = int(round(rng.uniform(*config.shot_seconds) * config.fps))
            n = max(2, min(n, n_total - done))
            scene = sample_scene(rng, config.fps, n)
            clip = render_scene(scene, config.size)
            start_sample = int(round(done / config.fps * config.sample_rate))
            out.write(clip.frames, _audio(rng, scene, n, config.fps, config.sample_rate,
                                          start_sample))
            feats.append(parcels.flatten_features(frame_features(clip)))
            done += n
    return np.concatenate(feats)[:n_total]


def tr_average(x: np.ndarray, fps: float, tr: float) -> np.ndarray:
    """Mean of frame-rate rows within each TR: (n_frames, ...) -> (floor(duration / tr), ...).

    TR ``i`` averages the frames shown in ``[i tr, (i + 1) tr)``.
    """
    n_trs = int(np.floor(len(x) / fps / tr + 1e-9))
    which = np.floor(np.arange(len(x)) / fps / tr + 1e-9).astype(int)
    keep = which < n_trs
    sums = np.zeros((n_trs, *x.shape[1:]))
    np.add.at(sums, which[keep], x[keep])
    return sums / np.bincount(which[keep], minlength=n_trs).reshape(-1, *[1] * (x.ndim - 1))


def generate_movies(out_dir: str | Path, config: MovieConfig = MOVIES_DEMO,
                    progress: bool = True) -> Path:
    """Write a synthetic Algonauts-2025-style release with its truth to ``out_dir`` (new or empty).

    Raises
    ------
    FileExistsError
        ``out_dir`` exists and is not empty.
    """
    out_dir = Path(out_dir)
    writer.check_free(out_dir)
    stimuli = plan_stimuli(config)
    runs = plan_runs(config, stimuli)
    with writer.staging(out_dir) as tmp, single_threaded():
        # (1) movies and their frame features
        frame_feats = {}
        for i, stim in enumerate(tqdm(stimuli, desc="movies", disable=not progress)):
            frame_feats[stim.name] = render_movie(movie_file(tmp, config, stim), config,
                                                  [config.seed, 1, i])
        # (2) parcels from the features' statistics over every movie
        stacked = np.concatenate(list(frame_feats.values()))
        mean, sd = stacked.mean(0), stacked.std(0)
        sd = np.where(sd > 1e-8, sd, 1.0)
        z_all = (stacked - mean) / sd
        correlation = (z_all.T @ z_all) / len(z_all)
        del stacked, z_all
        rng = np.random.default_rng([config.seed, 3])
        brain = parcels.make_parcels(rng, config.n_parcels, correlation)
        # (3) noise-free series: frame signal * HRF, averaged per TR, standardised over movies
        kernel = hrf.hrf_kernel(config.fps)
        raw, tr_feats = {}, {}
        for name, f in frame_feats.items():
            z = (f - mean) / sd
            bold = hrf.convolve_runs(z @ brain.weights, kernel)
            raw[name] = tr_average(bold, config.fps, config.tr)
            tr_feats[name] = tr_average(z, config.fps, config.tr).astype(np.float32)
        every = np.concatenate(list(raw.values()))
        mu, sigma = every.mean(0), every.std(0)
        clean = {n: ((r - mu) / np.where(sigma > 0, sigma, 1.0)).astype(np.float32)
                 for n, r in raw.items()}
        truth = tmp / TRUTH_DIR
        for name in clean:
            _save(truth / "clean" / f"{name}.npy", clean[name])
            _save(truth / "features" / f"{name}.npy", tr_feats[name])
        # (4) subjects
        volume, affine = parcels.atlas_volume(np.random.default_rng([config.seed, 4]),
                                              config.n_parcels)
        subject_meta = {}
        for k, subject in enumerate(config.subjects):
            rng = np.random.default_rng([config.seed, 5, k])
            ceiling = parcels.draw_ceilings(rng, brain.networks, config.mean_ceiling)
            noise_sd = parcels.noise_sd(ceiling)
            _save(truth / subject / "ceiling.npy", ceiling.astype(np.float32))
            _save(truth / subject / "noise_sd.npy", noise_sd.astype(np.float32))
            subject_meta[subject] = _write_subject(tmp, config, subject, runs[subject], stimuli,
                                                   clean, noise_sd, rng)
            if config.layout == "algonauts2025":
                _write_atlas(tmp, subject, volume, affine, brain.names)
        _write_meta(truth, config, stimuli, runs, brain, subject_meta, clean)
    return out_dir


def _save(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, array)


def _write_subject(root: Path, config: MovieConfig, subject: str, runs, stimuli, clean,
                   noise_sd, rng) -> dict:
    def measured(name):
        return (clean[name] + parcels.ar1_noise(rng, len(clean[name]), noise_sd,
                                                config.noise_ar)).astype(np.float32)

    keys = {}
    if config.layout == "generic":
        for stim, repeat in runs:
            name = stim.name + ("" if repeat is None else f"_run-{repeat}")
            _save(root / files.GENERIC_FMRI_DIR / subject / f"{name}.npy", measured(stim.name))
            keys[name] = stim.name
    else:
        _write_h5(root, subject, runs, measured, keys)
    samples = {split: {} for split in movie_samples.SPLITS}
    for stim in stimuli:
        if stim.held_out:
            series = measured(stim.name)
            _save(root / TRUTH_DIR / subject / "test" / f"{stim.name}.npy", series)
            samples[stim.split][stim.name] = len(series)
    for split, counts in samples.items():
        if not counts:
            continue
        path = (root / movie_samples.SAMPLES_DIR / movie_samples.SAMPLES_FILE.format(subject=subject, split=split)
                if config.layout == "generic" else movie_samples.samples_file(root, subject, split))
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, counts, allow_pickle=True)
    return {"runs": keys, **samples}


def _write_h5(root: Path, subject: str, runs, measured, keys: dict) -> None:
    import h5py

    session = 0
    for task in files.TASKS:
        task_runs = [(s, r) for s, r in runs if s.task == task]
        if not task_runs:
            continue
        path = files.bold_path(root, subject, task)
        path.parent.mkdir(parents=True, exist_ok=True)
        with h5py.File(path, "w") as f:
            for stim, repeat in task_runs:
                session += 1
                key = f"ses-{session:03d}_task-{stim.name}" + ("" if repeat is None
                                                               else f"_run-{repeat}")
                f.create_dataset(key, data=measured(stim.name))
                keys[key] = stim.name


def _write_atlas(root: Path, subject: str, volume: np.ndarray, affine: np.ndarray,
                 names: list[str]) -> None:
    import nibabel as nib

    folder = root / files.FMRI_DIR / subject / "atlas"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / files.ATLAS_FILE.format(subject=subject)
    nib.save(nib.Nifti1Image(volume, affine), path)
    rows = [f"{i}\t{name}" for i, name in enumerate(names, 1)]
    movie_atlas.atlas_labels_file(path).write_text("index\tname\n" + "\n".join(rows) + "\n")


def _write_meta(truth: Path, config, stimuli, runs, brain, subject_meta, clean) -> None:
    times = np.arange(0, hrf.HRF_LENGTH_S, 0.01)
    np.savez(truth / "hrf.npz", times_s=times, values=hrf.double_gamma(times),
             peak_s=hrf.peak_time(), tr=config.tr)
    shown = {(s.name, r) for rs in runs.values() for s, r in rs}
    meta = {
        "generator": "simulator.movies",
        "config": dataclasses.asdict(config),
        "tr": config.tr,
        "stimuli": {s.name: {"task": s.task, "held_out": s.held_out, "repeats": list(s.repeats),
                             "n_trs": len(clean[s.name])} for s in stimuli},
        "subjects": subject_meta,
        "missing_runs": {subject: sorted(f"{s.name}" + ("" if r is None else f"_run-{r}")
                                         for s in stimuli for r in s.repeats
                                         if not s.held_out and (s.name, r) not in
                                         {(t.name, q) for t, q in runs[subject]})
                         for subject in runs},
        "n_shown_runs": len(shown),
        "parcels": {"names": brain.names, "networks": brain.networks, "regions": brain.regions},
        "feature_names": parcels.feature_names(),
        "hrf": ("SPM's canonical double gamma, g(t; 6) - g(t; 16) / 6, peak "
                f"{hrf.peak_time():.2f} s, applied at the movie's frame rate before averaging "
                "each TR [i TR, (i + 1) TR)"),
        "calibration": (
            "ceiling.npy per subject is the target r between the noise-free series and a "
            f"measured run (a perfect model's score): mean {config.mean_ceiling} over parcels, "
            "scaled per network (simulator.movies.parcels.NETWORKS). Chosen so that models "
            "recovering 60-85% of the signal score 0.25-0.35 on average, the range of the "
            "Algonauts 2025 entries on Friends season 7 (the organisers' baseline lower, "
            "about 0.2). Noise is AR(1) with lag-one autocorrelation "
            f"{config.noise_ar}, independent per subject and run (repeats included)."),
    }
    (truth / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
