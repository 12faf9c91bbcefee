"""Figures comparing runs: scores per region and subject, per-voxel r, best and worst voxels.

Every function returns a matplotlib Figure (Agg backend; nothing is shown) for the caller to
save or embed; ``save_png`` writes one and closes it.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from reports.runs import RunResult  # noqa: E402
from run_folder.contract import ValidationPredictions  # noqa: E402
from scoring.summary import GroupMeans  # noqa: E402


def save_png(fig, path: str | Path, dpi: int = 110) -> Path:
    """Write ``fig`` as PNG and close it."""
    path = Path(path)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return path


def score_table(runs: list[RunResult]) -> tuple[list[str], list[str], np.ndarray]:
    """Best scores of every run per (subject, region).

    Returns ``(subjects, rois, scores)`` with ``scores`` of shape (n_runs, n_subjects, n_rois),
    NaN where a run has no such group.
    """
    groups = [GroupMeans.from_json(run.best_scores).groups for run in runs]
    subjects = sorted({subject for g in groups for subject, _ in g})
    rois = list(dict.fromkeys(roi for g in groups for _, roi in g))
    scores = np.full((len(runs), len(subjects), len(rois)), np.nan)
    for i, g in enumerate(groups):
        for (subject, roi), value in g.items():
            scores[i, subjects.index(subject), rois.index(roi)] = value
    return subjects, rois, scores


def scores_figure(runs: list[RunResult]):
    """One panel per subject (and one for the mean over subjects): bars per region, one bar per run."""
    subjects, rois, scores = score_table(runs)
    with warnings.catch_warnings():  # a region some run lacks: NaN, no bar
        warnings.simplefilter("ignore", RuntimeWarning)
        panels = [("mean over subjects", np.nanmean(scores, axis=1))]
    panels += [(s, scores[:, i]) for i, s in enumerate(subjects)] if len(subjects) > 1 else []
    ncols = min(2, len(panels))
    nrows = int(np.ceil(len(panels) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(max(5.0, 0.55 * len(rois) * max(1, len(runs)) ** 0.5 + 2) * ncols,
                                                    2.6 * nrows + 0.4), squeeze=False, sharey=True)
    width = 0.8 / len(runs)
    colors = plt.cm.tab10(np.arange(len(runs)) % 10)
    for p, (ax, (title, values)) in enumerate(zip(axes.flat, panels)):
        for k, run in enumerate(runs):
            overall = run.best_scores.get("overall")
            ax.bar(np.arange(len(rois)) - 0.4 + (k + 0.5) * width, values[k], width, color=colors[k],
                   label=run.name + (f" (overall {overall:.3f})" if overall is not None else ""))
        ax.set_xticks(np.arange(len(rois)), rois, fontsize=8)
        ax.axhline(0, color="black", linewidth=0.5)
        ax.set_title(title, fontsize=9)
        if p == 0:
            ax.legend(fontsize=7, loc="best")
    for ax in axes[:, 0]:
        ax.set_ylabel("noise-normalised r")
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.suptitle("best validation score per region and subject", fontsize=10)
    fig.tight_layout()
    return fig


def voxel_r_histogram(runs: list[RunResult], bins: int = 60):
    """Distribution of per-voxel r (raw, all voxels) and of the noise-normalised score, one line per run."""
    with_preds = [run for run in runs if run.predictions is not None]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
    for ax, kind in zip(axes, ("r", "score")):
        values = [getattr(run.predictions, kind) for run in with_preds]
        finite = np.concatenate([v[np.isfinite(v)] for v in values]) if values else np.zeros(1)
        # A voxel with a tiny positive ceiling gives a huge score; the 0.5-99.5 percentile range
        # keeps the bulk readable, and the few outside are counted in the legend.
        lo, hi = ((finite.min(), finite.max()) if kind == "r"
                  else np.percentile(finite, [0.5, 99.5]) if finite.size else (0.0, 1.0))
        edges = np.linspace(min(-0.2, lo), max(1.0, hi), bins + 1)
        for run, v in zip(with_preds, values):
            v = v[np.isfinite(v)]
            outside = int(((v < edges[0]) | (v > edges[-1])).sum())
            note = f", {outside} outside the axis" if outside else ""
            ax.hist(v, bins=edges, histtype="step", linewidth=1.5, density=True,
                    label=f"{run.name}: median {np.median(v):.3f}{note}")
        ax.axvline(0, color="black", linewidth=0.5)
        ax.set_xlabel("Pearson r per voxel" if kind == "r" else "r / sqrt(noise ceiling) per voxel")
        ax.set_ylabel("density")
        # Below the axes: inside, the legend covered the bars.
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=1, frameon=False)
    axes[0].set_title("per-voxel r, all voxels", fontsize=9)
    axes[1].set_title("noise-normalised, voxels with a positive ceiling", fontsize=9)
    fig.tight_layout()
    return fig


def extreme_voxels(predictions: ValidationPredictions, n: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Flat indices of the ``n`` best and ``n`` worst voxels by r (finite r only), best first / worst first."""
    finite = np.flatnonzero(np.isfinite(predictions.r))
    order = finite[np.argsort(predictions.r[finite], kind="stable")]
    return order[::-1][:n], order[:n]


def best_worst_voxels_figure(run: RunResult, n: int = 3):
    """Predicted vs measured response across validation videos for the ``n`` best and ``n`` worst voxels."""
    preds = run.predictions
    best, worst = extreme_voxels(preds, n)
    fig, axes = plt.subplots(2, n, figsize=(3.0 * n, 5.6), squeeze=False)
    for row, (label, voxels) in enumerate((("best", best), ("worst", worst))):
        for ax, voxel in zip(axes[row], voxels):
            x, y = preds.predictions[:, voxel], preds.targets[:, voxel]
            both = np.isfinite(x) & np.isfinite(y)  # a movie run's rows a subject lacks are NaN
            x, y = x[both], y[both]
            ax.scatter(x, y, s=12, alpha=0.75, color="tab:blue" if row == 0 else "tab:red")
            if len(x) > 1 and np.ptp(x) > 0:
                slope, intercept = np.polyfit(x, y, 1)
                xs = np.linspace(x.min(), x.max(), 2)
                ax.plot(xs, slope * xs + intercept, color="black", linewidth=0.8)
            ax.set_title(f"{label}: {preds.voxel_name(voxel)}\nr = {preds.r[voxel]:.3f}", fontsize=8)
            ax.set_xlabel("predicted", fontsize=8)
            ax.tick_params(labelsize=7)
        axes[row, 0].set_ylabel("measured", fontsize=8)
        for ax in axes[row, len(voxels):]:
            ax.axis("off")
    fig.suptitle(f"{run.name}: {preds.targets.shape[0]} validation videos", fontsize=10)
    fig.tight_layout()
    return fig
