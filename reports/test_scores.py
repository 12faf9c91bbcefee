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


def _cell(pair: dict | None) -> list:
    return [None, None] if pair is None else [pair.get("score"), pair.get("r")]


def summary_line(path: Path, scores: dict) -> str:
    """``test score 0.512 (mean r 0.301) over 102 test videos: OUT/test_scores.json``."""
    ridge = scores.get("ridge_baseline")
    beside = f"; ridge baseline {_pair_text(ridge['overall'])}" if ridge else ""
    return (f"test score {_pair_text(scores['overall'])} over {scores.get('n_test_videos')} test videos"
            f"{beside}: {path}")


def _pair_text(pair: dict) -> str:
    """``0.512 (mean r 0.301)``, ``n/a`` where a value is null."""
    score = "n/a" if pair.get("score") is None else f"{pair['score']:.3f}"
    r = "n/a" if pair.get("r") is None else f"{pair['r']:.3f}"
    return f"{score} (mean r {r})"


def _row(scores: dict, label: str, key: str | None, name: str | None = None) -> list:
    """A table row: the model's score and mean r, then the ridge baseline's where the file has them."""
    ridge = scores.get("ridge_baseline")
    mine = scores["overall"] if key is None else scores.get(key, {}).get(name)
    theirs = None if ridge is None else (ridge["overall"] if key is None else ridge.get(key, {}).get(name))
    return [label, *_cell(mine), *(_cell(theirs) if ridge is not None else [])]


def scores_on_test_section(paths: list[str | Path]) -> tuple[str, str]:
    """("Scores on the test videos", tables of each file's overall, per-subject and per-region
    normalised score and raw mean r, with the run's ridge baseline's beside them where the file has
    them (``"ridge_baseline"``, written by ``predict.py --score``))."""
    parts = []
    for given in paths:
        path, scores = read_test_scores(given)
        ridge = scores.get("ridge_baseline")  # the run's ridge baseline, fitted in training
        rows = [_row(scores, "overall", None)]
        rows += [_row(scores, f"subject {s}", "subjects", s) for s in scores.get("subjects", {})]
        rows += [_row(scores, f"region {g}", "rois", g) for g in scores.get("rois", {})]
        header = ["", "score", "mean r"] + (["ridge baseline score", "ridge baseline mean r"] if ridge else [])
        parts.append(f"<h3><code>{escape(str(path))}</code></h3>" + html.table(header, rows)
                     + f"<p class='note'>{scores.get('n_test_videos')} test videos; "
                       f"{escape(str(scores.get('definition', '')))}</p>")
    return "Scores on the test videos", "\n".join(parts)
