"""The report: every figure as a PNG in ``out_dir`` and one self-contained ``report.html`` beside them."""

from __future__ import annotations

import math
import re
import warnings
from pathlib import Path

import numpy as np
from tqdm import tqdm

from datamodules.mask_space import MaskSpace
from reports import html
from reports.band_maps import band_sections
from reports.brain_maps import r_volumes, save_nifti, slices_figure
from reports.figures import (
    best_worst_voxels_figure,
    save_png,
    score_table,
    scores_figure,
    voxel_r_histogram,
)
from reports.parcel_maps import is_movie_run, parcel_map_sections
from reports.runs import RunResult, load_run
from reports.test_scores import scores_on_test_section
from run_folder.contract import PREDICTIONS_FILE
from scoring.summary import ScoreSummary


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")


def runs_table(runs: list[RunResult]) -> str:
    rows = []
    for run in runs:
        s = run.summary
        rows.append([run.name, _overall(s.best, "score"), _overall(s.ridge, "score"), s.gain_over_ridge,
                     _overall(s.best, "r"), s.best_epoch, s.epochs_run, _overall(s.last, "score"),
                     s.best.n_unreliable_voxels if s.best else None,
                     "yes" if run.predictions is not None else "no", str(run.path)])
    return (html.table(["run", "best val/score", "ridge baseline val/score", "gain over ridge", "best val/r",
                        "best epoch", "epochs run", "last val/score", "unreliable voxels", "predictions saved",
                        "folder"], rows)
            + f"<p class='note'>{RUNS_NOTE}</p>")


def _overall(summary: ScoreSummary | None, kind: str) -> float | None:
    """The overall ``score`` or ``r`` of a summary, None where absent or NaN (a dash in the table)."""
    means = getattr(summary, kind) if summary is not None else None
    return means.overall if means is not None and math.isfinite(means.overall) else None


#: What the runs table's columns mean, on the page.
RUNS_NOTE = (
    "<b>val/score</b>: per voxel, Pearson r between predicted and measured responses over the validation "
    "videos, divided by the square root of the voxel's noise ceiling (how well its own repetitions agree), "
    "averaged over a region's voxels, then over regions and subjects. <b>Ridge baseline</b>: closed-form ridge "
    "on the frozen backbone's features, fitted at the start of the run (a dash: the run fitted none); "
    "<b>gain over ridge</b> is best val/score minus it. <b>Unreliable voxels</b>: voxels whose estimated noise "
    "ceiling is not positive (their repetitions agree no better than chance on these videos); they cannot be "
    "normalised, so they are left out of val/score and counted only in the raw val/r.")

#: Why noise-normalised values above 1 appear, under the histogram.
NORMALISED_NOTE = (
    "Right: r / sqrt(noise ceiling) per voxel. Values above 1 do not mean a model beats the data's "
    "reliability: the ceiling is estimated from a few noisy repetitions of a few dozen validation videos, and "
    "a voxel whose estimate came out low (close to 0) gets a large ratio from a modest r. Single voxels are "
    "noisy; the mean over many voxels (val/score) is what to compare. Only voxels with a positive ceiling are "
    "drawn; the others are the unreliable voxels of the runs table.")


def scores_tables(runs: list[RunResult]) -> str:
    subjects, rois, scores = score_table(runs)
    with warnings.catch_warnings():  # a run without some region: its mean is NaN, shown as a dash
        warnings.simplefilter("ignore", RuntimeWarning)
        per_roi, per_subject = np.nanmean(scores, axis=1), np.nanmean(scores, axis=2)
    roi_rows = [[run.name, run.best_scores.get("overall"), *map(float, per_roi[i])] for i, run in enumerate(runs)]
    subject_rows = [[run.name, *map(float, per_subject[i])] for i, run in enumerate(runs)]
    return (html.table(["run", "overall", *rois], roi_rows)
            + (html.table(["run", *subjects], subject_rows) if len(subjects) > 1 else ""))


