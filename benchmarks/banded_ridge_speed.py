"""Banded ridge against himalaya's MultipleKernelRidgeCV (random search): agreement and fit time.

Both are fitted in the same process, one after the other, on the same random
data with the same candidate band weights, penalties and folds: ``n_videos``
training videos, ``n_bands`` bands of ``n_features`` features each (decaying
spectra, different scales), ``n_targets`` voxels whose signal mixes the bands
with per-voxel Dirichlet weights and whose signal-to-noise ratio runs from 0 to
1, and 102 test videos on which the predictions are compared. himalaya gets
the bands' linear kernels (computed inside its timed fit), its torch backend,
float32 like ours, Pearson r as its CV score, and batches of 20000 targets.

    python -m benchmarks.banded_ridge_speed                       # 1000 videos, 4 bands, 30k targets
    python -m benchmarks.banded_ridge_speed --n-targets 2000 --n-candidates 20 --repeats 3
    python -m benchmarks.banded_ridge_speed --device cuda
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np
import torch

from benchmarks.ridge_speed import machine
from ridge.banded import BandedRidgeCV, band_weight_candidates

N_TEST = 102


def make_data(n_videos, n_bands, n_features, n_targets, seed=0, chunk=10000):
    """Bands {name: (n_videos + 102, n_features)} and Y (n_videos, n_targets), float32."""
    rng = np.random.default_rng(seed)
    n = n_videos + N_TEST
    bands, latents = {}, []
    for b in range(n_bands):
        X = rng.standard_normal((n, n_features), dtype=np.float32)
        X *= (1.0 + np.arange(n_features, dtype=np.float32)) ** -0.5 * (b + 1)
        bands[f"layer{b + 1}"] = X
        latent = X[:n_videos] @ rng.standard_normal((n_features, 16), dtype=np.float32)
        latents.append(latent / latent.std(0))
    Y = np.empty((n_videos, n_targets), dtype=np.float32)
    for s in range(0, n_targets, chunk):
        m = min(chunk, n_targets - s)
        mix = rng.dirichlet([0.3] * n_bands, m).astype(np.float32)  # (m, n_bands)
        signal = sum(
            mix[:, b] * (latents[b] @ rng.standard_normal((16, m), dtype=np.float32)) / 4
            for b in range(n_bands)
        )
        snr = rng.uniform(0, 1, m).astype(np.float32)
        Y[:, s : s + m] = signal * snr + rng.standard_normal((n_videos, m), dtype=np.float32)
    train = {k: X[:n_videos] for k, X in bands.items()}
    test = {k: X[n_videos:] for k, X in bands.items()}
    return train, test, Y


def _sync(device):
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def run_ours(train, test, Y, cands, alphas, splits, device):
    model = BandedRidgeCV(torch.as_tensor(cands), alphas, n_folds=len(splits), device=device).fit(
        train, Y
    )
    _sync(device)
    best = model.best_candidate_.cpu().numpy()
    return model.predict(test).cpu().numpy(), best, model.alphas_.cpu().numpy()


def run_himalaya(train, test, Y, cands, alphas, splits, device):
    from himalaya.backend import set_backend
    from himalaya.kernel_ridge import MultipleKernelRidgeCV
    from himalaya.scoring import correlation_score

    backend = set_backend("torch_cuda" if str(device).startswith("cuda") else "torch")
    Xs = [backend.asarray(X) for X in train.values()]
    Ks = backend.stack([X @ X.T for X in Xs])
    model = MultipleKernelRidgeCV(
        kernels="precomputed",
        solver="random_search",
        fit_intercept=True,
        cv=[(a.numpy(), b.numpy()) for a, b in splits],
        solver_params=dict(
            n_iter=np.asarray(cands),
            alphas=np.asarray(alphas),
            score_func=correlation_score,
            n_targets_batch=20000,
            n_targets_batch_refit=5000,
            progress_bar=False,
        ),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(Ks, Y)
    _sync(device)
    Kt = backend.stack([backend.asarray(Xt) @ X.T for X, Xt in zip(Xs, test.values(), strict=True)])
    pred = torch.as_tensor(model.predict(Kt)).cpu().numpy()
    w = torch.exp(torch.as_tensor(model.deltas_)).cpu().numpy()
    w /= w.sum(0)
    best = np.abs(w.T[:, None, :] - np.asarray(cands)[None]).sum(2).argmin(1)  # which candidate row
    return pred, best, torch.as_tensor(model.best_alphas_).cpu().numpy()


def float64_reference(train, test, Y, cands, best, alphas, idx):
    """Test predictions (n_test, len(idx)) of a float64 scikit-learn Ridge refit of voxels ``idx``
    with the given chosen candidate rows ``best`` and penalties ``alphas`` (one per voxel)."""
    from sklearn.linear_model import Ridge

    Xs = [X.astype(np.float64) for X in train.values()]
    Xts = [X.astype(np.float64) for X in test.values()]
    out = []
    for t in idx:
        w = np.asarray(cands)[best[t]]
        Z = np.hstack([X * np.sqrt(wb) for X, wb in zip(Xs, w, strict=True)])
        Zt = np.hstack([X * np.sqrt(wb) for X, wb in zip(Xts, w, strict=True)])
        out.append(Ridge(alpha=float(alphas[t])).fit(Z, Y[:, t].astype(np.float64)).predict(Zt))
    return np.column_stack(out)


def compare(pred, ref):
    """Per-voxel Pearson r of two prediction sets (n_test, n_targets); 1 where both are constant."""
    pred, ref = np.asarray(pred, np.float64), np.asarray(ref, np.float64)
    p, r = pred - pred.mean(0), ref - ref.mean(0)
    den = np.sqrt((p * p).sum(0) * (r * r).sum(0))
    return np.where(den > 0, (p * r).sum(0) / np.where(den > 0, den, 1), 1.0)


def run_himalaya_one_thread(*args):
    """himalaya with torch on one thread throughout (its eigh included; see banded.one_thread_on_cpu)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return run_himalaya(*args)
    finally:
        torch.set_num_threads(before)


