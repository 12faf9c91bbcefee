"""The test scores ``predict.py --score`` wrote (``OUT/test_scores.json``), as a report section."""

from __future__ import annotations

import json
from html import escape
from pathlib import Path

from reports import html
from scoring.scores_on_test import TEST_SCORES_FILE


class TestScoresReadError(ValueError):
    """A ``--test-scores`` path that is not a readable ``test_scores.json`` (or a folder holding one)."""

    __test__ = False  # not a pytest class


def read_test_scores(path: str | Path) -> tuple[Path, dict]:
    """``path`` (the file, or the export folder holding it) and its content."""
    path = Path(path)
    if path.is_dir():
        path = path / TEST_SCORES_FILE
    try:
        scores = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise TestScoresReadError(f"{path}: cannot read the test scores ({err}); expected the "
                                  f"{TEST_SCORES_FILE} that predict.py --score writes") from None
    if not isinstance(scores, dict) or "overall" not in scores:
        raise TestScoresReadError(f"{path}: not a {TEST_SCORES_FILE} (no 'overall' entry)")
    return path, scores


def _cell(pair: dict) -> list:
    return [pair.get("score"), pair.get("r")]


def summary_line(path: Path, scores: dict) -> str:
    """``test score 0.512 (mean r 0.301) over 102 test videos: OUT/test_scores.json``."""
    overall = scores["overall"]
    score = "n/a" if overall.get("score") is None else f"{overall['score']:.3f}"
    r = "n/a" if overall.get("r") is None else f"{overall['r']:.3f}"
    return f"test score {score} (mean r {r}) over {scores.get('n_test_videos')} test videos: {path}"


def scores_on_test_section(paths: list[str | Path]) -> tuple[str, str]:
    """("Scores on the test videos", tables of each file's overall, per-subject and per-region
    normalised score and raw mean r)."""
    parts = []
    for given in paths:
        path, scores = read_test_scores(given)
        rows = [["overall", *_cell(scores["overall"])]]
        rows += [[f"subject {s}", *_cell(v)] for s, v in scores.get("subjects", {}).items()]
        rows += [[f"region {g}", *_cell(v)] for g, v in scores.get("rois", {}).items()]
        parts.append(f"<h3><code>{escape(str(path))}</code></h3>" + html.table(["", "score", "mean r"], rows)
                     + f"<p class='note'>{scores.get('n_test_videos')} test videos; "
                       f"{escape(str(scores.get('definition', '')))}</p>")
    return "Scores on the test videos", "\n".join(parts)
