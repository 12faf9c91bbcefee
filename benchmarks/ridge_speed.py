"""Speed of the cross-validated ridge head against himalaya, scikit-learn and
the 2021 seed route (PCA-100 + ElasticNet with a 50-round hyper-parameter search).

Every method is timed in the same process, one after the other, on the same
random data with a planted linear signal: ``n_videos`` training videos,
``n_features`` features with a decaying spectrum, ``n_targets`` voxels whose
signal-to-noise ratio runs from 0 to 1, and 102 test videos on which the
predictions are compared. K-fold methods get the same contiguous folds.

    python -m benchmarks.ridge_speed                       # 30k and 161k targets, CPU
    python -m benchmarks.ridge_speed --n-targets 5000 --repeats 3
    python -m benchmarks.ridge_speed --device cuda --methods ours himalaya_kernel

The seed route is timed for ``--seed-rounds`` of its 50 rounds on one
subject-region of ``--roi-voxels`` voxels and extrapolated (linearly in rounds
and voxels) to all ``n_targets`` voxels: its rows say "extrapolated".
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from benchmarks import seed_route
from ridge.ops import kfold_splits
from ridge.solver import RidgeCV

N_TEST = 102
SEED_ROUNDS_TOTAL = 50


def make_data(n_videos, n_features, n_targets, seed=0, chunk=20000):
    """X (n_videos + 102, n_features) and Y (n_videos, n_targets), float32."""
    rng = np.random.default_rng(seed)
    n = n_videos + N_TEST
    X = rng.standard_normal((n, n_features), dtype=np.float32)
    X *= (1.0 + np.arange(n_features, dtype=np.float32)) ** -0.5 * 4
    latent = X[:n_videos] @ rng.standard_normal((n_features, 32), dtype=np.float32)
    latent /= latent.std(0)
    Y = np.empty((n_videos, n_targets), dtype=np.float32)
    for s in range(0, n_targets, chunk):
        b = min(chunk, n_targets - s)
        signal = latent @ rng.standard_normal((32, b), dtype=np.float32) / np.sqrt(32)
        snr = rng.uniform(0, 1, b).astype(np.float32)
        Y[:, s : s + b] = signal * snr + rng.standard_normal((n_videos, b), dtype=np.float32)
    return X[:n_videos], Y, X[n_videos:]


def _sync(device):
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def run_ours(X, Y, Xt, alphas, splits, device):
    model = RidgeCV(alphas, n_folds=len(splits), device=device).fit(X, Y)
    _sync(device)
    return model.predict(Xt).cpu().numpy(), model.best_alphas_.cpu().numpy()


def _himalaya(kind, X, Y, Xt, alphas, splits, device):
    from himalaya.backend import set_backend
    from himalaya.kernel_ridge import KernelRidgeCV
    from himalaya.ridge import RidgeCV as HRidgeCV
    from himalaya.scoring import correlation_score

    set_backend("torch_cuda" if str(device).startswith("cuda") else "torch")
    sp = dict(score_func=correlation_score, n_targets_batch=20000, n_targets_batch_refit=5000)
    kw = dict(alphas=alphas, cv=[(a.numpy(), b.numpy()) for a, b in splits],
              fit_intercept=True, solver_params=sp)
    model = HRidgeCV(**kw) if kind == "ridge" else KernelRidgeCV(kernel="linear", **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, Y)
    _sync(device)
    pred = model.predict(Xt)
    return torch.as_tensor(pred).cpu().numpy(), torch.as_tensor(model.best_alphas_).cpu().numpy()


def run_himalaya_ridge(*args):
    return _himalaya("ridge", *args)


def run_himalaya_kernel(*args):
    return _himalaya("kernel", *args)


def run_sklearn_loo(X, Y, Xt, alphas, splits, device):
    from sklearn.linear_model import RidgeCV as SkRidgeCV

    model = SkRidgeCV(alphas=alphas, alpha_per_target=True).fit(X, Y)  # efficient LOO (GCV)
    return model.predict(Xt).astype(np.float32), np.asarray(model.alpha_)


def time_seed_route(X, Y, n_folds, rounds, roi_voxels, seed=0):
    """Seconds per round (n_folds ElasticNet fits + Pearson r) on one region, and of the PCA.

    PCA to 100 components (fitted on the training videos), then per round one
    random (alpha, l1_ratio) draw, standing in for a Bayesian search step.
    """
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    Z = seed_route.pca_components(X, X[:0], 100)[0]
    t_pca = time.perf_counter() - t0
    Yr = Y[:, :roi_voxels]
    splits = seed_route.kfold_splits(len(X), n_folds, seed)
    a_max = seed_route.alpha_max(Z, Yr)
    t0 = time.perf_counter()
    for _ in range(rounds):
        seed_route.cv_round(Z, Yr, splits, *seed_route.draw_params(rng, a_max))
    return (time.perf_counter() - t0) / rounds, t_pca


def exact_error(X, Y, Xt, pred, alphas, n_check=64, seed=0):
    """Max |pred - exact| / max |exact| on n_check targets, exact = float64
    scikit-learn Ridge refit with the method's own chosen alphas."""
    from sklearn.linear_model import Ridge

    idx = np.random.default_rng(seed).choice(Y.shape[1], min(n_check, Y.shape[1]), False)
    ref = Ridge(alpha=np.asarray(alphas, np.float64)[idx]).fit(
        X.astype(np.float64), Y[:, idx].astype(np.float64)).predict(Xt.astype(np.float64))
    return np.abs(pred[:, idx] - ref).max() / np.abs(ref).max()


