"""The movie simulator's calibration, checked with the best features there are: its own.

On a simulator release (generated here unless ``--root`` is given), per subject: ridge from the
truth's TR-averaged frame features (the simulated brain's input, before the HRF) to every
parcel, fitted on all runs with fMRI and scored on the held-out season 7 against its measured
series (``synthetic_truth/sub-0X/test``), as the challenge scores (Pearson r per parcel over the
concatenated episodes, mean over parcels, then subjects). Two feature sets:

- FIR: the features at lags 0-6 TRs (:func:`ridge.delays.fir_delays`);
- fixed lag: the 2025 baseline's window, 5 TRs ending 3 TRs back
  (:func:`ridge.delays.fixed_lag_window`);

beside the truth's ceiling (the noise-free series as the prediction). Each parcel's alpha is
chosen by 5-fold CV over runs (:func:`scoring.run_splits.group_kfold_folds`). FIR minus fixed lag
gets a paired bootstrap over the held-out runs. The FIR weights' lag profile
(:func:`ridge.delays.lag_profile`) is set against the simulator's HRF averaged over each TR.

    python -m benchmarks.movie_simulator_check                     # the demo preset
    python -m benchmarks.movie_simulator_check --root data/movies
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from datamodules.movies import files
from datamodules.movies import samples as movie_samples
from ridge.delays import fir_delays, fixed_lag_window, lag_profile, peak_lag
from scoring.pearson import pearson_r
from scoring.run_splits import group_kfold_folds, run_labels
from simulator.movies import MOVIES_DEMO, generate_movies
from simulator.movies.hrf import double_gamma

ROOT = Path(__file__).resolve().parents[1]
ALPHAS = np.logspace(-1, 6, 15)
DELAYS = tuple(range(7))


def ridge_run_cv(X: np.ndarray, Y: np.ndarray, lengths: list[int], n_folds: int = 5):
    """Ridge with a per-target alpha from run-grouped CV (mean fold r); X standardised on all
    training rows. Returns (coef (n_features, n_targets), intercept, x_mean, x_sd, alphas)."""
    x_mean, x_sd = X.mean(0), X.std(0)
    x_sd = np.where(x_sd > 0, x_sd, 1.0)
    Xs = (X - x_mean) / x_sd
    scores = np.zeros((len(ALPHAS), Y.shape[1]))
    for train, val in group_kfold_folds(run_labels(lengths), min(n_folds, len(lengths))):
        xm, ym = Xs[train].mean(0), Y[train].mean(0)
        U, s, Vt = np.linalg.svd(Xs[train] - xm, full_matrices=False)
        UtY = U.T @ (Y[train] - ym)
        XvV = (Xs[val] - xm) @ Vt.T
        for i, a in enumerate(ALPHAS):
            scores[i] += pearson_r(XvV @ ((s / (s**2 + a))[:, None] * UtY), Y[val])
    best = ALPHAS[scores.argmax(0)]
    xm, ym = Xs.mean(0), Y.mean(0)
    U, s, Vt = np.linalg.svd(Xs - xm, full_matrices=False)
    coef = Vt.T @ ((s[:, None] / (s[:, None] ** 2 + best[None])) * (U.T @ (Y - ym)))
    return coef, ym - xm @ coef, x_mean, x_sd, best


def predict(fit, X):
    coef, intercept, x_mean, x_sd, _ = fit
    return ((X - x_mean) / x_sd) @ coef + intercept


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", help="a simulator movie release (default: generate the demo)")
    parser.add_argument("--n-boot", type=int, default=2000)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results_movie_simulator.md"))
    args = parser.parse_args(argv)
    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.root) if args.root else Path(tmp) / "movies"
        gen_s = None
        if not args.root:
            start = time.perf_counter()
            generate_movies(root, MOVIES_DEMO, progress=False)
            gen_s = time.perf_counter() - start
        lines = report(root, args.n_boot)
    head = ["# The movie simulator: ridge from its own features against its truth (issue 26)", "",
            f"Command: `python -m benchmarks.movie_simulator_check"
            f"{' --root ' + args.root if args.root else ''}`", "",
            f"Machine: nproc {os.cpu_count()}, {platform.system()} {platform.machine()}, Python "
            f"{platform.python_version()}; load average at start {load[0]:.2f}, {load[1]:.2f}, "
            f"{load[2]:.2f}" + (f"; the demo release generated in {gen_s:.0f} s" if gen_s else ""),
            ""]
    Path(args.out).write_text("\n".join(head + lines) + "\n")
    print("\n".join(head + lines))


def report(root: Path, n_boot: int, feats: dict[str, np.ndarray] | None = None) -> list[str]:
    """``feats``: {stimulus: (n_TRs, n_features)}; default the truth's own features."""
    truth = root / "synthetic_truth"
    tr = files.ALGONAUTS_2025_TR
    if feats is None:
        feats = {p.stem: np.load(p).astype(np.float64) for p in (truth / "features").glob("*.npy")}
    rows, per_run, profiles = [], {k: [] for k in ("fir", "fixed", "ceiling")}, []
    for subject in files.list_subjects(root):
        runs = files.list_runs(root, subject)
        lengths = [r.n_trs for r in runs]
        X = np.concatenate([feats[r.stimulus] for r in runs])
        Y = np.concatenate([files.load_run(r) for r in runs]).astype(np.float64)
        test = sorted(movie_samples.read_sample_numbers(root, subjects=[subject])[subject])
        Xt = [feats[e] for e in test]
        Yt = [np.load(truth / subject / "test" / f"{e}.npy").astype(np.float64) for e in test]
        clean = [np.load(truth / "clean" / f"{e}.npy") for e in test]
        t_lengths = [len(x) for x in Xt]
        fir = ridge_run_cv(fir_delays(X, lengths, DELAYS), Y, lengths)
        fixed = ridge_run_cv(fixed_lag_window(X, lengths), Y, lengths)
        pred_fir = predict(fir, fir_delays(np.concatenate(Xt), t_lengths, DELAYS))
        pred_fixed = predict(fixed, fixed_lag_window(np.concatenate(Xt), t_lengths))
        y_all, c_all = np.concatenate(Yt), np.concatenate(clean)
        r = {"fir": pearson_r(pred_fir, y_all), "fixed": pearson_r(pred_fixed, y_all),
             "ceiling": pearson_r(c_all, y_all)}
        rows.append((subject, len(runs), sum(lengths), {k: float(v.mean()) for k, v in r.items()},
                     float(pearson_r(pred_fir, c_all).mean())))
        bounds = np.cumsum([0, *t_lengths])
        for k, pred in (("fir", pred_fir), ("fixed", pred_fixed), ("ceiling", c_all)):
            per_run[k] += [(pred[a:b], y_all[a:b]) for a, b in zip(bounds[:-1], bounds[1:],
                                                                   strict=True)]
        profiles.append(lag_profile(fir[0], DELAYS))
    lines = ["Held-out: season 7 (its measured series from the truth); training: every run with "
             "fMRI. r: Pearson r per parcel over the concatenated held-out episodes, mean over "
             "parcels. Ceiling: the noise-free series as the prediction (what no model can beat). "
             "r with the truth: FIR's prediction against the noise-free series.", "",
             "| subject | training runs | training TRs | FIR ridge r | fixed-lag ridge r | "
             "ceiling r | FIR / ceiling | FIR r with the truth |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for subject, n_runs, n_trs, r, r_truth in rows:
        lines.append(f"| {subject} | {n_runs} | {n_trs} | {r['fir']:.3f} | {r['fixed']:.3f} | "
                     f"{r['ceiling']:.3f} | {r['fir'] / r['ceiling']:.2f} | {r_truth:.3f} |")
    mean = {k: np.mean([row[3][k] for row in rows]) for k in ("fir", "fixed", "ceiling")}
    lines.append(f"| mean | | | {mean['fir']:.3f} | {mean['fixed']:.3f} | {mean['ceiling']:.3f} "
                 f"| {mean['fir'] / mean['ceiling']:.2f} | |")
    # paired bootstrap over held-out runs (subject x episode): resample runs, rescore
    rng = np.random.default_rng(0)
    n = len(per_run["fir"])
    diffs = []
    for _ in range(n_boot):
        pick = rng.integers(0, n, n)
        d = [np.mean(pearson_r(np.concatenate([per_run[k][i][0] for i in pick]),
                               np.concatenate([per_run[k][i][1] for i in pick])))
             for k in ("fir", "fixed")]
        diffs.append(d[0] - d[1])
    lo, hi = np.percentile(diffs, [2.5, 97.5])
    lines += ["", f"FIR minus fixed lag, paired bootstrap over the {n} held-out runs (subjects "
              f"pooled, {n_boot} resamples, r recomputed on each resample's concatenated TRs): "
              f"{mean['fir'] - mean['fixed']:+.3f}, 95% interval [{lo:+.3f}, {hi:+.3f}].", ""]
    profile = np.concatenate(profiles, 1)
    median_profile = np.median(profile, 1)
    hrf_tr = np.array([double_gamma(np.linspace(d * tr - tr, d * tr + tr, 200)).mean()
                       for d in DELAYS])
    hrf_tr /= hrf_tr.max()
    peaks = peak_lag(profile, DELAYS)
    hrf_peak = DELAYS[int(hrf_tr.argmax())]
    lines += ["Lag profile: the FIR weights' rank-one shape per parcel "
              "(`ridge.delays.lag_profile`), median over parcels and subjects, against the "
              "simulator's HRF as a TR-averaged stimulus sees it (the response at lag d to a "
              "stimulus averaged over one TR, peak scaled to 1).", "",
              "| lag (TRs) | " + " | ".join(str(d) for d in DELAYS) + " |",
              "|---|" + "---:|" * len(DELAYS),
              "| recovered (median) | " + " | ".join(f"{v:.2f}" for v in median_profile) + " |",
              "| HRF | " + " | ".join(f"{v:.2f}" for v in hrf_tr) + " |", "",
              f"Peak lag per parcel: {np.mean(np.abs(peaks - hrf_peak) <= 1):.0%} of parcels "
              f"within one TR of the HRF's ({hrf_peak} TRs = {hrf_peak * tr:.2f} s; the HRF "
              "peaks at 5.0 s); correlation "
              f"of the median profile with the HRF's: "
              f"{np.corrcoef(median_profile, hrf_tr)[0, 1]:.3f}."]
    return lines


if __name__ == "__main__":
    main()
