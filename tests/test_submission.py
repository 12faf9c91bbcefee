"""The submission zip: layout, dict structure, and every problem the validator must name."""

import pickle
import zipfile

import numpy as np
import pytest

from export.prediction_writer import merge_shards
from export.submission import (
    SubmissionError,
    build_submission,
    track_of,
    validate_submission,
    write_submission_zip,
)

COUNTS = {"sub01": {"V1": 3, "FFA": 2}, "sub02": {"V1": 4, "FFA": 1}}


def _predictions(n=5, counts=COUNTS):
    rng = np.random.default_rng(0)
    return {s: {r: rng.normal(size=(n, v)) for r, v in rois.items()} for s, rois in counts.items()}


def test_zip_has_pickle_at_root_with_roi_then_subject(tmp_path):
    preds = _predictions()
    path = write_submission_zip(build_submission(preds), "mini", tmp_path)
    assert path.name == "mini_track.zip"
    with zipfile.ZipFile(path) as archive:
        assert archive.namelist() == ["mini_track.pkl"]
        submission = pickle.loads(archive.read("mini_track.pkl"))
    assert list(submission) == ["V1", "FFA"] and sorted(submission["V1"]) == ["sub01", "sub02"]
    assert submission["FFA"]["sub02"].dtype == np.float32 and submission["FFA"]["sub02"].shape == (5, 1)
    np.testing.assert_allclose(submission["V1"]["sub02"], preds["sub02"]["V1"], rtol=1e-6)
    validate_submission(path, COUNTS, 5)
    assert not list(tmp_path.glob("*.tmp"))


def test_full_track_name_and_key(tmp_path):
    counts = {"sub01": {"WB": 6}}
    assert track_of(counts) == "full" and track_of(COUNTS) == "mini"
    path = write_submission_zip(build_submission(_predictions(counts=counts)), "full", tmp_path)
    assert path.name == "full_track.zip"
    assert list(validate_submission(path, counts, 5)) == ["WB"]


def _zip(tmp_path, obj, name="mini_track.pkl"):
    path = tmp_path / "bad.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(name, pickle.dumps(obj))
    return path


def test_folder_inside_zip_is_refused(tmp_path):
    path = _zip(tmp_path, build_submission(_predictions()), name="results/mini_track.pkl")
    with pytest.raises(SubmissionError, match=r"exactly 'mini_track.pkl' at its root .*results/mini_track.pkl"):
        validate_submission(path, COUNTS, 5)


def test_every_problem_is_named(tmp_path):
    sub = build_submission(_predictions())
    sub["V1"]["sub01"] = sub["V1"]["sub01"][:, :2]  # wrong voxel count
    sub["FFA"]["sub02"][0, 0] = np.nan  # non-finite
    del sub["FFA"]["sub01"]  # missing subject
    sub["V4"] = {}  # unexpected region
    with pytest.raises(SubmissionError) as err:
        validate_submission(_zip(tmp_path, sub), COUNTS, 5)
    message = str(err.value)
    assert "4 problem(s)" in message
    assert "V1/sub01: shape (5, 2), expected (5, 3)" in message
    assert "FFA/sub02: 1 values are NaN" in message
    assert "FFA/sub01: missing" in message
    assert "unexpected region 'V4'" in message


def test_wrong_video_count_and_not_a_zip(tmp_path):
    path = write_submission_zip(build_submission(_predictions(n=4)), "mini", tmp_path)
    with pytest.raises(SubmissionError, match=r"V1/sub01: shape \(4, 3\), expected \(5, 3\)"):
        validate_submission(path, COUNTS, 5)
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip")
    with pytest.raises(SubmissionError, match="not a zip file"):
        validate_submission(junk, COUNTS, 5)


def test_failed_write_leaves_no_zip(tmp_path):
    with pytest.raises(Exception):
        write_submission_zip({"V1": {"sub01": lambda: None}}, "mini", tmp_path)  # unpicklable
    assert list(tmp_path.iterdir()) == []


def test_merge_shards_puts_rows_in_video_order(tmp_path):
    rows = np.arange(12, dtype=np.float32).reshape(6, 2)
    for rank, idx in enumerate([[13, 10, 15], [11, 12, 14]]):
        np.savez(tmp_path / f"rank{rank:03d}_batch000000.npz", index=np.array(idx), preds=rows[np.array(idx) - 10])
    np.testing.assert_array_equal(merge_shards(tmp_path, 6, 2, row_offset=10), rows)
    (tmp_path / "rank001_batch000000.npz").unlink()
    with pytest.raises(ValueError, match="no prediction for 3 of 6 videos"):
        merge_shards(tmp_path, 6, 2, row_offset=10)
