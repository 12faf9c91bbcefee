"""The movie simulator writes the Algonauts 2025 layout; the reader lists, checks and loads it."""

import json
import shutil

import h5py
import nibabel as nib
import numpy as np
import pytest

from datamodules.movies import atlas as movie_atlas
from datamodules.movies import files
from datamodules.movies import generic as movie_generic
from datamodules.movies import samples as movie_samples
from datamodules.movies.decode import decode_at_rate, movie_duration
from scoring.timeseries import parcel_r, repeat_reliability
from simulator.movies import MOVIES_TINY, generate_movies
from simulator.movies.generate import tr_average
from simulator.movies.parcels import network_counts


@pytest.fixture(scope="module")
def movies_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("movies") / "release"
    generate_movies(root, MOVIES_TINY, progress=False)
    return root


def _copy(root, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    return copy


def test_layout_names_and_shapes(movies_root):
    meta = json.loads((movies_root / "synthetic_truth" / "meta.json").read_text())
    assert files.list_subjects(movies_root) == ["sub-01", "sub-02"]
    n_trs = int(np.floor(MOVIES_TINY.run_minutes * 60 / MOVIES_TINY.tr))
    runs = files.list_runs(movies_root, "sub-01")
    assert [r.key for r in runs] == ["ses-001_task-s01e01a", "ses-002_task-s01e01b",
                                    "ses-003_task-life01_run-1", "ses-004_task-life01_run-2"]
    assert runs[0].movie_path == movies_root / "stimuli/movies/friends/s1/friends_s01e01a.mkv"
    assert runs[2].movie_path == movies_root / "stimuli/movies/movie10/life/life01.mkv"
    assert all((r.n_trs, r.n_parcels) == (n_trs, 14) for r in runs)
    assert runs[0].fmri_path.name == ("sub-01_task-friends_space-MNI152NLin2009cAsym_atlas-"
                                      "Schaefer18_parcel-1000Par7Net_desc-s123456_bold.h5")
    # sub-02 lacks one Friends run, as the truth records
    names2 = [r.name for r in files.list_runs(movies_root, "sub-02")]
    assert len(names2) == 3 and meta["missing_runs"]["sub-02"] == sorted(
        {"s01e01a", "s01e01b"} - set(names2))
    # held-out season 7: lengths to predict, fMRI only in the truth
    assert movie_samples.read_sample_numbers(movies_root) == {
        s: {"s07e01a": n_trs, "s07e01b": n_trs} for s in ("sub-01", "sub-02")}
    assert not any("s07" in r.key for r in runs)
    assert np.load(movies_root / "synthetic_truth/sub-01/test/s07e01a.npy").shape == (n_trs, 14)
    # atlas: labels 1..n_parcels, each present
    volume = np.asarray(nib.load(movie_atlas.atlas_file(movies_root, "sub-01")).dataobj)
    np.testing.assert_array_equal(np.unique(volume), np.arange(15))
    assert sum(network_counts(7).values()) == 7


def test_movies_are_mkv_with_audio_and_match_the_fmri(movies_root):
    import av

    path = movies_root / "stimuli/movies/friends/s1/friends_s01e01a.mkv"
    with av.open(str(path)) as container:
        assert container.format.name.startswith("matroska")
        assert [s.type for s in container.streams] == ["video", "audio"]
        assert container.streams.video[0].codec_context.name == "h264"
    assert movie_duration(path) == pytest.approx(MOVIES_TINY.run_minutes * 60, abs=0.01)
    frames, times = decode_at_rate(path, 2.0, size=32)
    assert frames.shape == (60, 3, 32, 32) and frames.dtype == np.uint8
    np.testing.assert_allclose(times, np.arange(60) / 2)


def test_series_follow_the_truth_at_the_calibrated_level(movies_root):
    truth = movies_root / "synthetic_truth"
    r_all = []
    for subject in ("sub-01", "sub-02"):
        runs = files.list_runs(movies_root, subject)
        measured = [files.load_run(r) for r in runs]
        clean = [np.load(truth / "clean" / f"{r.stimulus}.npy") for r in runs]
        r = parcel_r(clean, measured)
        ceiling = np.load(truth / subject / "ceiling.npy")
        assert np.corrcoef(r, ceiling)[0, 1] > 0.5  # noisier parcels are noisier
        r_all.append(r.mean())
        # the repeated segment: two runs of one movie, same signal, independent noise
        life = {r.repeat: m for r, m in zip(runs, measured, strict=True) if r.stimulus == "life01"}
        rel = repeat_reliability([life[1]], [life[2]])
        assert rel.mean() > 0.05 and not np.allclose(life[1], life[2])
    assert 0.25 < np.mean(r_all) < 0.55  # mean ceiling 0.40, few TRs
    hrf = np.load(truth / "hrf.npz")
    assert 4.5 < float(hrf["peak_s"]) < 5.5


def test_tr_average_bins_frames_by_acquisition():
    x = np.arange(10, dtype=float)[:, None]  # 10 frames at 4 fps, TR 1 s: two full TRs
    np.testing.assert_allclose(tr_average(x, 4.0, 1.0)[:, 0], [1.5, 5.5])


def test_reader_errors_name_the_file(movies_root, tmp_path):
    root = _copy(movies_root, tmp_path)
    with pytest.raises(files.MovieDataError, match=r"sub-09: no such subject .*sub-01"):
        files.list_runs(root, "sub-09")
    # a run whose movie is missing
    (root / "stimuli/movies/movie10/life/life01.mkv").rename(root / "elsewhere.mkv")
    with pytest.raises(files.MovieDataError,
                       match=r"_task-movie10_.*_bold\.h5 \[ses-003_task-life01_run-1\]: run "
                             r"life01_run-1 has no movie \(expected .*life01\.mkv\)"):
        files.list_runs(root, "sub-01")
    # a movie shorter than its fMRI
    shutil.copy(root / "stimuli/movies/friends/s7/friends_s07e01a.mkv",
                root / "stimuli/movies/movie10/life/life01.mkv")
    friends = files.bold_path(root, "sub-01", "friends")
    with h5py.File(friends, "a") as f:
        f.create_dataset("ses-009_task-s01e01b_x", data=np.zeros((3, 14), np.float32))
    with pytest.raises(files.MovieDataError, match=r"_task-friends_.*\.h5: run key "
                                                   r"'ses-009_task-s01e01b_x' is not of the form"):
        files.list_runs(root, "sub-01")
    with h5py.File(friends, "a") as f:
        del f["ses-009_task-s01e01b_x"]
        data = f["ses-001_task-s01e01a"][()]
        del f["ses-001_task-s01e01a"]
        f.create_dataset("ses-001_task-s01e01a", data=np.concatenate([data, data[:5]]))
    with pytest.raises(files.MovieDataError, match=r"friends_s01e01a\.mkv: the movie lasts "
                                                   r"30\.00 s but its fMRI .*has 25 TRs"):
        files.list_runs(root, "sub-01")
    # NaN TRs, found when the run is read
    with h5py.File(friends, "a") as f:
        del f["ses-001_task-s01e01a"]
        data[3:5, 2] = np.nan
        f.create_dataset("ses-001_task-s01e01a", data=data)
    run = files.list_runs(root, "sub-01")[0]
    with pytest.raises(files.MovieDataError, match=r"\[ses-001_task-s01e01a\]: 2 TRs hold NaN "
                                                   r"\(first at TR 3\)"):
        files.load_run(run)


def test_generic_layout(movies_root, tmp_path):
    movies, fmri = tmp_path / "movies", tmp_path / "fmri"
    movies.mkdir()
    fmri.mkdir()
    shutil.copy(movies_root / "stimuli/movies/movie10/life/life01.mkv", movies / "life.mkv")
    np.save(fmri / "life_run-1.npy", np.zeros((20, 5), np.float32))
    np.save(fmri / "life_run-2.npy", np.ones((19, 5), np.float32))
    runs = movie_generic.list_generic_runs(movies, fmri, tr=1.49)
    assert [(r.stimulus, r.repeat, r.n_trs, r.n_parcels) for r in runs] == [
        ("life", 1, 20, 5), ("life", 2, 19, 5)]
    np.testing.assert_array_equal(files.load_run(runs[1]), np.ones((19, 5)))
    with pytest.raises(files.MovieDataError, match=r"life\.mkv: the movie lasts 30\.00 s but .*"
                                                   r"has 20 TRs \(60\.00 s at TR 3\.0 s\)"):
        movie_generic.list_generic_runs(movies, fmri, tr=3.0)
    np.save(fmri / "other.npy", np.zeros((4, 5), np.float32))
    with pytest.raises(files.MovieDataError, match=r"other\.npy: no movie other\.<mkv\|mp4"):
        movie_generic.list_generic_runs(movies, fmri, tr=1.49)


def test_cli_writes_the_movie_preset(tmp_path, capsys):
    from simulator.__main__ import main

    with pytest.raises(SystemExit, match="2"):
        main(["--preset", "movies", "--tiny", "--n-parcels", "13", "--out", str(tmp_path / "x")])
    assert "n_parcels must be even" in capsys.readouterr().err
    main(["--preset", "movies", "--tiny", "--run-minutes", "0.25", "--n-subjects", "1",
          "--n-parcels", "16", "--quiet", "--out", str(tmp_path / "y")])
    assert "1 subjects, 16 parcels, 0.25-minute movies" in capsys.readouterr().out
    runs = files.list_runs(tmp_path / "y", "sub-01")
    assert {(r.n_trs, r.n_parcels) for r in runs} == {(10, 16)}


def test_ood_films_where_the_2025_release_keeps_them(movies_root):
    from datamodules.movies.module import MovieDataModule

    movie = movies_root / "stimuli/movies/ood/chaplin/task-chaplin1_video.mkv"
    assert files.ood_movie_path(movies_root, "chaplin1") == movie
    n_trs = int(np.floor(MOVIES_TINY.run_minutes * 60 / MOVIES_TINY.tr))
    assert movie_samples.read_sample_numbers(movies_root, "ood") == {s: {"chaplin1": n_trs}
                                                            for s in ("sub-01", "sub-02")}
    assert decode_at_rate(movie, 2.0, 32)[0].shape[0] >= n_trs * MOVIES_TINY.tr * 2
    episodes = MovieDataModule(str(movies_root)).test_episodes("ood")
    assert episodes["sub-02"] == {"chaplin1": (movie, n_trs)}
    # the truth keeps their measured series; no fMRI of them is in the release
    assert np.load(movies_root / "synthetic_truth/sub-01/test/chaplin1.npy").shape == (n_trs, 14)
    with h5py.File(files.bold_path(movies_root, "sub-01", "movie10"), "r") as f:
        assert not [k for k in f if "chaplin" in k]
