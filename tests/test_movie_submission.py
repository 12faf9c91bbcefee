"""The Algonauts 2025 submission zip: written, read back as the challenge reads it, and refused
when it does not match target_sample_number."""

import zipfile

import numpy as np
import pytest

from datamodules.movies.samples import read_sample_numbers, samples_file
from export.movie_submission import (
    MovieSubmissionError,
    check_movie_submission,
    validate_movie_submission_zip,
    write_movie_submission,
)

EXPECTED = {"sub-01": {"s07e01a": 12, "s07e01b": 9}, "sub-02": {"s07e01a": 12, "s07e01b": 9}}


def _predictions(rng, expected, n_parcels=6):
    return {s: {e: rng.standard_normal((n, n_parcels)) for e, n in eps.items()}
            for s, eps in expected.items()}


def _write_samples(root, expected):
    for subject, counts in expected.items():
        path = samples_file(root, subject)
        path.parent.mkdir(parents=True)
        (root / "fmri" / subject / "func").mkdir()
        np.save(path, counts, allow_pickle=True)


def test_writes_the_challenge_format_from_target_sample_number(tmp_path):
    root = tmp_path / "release"
    _write_samples(root, EXPECTED)
    expected = read_sample_numbers(root)
    assert expected == EXPECTED
    preds = _predictions(np.random.default_rng(0), expected)
    path = write_movie_submission(preds, expected, tmp_path / "out")
    assert path.name == "fmri_predictions_friends_s7.zip"
    with zipfile.ZipFile(path) as archive:
        assert archive.namelist() == ["fmri_predictions_friends_s7.npy"]
        archive.extractall(tmp_path / "unzipped")
    # as the challenge loads it
    loaded = np.load(tmp_path / "unzipped" / "fmri_predictions_friends_s7.npy",
                     allow_pickle=True).item()
    assert sorted(loaded) == ["sub-01", "sub-02"]
    for subject, episodes in preds.items():
        for episode, array in episodes.items():
            assert loaded[subject][episode].dtype == np.float32
            np.testing.assert_allclose(loaded[subject][episode], array, rtol=1e-6)
    assert validate_movie_submission_zip(path, expected)["sub-02"]["s07e01b"].shape == (9, 6)
    ood = write_movie_submission(preds, expected, tmp_path / "out", split="ood")
    assert ood.name == "fmri_predictions_ood.zip"


def test_refuses_a_mismatch_and_writes_nothing(tmp_path):
    rng = np.random.default_rng(1)
    preds = _predictions(rng, EXPECTED)
    preds["sub-01"]["s07e01b"] = preds["sub-01"]["s07e01b"][:8]  # one TR short
    del preds["sub-02"]["s07e01a"]
    preds["sub-02"]["s07e09a"] = rng.standard_normal((5, 6))
    preds["sub-02"]["s07e01b"][0, 0] = np.nan
    with pytest.raises(MovieSubmissionError) as err:
        write_movie_submission(preds, EXPECTED, tmp_path / "out")
    message = str(err.value)
    assert "4 problem(s)" in message
    assert "sub-01/s07e01b: shape (8, 6), expected (9, 6)" in message
    assert "sub-02/s07e01a: missing (12 TRs expected)" in message
    assert "sub-02/s07e09a: not in target_sample_number" in message
    assert "sub-02/s07e01b: 1 values are NaN or infinite" in message
    assert not (tmp_path / "out").exists()  # checked before anything is written
    with pytest.raises(MovieSubmissionError, match="sub-01/s07e01a: shape .*expected \\(12, 7\\)"):
        check_movie_submission(_predictions(rng, EXPECTED), EXPECTED, n_parcels=7)
    with pytest.raises(MovieSubmissionError, match="sub-03: missing"):
        check_movie_submission(_predictions(rng, EXPECTED), {**EXPECTED, "sub-03": {"x": 3}})


def test_refuses_a_zip_with_a_folder_inside(tmp_path):
    path = tmp_path / "fmri_predictions_friends_s7.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("sub/fmri_predictions_friends_s7.npy", b"")
    with pytest.raises(MovieSubmissionError, match="must hold exactly .fmri_predictions_friends"):
        validate_movie_submission_zip(path, EXPECTED)


def test_target_sample_number_is_read_from_either_place(tmp_path):
    from datamodules.movies.files import MovieDataError
    from datamodules.movies.samples import find_samples_file

    root = tmp_path / "release"
    release = samples_file(root, "sub-01", "ood")  # the 2025 release's (and its code's) place
    assert release == root / "fmri/sub-01/target_sample_number/sub-01_ood_fmri_samples.npy"
    issue = root / "target_sample_number/sub-01_ood_fmri_samples.npy"  # the place issue 26 names
    with pytest.raises(MovieDataError, match=r"^no target_sample_number for sub-01 \(ood\): "
                                             rf"neither {issue} nor {release} exists$"):
        read_sample_numbers(root, "ood", ["sub-01"])
    release.parent.mkdir(parents=True)
    np.save(release, {"chaplin1": 40}, allow_pickle=True)
    assert read_sample_numbers(root, "ood", ["sub-01"]) == {"sub-01": {"chaplin1": 40}}
    issue.parent.mkdir(parents=True)
    np.save(issue, {"chaplin1": 41, "chaplin2": 7}, allow_pickle=True)
    assert find_samples_file(root, "sub-01", "ood") == issue
    both = {"sub-01": {"chaplin1": 41, "chaplin2": 7}}
    assert read_sample_numbers(root, "ood", ["sub-01"]) == both
    release.unlink()
    both = {"sub-01": {"chaplin1": 41, "chaplin2": 7}}
    assert read_sample_numbers(root, "ood", ["sub-01"]) == both
