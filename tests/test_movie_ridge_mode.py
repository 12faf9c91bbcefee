"""The movie time-series mode (issue 26): split by stimulus, folds by run, TR features, and the
ridge baseline through train.py and predict.py on the simulator's tiny movie release."""

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

from datamodules.movies.files import MovieDataError, MovieRun
from datamodules.movies.frame_cache import tr_means
from datamodules.movies.split import default_val_stimuli, split_runs
from ridge.solver import RidgeCV
from scoring.run_splits import group_kfold_folds

REPO = Path(__file__).resolve().parents[1]


def _run(subject, task, stimulus, repeat=None, n=20):
    return MovieRun(subject, task, stimulus, repeat, Path("x.h5"), "k", Path(f"{stimulus}.mkv"), n, 4)


def _tr_index(runs):
    """(run position, TR) of every TR of runs concatenated."""
    return [(i, t) for i, r in enumerate(runs) for t in range(r.n_trs)]


def test_split_by_stimulus_never_puts_adjacent_or_repeated_trs_on_both_sides():
    runs = [_run("sub-01", "friends", s) for s in ("s01e01a", "s01e01b", "s01e02a", "s01e02b")]
    runs += [_run("sub-01", "movie10", "life01", 1), _run("sub-01", "movie10", "life01", 2)]
    assert default_val_stimuli(runs, 1) == ["s01e02b"]
    train, val = split_runs(runs, ["s01e02b", "life01"])
    assert {r.stimulus for r in val} == {"s01e02b", "life01"} and len(val) == 3  # both repeats held out
    assert not {r.stimulus for r in train} & {r.stimulus for r in val}
    # each run lies wholly on one side: no TR of a validation run has a training neighbour in its run
    assert sorted([r.name for r in train] + [r.name for r in val]) == sorted(r.name for r in runs)
    # the ridge's CV folds, grouped by stimulus, never split a run or a repetition across folds
    stimuli = sorted({r.stimulus for r in train})
    groups = np.repeat([stimuli.index(r.stimulus) for r in train], [r.n_trs for r in train])
    index = _tr_index(train)
    for fit_rows, val_rows in group_kfold_folds(groups, 3):
        fit_runs = {index[i][0] for i in fit_rows}
        val_runs = {index[i][0] for i in val_rows}
        assert not fit_runs & val_runs
        assert not {train[i].stimulus for i in fit_runs} & {train[i].stimulus for i in val_runs}
    with pytest.raises(MovieDataError, match=r"data.val_stimuli: \['s09e01a'\] not among"):
        split_runs(runs, ["s09e01a"])
    with pytest.raises(MovieDataError, match="leaves sub-01 no training run"):
        split_runs(runs, sorted({r.stimulus for r in runs}))


def test_ridge_cv_takes_given_folds():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 6))
    Y = X @ rng.normal(size=(6, 5)) + 2 * rng.normal(size=(40, 5))
    alphas = (0.1, 1.0, 10.0, 100.0)
    contiguous = RidgeCV(alphas=alphas, n_folds=4).fit(X, Y)
    # the same four blocks as runs: the same folds, the same CV scores and fit
    groups = np.repeat(np.arange(4), 10)
    given = RidgeCV(alphas=alphas, n_folds=group_kfold_folds(groups, 4)).fit(X, Y)
    np.testing.assert_allclose(given.cv_scores_.numpy(), contiguous.cv_scores_.numpy(), rtol=1e-6)
    # rows shuffled but grouped by their run: the folds follow the groups, the scores stay
    order = rng.permutation(40)
    shuffled = RidgeCV(alphas=alphas, n_folds=group_kfold_folds(groups[order], 4)).fit(X[order], Y[order])
    np.testing.assert_allclose(shuffled.cv_scores_.numpy(), contiguous.cv_scores_.numpy(), rtol=1e-6)
    np.testing.assert_allclose(shuffled.coef_.numpy(), contiguous.coef_.numpy(), rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="fold 0: train and val must be disjoint"):
        RidgeCV(alphas=alphas, n_folds=[(np.arange(20), np.arange(10)), (np.arange(20), np.arange(20, 40))]).fit(X, Y)


def test_a_config_saying_mode_movies_selects_the_movie_cli(tmp_path):
    from cli.movies import is_movie_command
    other = tmp_path / "other.yaml"
    other.write_text("model: {}\n")
    assert is_movie_command(["fit", "--config", str(other), "--config", str(REPO / "configs/movies_ridge.yaml")])
    assert not is_movie_command(["fit", f"--config={other}"])
    assert not is_movie_command(["fit", "--config", str(tmp_path / "missing.yaml")])


def test_tr_means_average_the_frames_inside_each_tr():
    rng = np.random.default_rng(1)
    features = rng.normal(size=(13, 3)).astype(np.float32)  # 2 Hz: 0, 0.5, ..., 6.0 s
    out = tr_means(features, 2.0, 1.49, 5)
    times = np.arange(13) / 2.0
    for t in range(4):
        inside = (times >= t * 1.49) & (times < (t + 1) * 1.49)
        np.testing.assert_allclose(out[t], features[inside].mean(0), rtol=1e-6)
    # TR 4 spans 5.96..7.45 s: only the sample at 6.0 s
    np.testing.assert_allclose(out[4], features[12], rtol=1e-6)


@pytest.fixture(scope="module")
def movies_root(tmp_path_factory):
    from simulator.movies import MOVIES_TINY, generate_movies
    root = tmp_path_factory.mktemp("movies") / "release"
    generate_movies(root, MOVIES_TINY, progress=False)
    return root