METHODS = {"ours": run_ours, "himalaya": run_himalaya, "himalaya_1thread": run_himalaya_one_thread}
LABELS = {
    "ours": "ours: BandedRidgeCV (one eigh per candidate and fold, on one thread; refit once per chosen candidate)",
    "himalaya": "himalaya MultipleKernelRidgeCV, solver random_search (torch backend, default threads)",
    "himalaya_1thread": "the same himalaya fit with torch on one thread (its eigh then avoids thread contention)",
}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n-videos", type=int, default=1000)
    ap.add_argument("--n-bands", type=int, default=4)
    ap.add_argument("--n-features", type=int, default=512, help="per band")
    ap.add_argument("--n-targets", type=int, default=30000)
    ap.add_argument(
        "--n-candidates",
        type=int,
        default=6,
        help="candidate band weights: the corners, the uniform, then Dirichlet draws",
    )
    ap.add_argument("--n-alphas", type=int, default=8)
    ap.add_argument("--n-folds", type=int, default=5)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=1, help="interleaved; best of N per method")
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    args = ap.parse_args(argv)
    if "ours" not in args.methods or len(args.methods) < 2:
        ap.error("--methods needs ours and at least one himalaya variant")
    methods = {n: METHODS[n] for n in args.methods}

    alphas = np.logspace(-1, 6, args.n_alphas)
    cands = band_weight_candidates(args.n_bands, args.n_candidates, seed=0).numpy()
    print(f"# machine: {machine(args.device)}")
    print(
        f"# n_videos={args.n_videos} n_bands={args.n_bands} n_features={args.n_features}/band "
        f"n_targets={args.n_targets} n_candidates={len(cands)} n_alphas={args.n_alphas} "
        f"n_folds={args.n_folds} device={args.device} repeats={args.repeats}\n",
        flush=True,
    )
    train, test, Y = make_data(args.n_videos, args.n_bands, args.n_features, args.n_targets)
    from ridge.ops import kfold_splits

    splits = kfold_splits(args.n_videos, args.n_folds)
    for run in methods.values():  # warm-up (library init, first-call costs), untimed
        run(train, test, Y[:, :8], cands, alphas, splits, args.device)
    times, runs, outs = {n: np.inf for n in methods}, {n: [] for n in methods}, {}
    for rep in range(args.repeats):
        for name, run in methods.items():
            load = os.getloadavg()[0]
            t0 = time.perf_counter()
            outs[name] = run(train, test, Y, cands, alphas, splits, args.device)
            wall = time.perf_counter() - t0
            times[name] = min(times[name], wall)
            runs[name].append(wall)
            print(
                f"  rep {rep}: {name}: {wall:.1f} s (1-min load average before: {load:.2f})",
                flush=True,
            )

    ref_name = min(
        (n for n in methods if n != "ours"), key=times.get
    )  # the faster himalaya variant
    r = compare(outs["ours"][0], outs[ref_name][0])
    same_cand = (outs["ours"][1] == outs[ref_name][1]).sum()
    same_alpha = np.isclose(outs["ours"][2], outs[ref_name][2], rtol=1e-4).sum()
    print(
        f"\n## {args.n_targets} targets, {args.n_bands} bands x {args.n_features} features, "
        f"{len(cands)} candidates x {args.n_alphas} penalties x {args.n_folds} folds\n"
    )
    print(
        "| method | best fit + predict time (s) | ours / this (best) | median of per-rep ratios ours / this |"
    )
    print("|---|---|---|---|")
    for name in methods:
        paired = np.median(np.divide(runs["ours"], runs[name]))
        print(
            f"| {LABELS[name]} | {times[name]:.1f} | {times['ours'] / times[name]:.2f} | {paired:.2f} |"
        )
    print(
        f"\nTest predictions, ours vs {ref_name} (the faster himalaya), per-voxel Pearson r: min {r.min():.6f}, "
        f"median {np.median(r):.6f}, 1st percentile {np.percentile(r, 1):.6f}; "
        f"same chosen band weights for {same_cand} and the same penalty for {same_alpha} of {len(r)} voxels."
    )
    # whose error is the disagreement? each method's predictions against a float64 refit with its own choices
    rng = np.random.default_rng(0)
    idx = np.unique(np.concatenate([np.argsort(r)[:16], rng.choice(len(r), min(48, len(r)), replace=False)]))
    worst = np.argsort(r)[:16]
    t = int(np.argsort(r)[0])
    print(
        f"- least-agreeing voxel {t}: penalty {outs['ours'][2][t]:.3g} (ours) / {outs[ref_name][2][t]:.3g}; "
        f"prediction std {outs['ours'][0][:, t].std():.3g} (ours) / {outs[ref_name][0][:, t].std():.3g}"
    )
    for name in ("ours", ref_name):
        pred, best, chosen = outs[name]
        ref = float64_reference(train, test, Y, cands, best, chosen, idx)
        pred = pred.astype(np.float64)
        err = np.abs(pred[:, idx] - ref).max(0) / np.maximum(ref.std(0), 1e-30)
        r64 = compare(pred[:, idx], ref)
        in_worst = np.isin(idx, worst)
        print(
            f"- {name} vs a float64 refit with its own choices ({len(idx)} voxels: the 16 that agree least "
            f"and 48 at random): max error / prediction std {err.max():.1e}; min r {r64.min():.6f} "
            f"(on the 16 least-agreeing voxels: min r {r64[in_worst].min():.6f})"
        )


if __name__ == "__main__":
    main()