def compare(pred, ref, alphas, ref_alphas):
    """Per-target Pearson r of two prediction sets (n_test, n_targets) + alpha agreement."""
    p, r = pred - pred.mean(0), ref - ref.mean(0)
    den = np.sqrt((p * p).sum(0) * (r * r).sum(0))
    corr = np.where(den > 0, (p * r).sum(0) / np.where(den > 0, den, 1), 1.0)
    same = np.isclose(np.asarray(alphas, np.float64), np.asarray(ref_alphas, np.float64),
                      rtol=1e-4)
    return corr.min(), np.median(corr), same.mean()


METHODS = {
    "ours": run_ours,
    "himalaya_ridge": run_himalaya_ridge,
    "himalaya_kernel": run_himalaya_kernel,
    "sklearn_loo": run_sklearn_loo,
}
LABELS = {
    "ours": "ours: RidgeCV (10-fold, per-target alpha)",
    "himalaya_ridge": "himalaya RidgeCV (torch backend, 10-fold)",
    "himalaya_kernel": "himalaya KernelRidgeCV linear (torch backend, 10-fold)",
    "sklearn_loo": "scikit-learn RidgeCV alpha_per_target (efficient LOO, not K-fold)",
}


def machine(device):
    if str(device).startswith("cuda"):
        return torch.cuda.get_device_name()
    model = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    except (OSError, StopIteration):
        pass
    return f"{model}, nproc={os.cpu_count()}, torch threads={torch.get_num_threads()}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n-targets", type=int, nargs="+", default=[30000, 161326])
    ap.add_argument("--n-videos", type=int, default=1000)
    ap.add_argument("--n-features", type=int, default=2048)
    ap.add_argument("--n-folds", type=int, default=10)
    ap.add_argument("--n-alphas", type=int, default=20)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--methods", nargs="+", default=[*METHODS, "seed"],
                    choices=[*METHODS, "seed"])
    ap.add_argument("--repeats", type=int, default=1, help="best of N per method")
    ap.add_argument("--seed-rounds", type=int, default=50)
    ap.add_argument("--roi-voxels", type=int, default=200)
    args = ap.parse_args(argv)

    alphas = np.logspace(-2, 7, args.n_alphas)
    print(f"# machine: {machine(args.device)}")
    print(f"# n_videos={args.n_videos} n_features={args.n_features} n_folds={args.n_folds} "
          f"n_alphas={args.n_alphas} device={args.device} repeats={args.repeats}\n")
    for n_targets in args.n_targets:
        X, Y, Xt = make_data(args.n_videos, args.n_features, n_targets)
        splits = kfold_splits(args.n_videos, args.n_folds)
        names = [m for m in args.methods if m != "seed"]
        for name in names:  # warm-up (library init, first-call costs), untimed
            METHODS[name](X, Y[:, :8], Xt, alphas, splits, args.device)
        times, outs, runs = {n: np.inf for n in names}, {}, {n: [] for n in names}
        for rep in range(args.repeats):  # interleaved, best of N: robust to shared cores
            for name in names:
                load = os.getloadavg()[0]
                t0 = time.perf_counter()
                outs[name] = METHODS[name](X, Y, Xt, alphas, splits, args.device)
                wall = time.perf_counter() - t0
                times[name] = min(times[name], wall)
                runs[name].append(wall)
                print(f"  rep {rep}: {name}: {wall:.1f} s (1-min load average before: "
                      f"{load:.2f})", flush=True)
        print(f"\n## {n_targets} targets\n")
        print("| method | best fit time (s) | best / best ours | median of per-rep ratios "
              "to ours | min / median r of test predictions with ours | alphas equal to ours "
              "| max rel. error vs float64 |")
        print("|---|---|---|---|---|---|---|")
        t_ours = times.get("ours")
        for name, t in times.items():
            ratio = f"{t / t_ours:.2f}" if t_ours else "-"
            paired = (f"{np.median(np.divide(runs[name], runs['ours'])):.2f}"
                      if t_ours else "-")
            cmp = "-"
            if name != "ours" and "ours" in outs:
                lo, med, same = compare(outs["ours"][0], outs[name][0], outs["ours"][1],
                                        outs[name][1])
                cmp = f"{lo:.6f} / {med:.6f} | {100 * same:.1f}%"
            else:
                cmp = "- | -"
            err = exact_error(X, Y, Xt, outs[name][0], outs[name][1])
            print(f"| {LABELS[name]} | {t:.1f} | {ratio} | {paired} | {cmp} | {err:.1e} |")
        if "seed" in args.methods:
            with threadpool_limits(1):  # tiny fits: extra BLAS threads only spin
                per_round, t_pca = time_seed_route(X, Y, args.n_folds, args.seed_rounds,
                                                   args.roi_voxels)
            roi = per_round * SEED_ROUNDS_TOTAL
            total = roi * n_targets / args.roi_voxels + t_pca
            ratio = f"{total / t_ours:.0f}" if t_ours else "-"
            timed = "all timed" if args.seed_rounds == SEED_ROUNDS_TOTAL else (
                f"extrapolated from {args.seed_rounds} timed rounds")
            print(f"| seed route, ONE region of {args.roi_voxels} voxels: PCA-100 + ElasticNet, "
                  f"{SEED_ROUNDS_TOTAL} random (alpha, l1_ratio) x {args.n_folds} folds, "
                  f"1 thread ({timed}) | {roi:.1f} | - | - | - | - | - |")
            print(f"| seed route, all {n_targets} voxels: EXTRAPOLATED linearly in voxels from "
                  f"the region above | {total:.0f} | {ratio} | - | - | - | - |")
        print(flush=True)
        del X, Y, Xt, outs


if __name__ == "__main__":
    main()
