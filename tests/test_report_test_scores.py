"""report.py --test-scores: the scores predict.py --score wrote, in one line each and in the page."""

import json

import pytest

import report
from reports.test_scores import TestScoresReadError, read_test_scores, scores_on_test_section, summary_line

SCORES = {"overall": {"score": 0.5123, "r": 0.3011}, "subjects": {"sub-01": {"score": 0.6, "r": 0.4}},
          "rois": {"V1": {"score": None, "r": 0.2}}, "n_test_videos": 102, "definition": "r / sqrt(nc)"}


def test_a_folder_or_file_is_read_and_shown(tmp_path):
    (tmp_path / "test_scores.json").write_text(json.dumps(SCORES))
    path, scores = read_test_scores(tmp_path)
    assert path == tmp_path / "test_scores.json" and scores == SCORES
    assert summary_line(path, scores) == f"test score 0.512 (mean r 0.301) over 102 test videos: {path}"
    title, body = scores_on_test_section([path])
    assert title == "Scores on the test videos"
    assert "<td>sub-01</td>" not in body and "subject sub-01" in body and "0.512" in body and "&ndash;" in body


def test_a_missing_or_foreign_file_is_one_error_line(tmp_path, capsys):
    with pytest.raises(TestScoresReadError, match="cannot read the test scores"):
        read_test_scores(tmp_path / "nothing.json")
    (tmp_path / "other.json").write_text("[1, 2]")
    with pytest.raises(TestScoresReadError, match="not a test_scores.json"):
        read_test_scores(tmp_path / "other.json")
    assert report.main(["runs/none", "--out", str(tmp_path / "r"), "--test-scores", str(tmp_path / "x")]) == 2
    assert capsys.readouterr().err.startswith(f"error: {tmp_path / 'x'}: cannot read the test scores")
