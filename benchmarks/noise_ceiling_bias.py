"""Bias of noise-ceiling estimators against the simulator's true ceilings.

``python -m benchmarks.noise_ceiling_bias [--draws 20] [--out benchmarks/results_noise_ceiling.md]``

For each region and noise profile, voxels are simulated exactly as
:func:`simulator.subject.simulate_subject` does it (target ceilings from the
profile, noise added by :func:`simulator.brain.add_noise`), with sub01's voxel
counts and a unit-variance Gaussian signal over 1000 train + 102 test videos. Three
estimates of each voxel's ceiling are compared with the truth the simulator knows
(``var(clean) / (var(clean) + noise_sd**2 / k)`` over all videos, as ``synthetic/truth.py``):

- on the test set's 10 repetitions: ours (small-sample corrected variance components, the
  default of :func:`scoring.noise_ceiling.noise_ceiling`), round one's (mean pairwise r,
  Spearman-Brown to 10), and the leaderboard's (all 126 5-vs-5 splits, ``2r / (1 + r)``,
  averaged);
- on a validation set of the last 100 train videos' 3 repetitions: ours and round one's.

Bias is the mean over voxels of estimate minus truth; its 95% interval is over ``--draws``
independent simulations (percentiles).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from scoring.layout import MINI_TRACK_ROIS
from scoring.noise_ceiling import leaderboard_ceiling, noise_ceiling
from simulator import brain
from simulator.config import SUB01_VOXEL_COUNTS
from simulator.noise_profiles import NOISE_PROFILES, draw_ceilings

N_TRAIN, N_TEST, N_VAL, K_TRAIN, K_TEST = 1000, 102, 100, 3, 10
ESTIMATORS = ("ours, test", "round one (pairwise), test", "leaderboard, test",
              "ours, val", "round one (pairwise), val")


def one_draw(seed: int, profile: str, roi: str) -> dict[str, float]:
    """Mean true ceilings and mean biases of the three estimators for one simulated region."""
    rng = np.random.default_rng([seed, MINI_TRACK_ROIS.index(roi), NOISE_PROFILES.index(profile)])
    n_voxels = SUB01_VOXEL_COUNTS[roi]
    sd = brain.noise_sd_for_ceiling(draw_ceilings(rng, profile, roi, n_voxels, K_TRAIN), K_TRAIN)
    clean = rng.standard_normal((N_TRAIN + N_TEST, n_voxels))
    train = brain.add_noise(rng, clean[:N_TRAIN], sd, K_TRAIN)
    test = brain.add_noise(rng, clean[N_TRAIN:], sd, K_TEST)
    truth_test = brain.true_ceiling(clean, sd, K_TEST)
    truth_val = brain.true_ceiling(clean, sd, K_TRAIN)
    val = train[-N_VAL:]
    estimates = {
        ESTIMATORS[0]: (noise_ceiling(test), truth_test),
        ESTIMATORS[1]: (noise_ceiling(test, method="pairwise"), truth_test),
        ESTIMATORS[2]: (leaderboard_ceiling(test), truth_test),
        ESTIMATORS[3]: (noise_ceiling(val), truth_val),
        ESTIMATORS[4]: (noise_ceiling(val, method="pairwise"), truth_val),
    }
    out = {"truth, test": float(truth_test.mean()), "truth, val": float(truth_val.mean())}
    out.update({name: float((est - truth).mean()) for name, (est, truth) in estimates.items()})
    return out


def run(draws: int) -> dict[tuple[str, str], dict[str, np.ndarray]]:
    """``{(profile, roi): {quantity: (draws,)}}``."""
    results = {}
    jobs = [(p, roi) for p in NOISE_PROFILES for roi in MINI_TRACK_ROIS]
    for profile, roi in tqdm(jobs, desc="regions"):
        rows = [one_draw(seed, profile, roi) for seed in range(draws)]
        results[profile, roi] = {key: np.array([r[key] for r in rows]) for key in rows[0]}
    return results


def table(results, draws: int) -> str:
    def cell(x: np.ndarray) -> str:
        lo, hi = np.percentile(x, [2.5, 97.5])
        return f"{x.mean():+.4f} [{lo:+.4f}, {hi:+.4f}]"

    head = ("| profile | region | true ceiling, test / val | "
            + " | ".join(f"bias: {e}" for e in ESTIMATORS) + " |")
    lines = [head, "|" + "---|" * (3 + len(ESTIMATORS))]
    for (profile, roi), r in results.items():
        lines.append(f"| {profile} | {roi} | {r['truth, test'].mean():.3f} / "
                     f"{r['truth, val'].mean():.3f} | "
                     + " | ".join(cell(r[e]) for e in ESTIMATORS) + " |")
    return (f"Mean over voxels of estimate minus true ceiling; mean and 95% interval over {draws} "
            f"simulations (sub01's voxel counts; test: {N_TEST} videos x {K_TEST} repetitions; "
            f"val: the last {N_VAL} of {N_TRAIN} train videos x {K_TRAIN} repetitions).\n\n" + "\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--draws", type=int, default=20, help="independent simulations per cell")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results_noise_ceiling.md"))
    args = parser.parse_args(argv)
    text = table(run(args.draws), args.draws)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