def _fit_args(root, work):
    return ["fit", "--config", str(REPO / "configs/movies_ridge.yaml"), "--data.root", str(root),
            "--data.image_size", "64", "--data.cache_dir", str(work / "cache"), "--trainer.accelerator", "cpu",
            "--trainer.logger.init_args.save_dir", str(work / "runs")]


@pytest.mark.slow
def test_fit_and_predict_through_the_cli(movies_root, tmp_path):
    fit = subprocess.run([sys.executable, "train.py", *_fit_args(movies_root, tmp_path)], cwd=REPO,
                         capture_output=True, text=True, timeout=600)
    assert fit.returncode == 0, fit.stderr[-3000:]
    run = tmp_path / "runs/movies_ridge/version_0"
    summary = json.loads((run / "summary.json").read_text())
    r = summary["last"]["r"]
    assert set(r["subjects"]) == {"sub-01"}  # sub-02 has no run of the held-out s01e01b
    assert np.isfinite(r["overall"]) and set(r["rois"]) == {"Vis", "SomMot", "DorsAttn", "SalVentAttn",
                                                            "Limbic", "Cont", "Default"}
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 3  # one frame cache per training/validation movie
    # the logs say where the networks came from (the simulator writes the atlas's label table) and label
    # the score normalised by the repeats (life01 run-1 / run-2) as such
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from scoring.schaefer import FROM_NAMES
    logs = fit.stdout + fit.stderr
    assert f"Schaefer networks per parcel {FROM_NAMES} in " in logs
    assert "(normalised: r / sqrt(r between repeated runs), not the official score)" in logs
    tags = set(EventAccumulator(str(run)).Reload().Tags()["scalars"])
    assert {"val/score", "val/normalised_r_by_repeats", "val/normalised_r_by_repeats/sub-01"} <= tags
    # the validation per parcel is kept for report.py's maps
    from run_folder.contract import RunFolder
    dump = RunFolder(run).read_predictions()
    assert [g[:2] for g in dump.groups] == [("sub-01", "parcels")]
    np.testing.assert_allclose(dump.r.mean(), r["overall"], rtol=1e-5)

    out = tmp_path / "out"
    pred = subprocess.run([sys.executable, "predict.py", "--ckpt_path", str(run), "--data.root", str(movies_root),
                           "--output_dir", str(out)], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert pred.returncode == 0, pred.stderr[-3000:]
    with zipfile.ZipFile(out / "fmri_predictions_friends_s7.zip") as archive:
        assert archive.namelist() == ["fmri_predictions_friends_s7.npy"]
        archive.extractall(tmp_path / "unzipped")
    submission = np.load(tmp_path / "unzipped/fmri_predictions_friends_s7.npy", allow_pickle=True).item()
    assert sorted(submission) == ["sub-01", "sub-02"]
    for subject, episodes in submission.items():
        expected = np.load(movies_root / f"fmri/{subject}/target_sample_number/{subject}_friends-s7_fmri_samples.npy",
                           allow_pickle=True).item()
        assert {e: a.shape for e, a in episodes.items()} == {e: (n, 14) for e, n in expected.items()}
        assert all(a.dtype == np.float32 and np.isfinite(a).all() and a.std() > 0 for a in episodes.values())

    ood = subprocess.run([sys.executable, "predict.py", "--ckpt_path", str(run), "--data.root", str(movies_root),
                          "--output_dir", str(out), "--split", "ood"], cwd=REPO, capture_output=True, text=True,
                         timeout=600)
    assert ood.returncode == 0, ood.stderr[-3000:]
    with zipfile.ZipFile(out / "fmri_predictions_ood.zip") as archive:
        assert archive.namelist() == ["fmri_predictions_ood.npy"]
        archive.extractall(tmp_path / "unzipped_ood")
    submission = np.load(tmp_path / "unzipped_ood/fmri_predictions_ood.npy", allow_pickle=True).item()
    n_trs = int(np.floor(30 / 1.49))
    assert {s: {e: a.shape for e, a in eps.items()} for s, eps in submission.items()} == {
        s: {"chaplin1": (n_trs, 14)} for s in ("sub-01", "sub-02")}


@pytest.mark.slow
def test_bad_input_is_one_error_line_naming_the_file(movies_root, tmp_path):
    import train
    root = tmp_path / "copy"
    shutil.copytree(movies_root, root)
    with pytest.raises(SystemExit, match=r"^error: .*fmri/sub-09: no such subject "
                                         r"\(the release has \['sub-01', 'sub-02'\]\)$"):
        train.main([*_fit_args(root, tmp_path), "--data.subjects", "[sub-09]"])
    movie = root / "stimuli/movies/movie10/life/life01.mkv"
    movie.rename(root / "elsewhere.mkv")
    with pytest.raises(SystemExit, match=r"^error: .*\[ses-003_task-life01_run-1\]: run life01_run-1 has no movie "
                                         r"\(expected .*life01\.mkv\)$"):
        train.main(_fit_args(root, tmp_path))
    (root / "elsewhere.mkv").rename(movie)
    friends = root / "fmri/sub-01/func" / next(p.name for p in (root / "fmri/sub-01/func").glob("*friends*.h5"))
    with h5py.File(friends, "a") as f:
        data = f["ses-001_task-s01e01a"][()]
        data[4, 1] = np.nan
        f["ses-001_task-s01e01a"][...] = data
    with pytest.raises(SystemExit, match=r"^error: .*friends.*\.h5 \[ses-001_task-s01e01a\]: 1 TRs hold NaN"):
        train.main(_fit_args(root, tmp_path))