def build_report(run_dirs: list[str | Path], out_dir: str | Path, n_extreme: int = 3, nifti: bool = True,
                 progress: bool = True, test_scores: list[str | Path] = (),
                 data_root: str | Path | None = None) -> Path:
    """Read the runs and write the figures, the NIfTI volumes (whole-brain runs, if nibabel is
    installed; movie runs: per-parcel r through the atlas) and ``report.html`` into ``out_dir``;
    returns the HTML's path. ``test_scores``: ``predict.py --score`` outputs (``test_scores.json``
    or its folder), shown in their own section. ``data_root``: where a movie run's release is now
    (default: its ``data.root``)."""
    runs = [load_run(d) for d in run_dirs]
    for i, run in enumerate(runs):  # runs/a/version_0 and runs2/a/version_0: tell them apart
        if any(other.name == run.name for other in runs[:i]):
            run.name = f"{run.name} ({i + 1})"
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sections = [("Runs", runs_table(runs))]
    if test_scores:
        sections.append(scores_on_test_section(list(test_scores)))
    bar = tqdm(total=2 + 2 * len(runs), desc="report", disable=not progress)
    png = save_png(scores_figure(runs), out / "scores.png")
    sections.append(("Score per region and subject",
                     html.image_tag(png, "scores") + scores_tables(runs)
                     + "<p class='note'>Best validation of each run; noise-normalised r averaged over a "
                       "region's voxels, then over subjects.</p>"))
    bar.update()
    with_preds = [run for run in runs if run.predictions is not None]
    if missing := [run.name for run in runs if run.predictions is None]:
        sections.append(("Runs without saved predictions", "<p class='note'>No "
                         f"<code>{PREDICTIONS_FILE}</code> in {', '.join(missing)} (runs from before it was written): scores only.</p>"))
    if with_preds:
        png = save_png(voxel_r_histogram(with_preds), out / "voxel_r.png")
        sections.append(("Distribution of per-voxel r", html.image_tag(png, "per-voxel r")
                         + f"<p class='note'>{NORMALISED_NOTE}</p>"))
    bar.update()
    for run in with_preds:
        png = save_png(best_worst_voxels_figure(run, n_extreme), out / f"voxels_{slug(run.name)}.png")
        sections.append((f"Best and worst voxels: {run.name}", html.image_tag(png, run.name)
                         + f"<p class='note'>Each point is one validation video (epoch {run.predictions.epoch}); "
                           "the line is a least-squares fit.</p>"))
        bar.update()
        volumes = r_volumes(run.predictions) if run.whole_brain else {}
        maps = []
        for subject, volume in volumes.items():
            mask = run.predictions.voxel_masks[subject]
            png = save_png(slices_figure(volume, mask, f"{run.name} {subject}: per-voxel r"),
                           out / f"brain_{slug(run.name)}_{subject}.png")
            maps.append(html.image_tag(png, f"{run.name} {subject}"))
            if nifti:
                try:
                    space = run.predictions.voxel_spaces.get(subject)  # the mask file's affine and header
                    path = save_nifti(volume, out / f"r_{slug(run.name)}_{subject}.nii.gz",
                                      space=MaskSpace(*space) if space else None)
                    maps.append(f"<p class='note'>Volume: <code>{path.name}</code></p>")
                except ImportError:
                    maps.append("<p class='note'>pip install nibabel to also get the volume as NIfTI.</p>")
        if maps:
            sections.append((f"Brain maps: {run.name}", "\n".join(maps)))
        bar.update()
    bar.close()
    for run in runs:  # runs fitted with banded ridge leave their band weights
        sections += band_sections(run.path, run.name, out, nifti)
    for run in runs:  # movie runs: validation r per parcel through the atlas
        if is_movie_run(run):
            sections += parcel_map_sections(run, out, slug(run.name), nifti, data_root)
    path = out / "report.html"
    path.write_text(html.page("Encoding-model runs: " + ", ".join(run.name for run in runs), sections))
    return path
