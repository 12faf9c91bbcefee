"""The generic movie folder (issue 26): a folder of movies and one (n_TRs, n_targets) array per
run, TR given; written by the simulator (--layout generic), read by MovieDataModule, trained through
train.py; bad input stops with one line naming the file."""

import dataclasses
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from datamodules.movies import files
from datamodules.movies import generic as movie_generic
from datamodules.movies import samples as movie_samples
from datamodules.movies.files import MovieDataError
from datamodules.movies.module import MovieDataModule
from simulator.movies import MOVIES_TINY, generate_movies

REPO = Path(__file__).resolve().parents[1]
TINY_GENERIC = dataclasses.replace(MOVIES_TINY, layout="generic", tr=2.0)


@pytest.fixture(scope="module")
def generic_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("generic") / "folder"
    generate_movies(root, TINY_GENERIC, progress=False)
    return root


def _copy(root, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(root, copy, ignore=shutil.ignore_patterns("synthetic_truth"))
    return copy


def test_the_simulator_writes_the_generic_folder(generic_root):
    meta = json.loads((generic_root / "synthetic_truth/meta.json").read_text())
    assert meta["config"]["layout"] == "generic" and meta["tr"] == 2.0
    assert files.detect_layout(generic_root) == "generic"
    assert movie_generic.list_generic_subjects(generic_root) == ["sub-01", "sub-02"]
    assert sorted(p.name for p in (generic_root / "movies").iterdir()) == [
        "chaplin1.mkv",
        "life01.mkv",
        "s01e01a.mkv",
        "s01e01b.mkv",
        "s07e01a.mkv",
        "s07e01b.mkv",
    ]
    runs = movie_generic.list_generic_subject_runs(generic_root, "sub-01", tr=2.0)
    n_trs = int(np.floor(TINY_GENERIC.run_minutes * 60 / 2.0))
    assert [(r.subject, r.name, r.n_trs, r.n_parcels) for r in runs] == [
        ("sub-01", "life01_run-1", n_trs, 14),
        ("sub-01", "life01_run-2", n_trs, 14),
        ("sub-01", "s01e01a", n_trs, 14),
        ("sub-01", "s01e01b", n_trs, 14),
    ]
    assert runs[0].movie_path == generic_root / "movies/life01.mkv"
    # the measured series is the truth's clean series plus noise (the same data as the release)
    clean = np.load(generic_root / "synthetic_truth/clean/life01.npy")
    r = [np.corrcoef(files.load_run(runs[0])[:, p], clean[:, p])[0, 1] for p in range(14)]
    assert np.mean(r) > 0.1
    counts = movie_samples.read_sample_numbers(generic_root, "ood", ["sub-01"])
    assert counts == {"sub-01": {"chaplin1": n_trs}}
    assert movie_samples.find_samples_file(generic_root, "sub-01", "ood") == (
        generic_root / "target_sample_number/sub-01_ood_fmri_samples.npy"
    )


def test_the_data_module_reads_it_with_the_tr_given(generic_root):
    with pytest.raises(
        MovieDataError,
        match=r"folder: a generic movie folder's TR is not in its files; "
        r"give it with --data.tr SECONDS",
    ):
        MovieDataModule(str(generic_root))
    dm = MovieDataModule(str(generic_root), tr=2.0)
    assert dm.layout == "generic" and dm.hparams.tr == 2.0
    dm.setup()
    assert dm.n_parcels == 14
    assert [r.name for r in dm.val_runs["sub-01"]] == ["s01e01b"]
    assert [r.name for r in dm.train_runs["sub-02"]] == ["life01_run-1", "life01_run-2", "s01e01a"]
    episodes = dm.test_episodes("friends-s7")
    assert {e: m.name for e, (m, _) in episodes["sub-02"].items()} == {
        "s07e01a": "s07e01a.mkv",
        "s07e01b": "s07e01b.mkv",
    }
    assert (
        MovieDataModule(str(generic_root), tr=2.0, layout="generic").test_episodes("ood")["sub-01"][
            "chaplin1"
        ][0]
        == generic_root / "movies/chaplin1.mkv"
    )


def test_a_flat_fmri_folder_is_one_subject(generic_root, tmp_path):
    root = _copy(generic_root, tmp_path)
    shutil.rmtree(root / "fmri/sub-02")
    for path in (root / "fmri/sub-01").iterdir():
        path.rename(root / "fmri" / path.name)
    (root / "fmri/sub-01").rmdir()
    assert movie_generic.list_generic_subjects(root) == ["sub-01"]
    assert len(movie_generic.list_generic_subject_runs(root, "sub-01", tr=2.0)) == 4
    (root / "fmri/sub-03").mkdir()
    np.save(root / "fmri/sub-03/life01.npy", np.zeros((5, 14), np.float32))
    with pytest.raises(
        MovieDataError, match=r"fmri: holds both \.npy runs and subject folders \['sub-03'\]"
    ):
        movie_generic.list_generic_subjects(root)


def test_bad_input_names_the_file(generic_root, tmp_path):
    root = _copy(generic_root, tmp_path)
    fmri = root / "fmri/sub-01"
    # a run with no movie
    np.save(fmri / "bourne01.npy", np.zeros((5, 14), np.float32))
    with pytest.raises(MovieDataError, match=r"sub-01/bourne01\.npy: no movie bourne01\.<mkv\|mp4"):
        movie_generic.list_generic_subject_runs(root, "sub-01", tr=2.0)
    (fmri / "bourne01.npy").unlink()
    # a movie shorter than its fMRI (30 s of movie, 40 TRs of 2 s)
    np.save(fmri / "s01e01a.npy", np.zeros((40, 14), np.float32))
    with pytest.raises(
        MovieDataError,
        match=r"s01e01a\.mkv: the movie lasts 30\.00 s but its fMRI "
        r".*sub-01/s01e01a\.npy has 40 TRs \(80\.00 s at TR 2\.0 s\)",
    ):
        movie_generic.list_generic_subject_runs(root, "sub-01", tr=2.0)
    # mismatched target counts, within a subject and across subjects
    np.save(fmri / "s01e01a.npy", np.zeros((15, 13), np.float32))
    with pytest.raises(
        MovieDataError,
        match=r"sub-01/s01e01a\.npy: 13 targets, but .*sub-01/life01_run-1\.npy "
        r"has 14 \(every run needs the same targets\)",
    ):
        movie_generic.list_generic_subject_runs(root, "sub-01", tr=2.0)
    for name in ("life01_run-1", "life01_run-2", "s01e01b"):
        np.save(fmri / f"{name}.npy", np.zeros((15, 13), np.float32))
    with pytest.raises(
        MovieDataError,
        match=r"sub-02/life01_run-1\.npy: 14 targets, but .*sub-01/"
        r"life01_run-1\.npy has 13",
    ):
        MovieDataModule(str(root), tr=2.0).setup()
    # NaN TRs, found when the run is read
    data = np.load(generic_root / "fmri/sub-02/s01e01a.npy")
    data[[2, 7], 3] = np.nan
    np.save(root / "fmri/sub-02/s01e01a.npy", data)
    run = next(
        r for r in movie_generic.list_generic_subject_runs(root, "sub-02", tr=2.0) if r.name == "s01e01a"
    )
    with pytest.raises(
        MovieDataError, match=r"sub-02/s01e01a\.npy: 2 TRs hold NaN \(first at TR 2\)"
    ):
        MovieDataModule(str(root), tr=2.0).responses(run)
    # neither layout
    with pytest.raises(
        MovieDataError, match=r"empty: neither an Algonauts 2025 release .* nor a generic"
    ):
        MovieDataModule(str(tmp_path / "empty"), tr=2.0)


@pytest.mark.slow
def test_train_and_predict_on_the_generic_folder(generic_root, tmp_path):
    fit = subprocess.run(
        [
            sys.executable,
            "train.py",
            "fit",
            "--config",
            str(REPO / "configs/movies_ridge.yaml"),
            "--data.root",
            str(generic_root),
            "--data.tr",
            "2.0",
            "--data.image_size",
            "64",
            "--data.cache_dir",
            str(tmp_path / "cache"),
            "--trainer.accelerator",
            "cpu",
            "--trainer.logger.init_args.save_dir",
            str(tmp_path / "runs"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert fit.returncode == 0, fit.stderr[-3000:]
    run = tmp_path / "runs/movies_ridge/version_0"
    summary = json.loads((run / "summary.json").read_text())
    assert set(summary["last"]["r"]["subjects"]) == {"sub-01"}  # sub-02 lacks the held-out s01e01b
    assert np.isfinite(summary["last"]["r"]["overall"])
    out = tmp_path / "out"
    pred = subprocess.run(
        [sys.executable, "predict.py", "--ckpt_path", str(run), "--output_dir", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert pred.returncode == 0, pred.stderr[-3000:]
    with zipfile.ZipFile(out / "fmri_predictions_friends_s7.zip") as archive:
        archive.extractall(tmp_path / "unzipped")
    submission = np.load(
        tmp_path / "unzipped/fmri_predictions_friends_s7.npy", allow_pickle=True
    ).item()
    n_trs = int(np.floor(TINY_GENERIC.run_minutes * 60 / 2.0))
    assert {s: {e: a.shape for e, a in eps.items()} for s, eps in submission.items()} == {
        s: {"s07e01a": (n_trs, 14), "s07e01b": (n_trs, 14)} for s in ("sub-01", "sub-02")
    }
