"""report.py on a movie run (issue 26): per-parcel validation r as NIfTI through the release's
atlas, read back with nibabel, and a figure."""

import nibabel as nib
import numpy as np
import pytest
import yaml

from datamodules.movies import atlas as movie_atlas
from lightning_modules.movie_val_dump import PARCELS_ROI, movie_validation_arrays
from report import main as report_main
from reports.parcel_maps import parcel_volume
from run_folder.contract import RunFolder, RunSummaryRecord
from scoring.summary import GroupMeans, ScoreSummary
from simulator.movies import MOVIES_TINY, generate_movies

N = 14


@pytest.fixture(scope="module")
def movies_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("movies") / "release"
    generate_movies(root, MOVIES_TINY, progress=False)
    return root


def _movie_run(folder, root, rng):
    """A finished movie run's folder: config (mode: movies), summary and the validation per parcel
    (sub-01 has the runs a and b, sub-02 only a, one TR shorter)."""
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(
        yaml.safe_dump({"mode": "movies", "data": {"root": str(root)}})
    )
    targets = {
        "sub-01": {"a": rng.standard_normal((6, N)), "b": rng.standard_normal((5, N))},
        "sub-02": {"a": rng.standard_normal((5, N))},
    }
    predictions = {
        s: {k: v + rng.standard_normal(v.shape) for k, v in runs.items()}
        for s, runs in targets.items()
    }
    per_parcel = {"sub-01": rng.uniform(-0.2, 0.6, N), "sub-02": rng.uniform(-0.2, 0.6, N)}
    reliability = {"sub-01": rng.uniform(0.1, 0.5, N), "sub-02": None}
    arrays = movie_validation_arrays(predictions, targets, per_parcel, reliability)
    run = RunFolder(folder)
    run.write_predictions(**arrays, epoch=0, score=0.2)
    summary = ScoreSummary(
        GroupMeans(
            0.2,
            {"sub-01": 0.2, "sub-02": 0.2},
            {"all": 0.2},
            {("sub-01", "all"): 0.2, ("sub-02", "all"): 0.2},
        )
    )
    run.write_summary(
        RunSummaryRecord(best=summary, last=summary, ridge=summary, best_epoch=0, epochs_run=1)
    )
    return predictions, targets, per_parcel, reliability


def test_the_validation_dump_keeps_each_subject_s_runs_and_r(tmp_path):
    predictions, targets, per_parcel, reliability = _movie_run(
        tmp_path / "run", tmp_path, np.random.default_rng(0)
    )
    dump = RunFolder(tmp_path / "run").read_predictions()
    assert dump.groups == [("sub-01", PARCELS_ROI, 0, N), ("sub-02", PARCELS_ROI, N, 2 * N)]
    assert list(dump.video_names[[0, 5, 6, 10]]) == ["a@TR0", "a@TR5", "b@TR0", "b@TR4"]
    np.testing.assert_allclose(dump.targets[:6, :N], targets["sub-01"]["a"], rtol=1e-6)
    np.testing.assert_allclose(dump.predictions[6:, :N], predictions["sub-01"]["b"], rtol=1e-6)
    np.testing.assert_allclose(dump.targets[:5, N:], targets["sub-02"]["a"], rtol=1e-6)
    assert np.isnan(dump.targets[5:, N:]).all()  # sub-02: a is a TR shorter, b absent
    np.testing.assert_allclose(
        dump.r, np.concatenate([per_parcel["sub-01"], per_parcel["sub-02"]]), rtol=1e-6
    )
    # score = r / sqrt(repeat reliability): the normalised-by-repeats score, NaN without repeats
    np.testing.assert_allclose(
        dump.score[:N], per_parcel["sub-01"] / np.sqrt(reliability["sub-01"]), rtol=1e-5
    )
    assert np.isnan(dump.score[N:]).all()


def test_parcel_volume_fills_each_label_with_its_value():
    labels = np.array([[[0, 1], [2, 3]], [[3, 3], [0, 9]]])
    volume = parcel_volume(np.array([0.1, 0.2, 0.3]), labels)
    np.testing.assert_allclose(
        volume, [[[np.nan, 0.1], [0.2, 0.3]], [[0.3, 0.3], [np.nan, np.nan]]]
    )
    with pytest.raises(ValueError, match="whole numbers"):
        parcel_volume(np.ones(3), labels + 0.5)


def test_report_writes_per_parcel_r_as_nifti_in_atlas_space(movies_root, tmp_path, capsys):
    rng = np.random.default_rng(1)
    _, _, per_parcel, _ = _movie_run(tmp_path / "runs/movies_ridge/version_0", movies_root, rng)
    out = tmp_path / "report"
    assert report_main([str(tmp_path / "runs/movies_ridge/version_0"), "--out", str(out)]) == 0
    for subject in ("sub-01", "sub-02"):
        atlas = nib.load(movie_atlas.atlas_file(movies_root, subject))
        labels = np.asarray(atlas.dataobj)
        image = nib.load(out / f"parcel_r_movies_ridge_version_0_{subject}.nii.gz")
        values = np.asarray(image.dataobj)
        assert values.shape == labels.shape and values.dtype == np.float32
        np.testing.assert_allclose(image.affine, atlas.affine)
        assert np.isnan(values[labels == 0]).all()
        for k in range(
            1, N + 1
        ):  # every voxel of parcel k holds that parcel's r, independently of the writer
            assert (labels == k).any()
            np.testing.assert_allclose(values[labels == k], per_parcel[subject][k - 1], rtol=1e-6)
        assert (out / f"parcels_movies_ridge_version_0_{subject}.png").stat().st_size > 1000
    html = (out / "report.html").read_text()
    assert "Per-parcel maps: movies_ridge/version_0" in html
    assert "parcel_r_movies_ridge_version_0_sub-02.nii.gz" in html
    # a release that moved: --data.root finds the atlas; without it the page says why there is
    # no map
    moved = tmp_path / "moved"
    movies_root.rename(moved)
    try:
        assert (
            report_main(
                [str(tmp_path / "runs/movies_ridge/version_0"), "--out", str(tmp_path / "r2")]
            )
            == 0
        )
        assert "No maps: " in (tmp_path / "r2/report.html").read_text()
        assert (
            report_main(
                [
                    str(tmp_path / "runs/movies_ridge/version_0"),
                    "--out",
                    str(tmp_path / "r3"),
                    "--data.root",
                    str(moved),
                ]
            )
            == 0
        )
        assert (tmp_path / "r3/parcel_r_movies_ridge_version_0_sub-01.nii.gz").is_file()
    finally:
        moved.rename(movies_root)
