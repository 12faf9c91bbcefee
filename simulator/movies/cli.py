"""``python -m simulator --preset movies --out DIR [overrides]``: the movie release (Algonauts 2025
layout, or ``--layout generic``: the generic movie folder). ``--tiny`` starts from the test-sized
config instead of the demo's."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time

from simulator.movies.config import MOVIES_DEMO, MOVIES_TINY
from simulator.movies.generate import generate_movies

OVERRIDES = {  # flag -> (config field, type)
    "--n-subjects": ("n_subjects", int),
    "--n-parcels": ("n_parcels", int),
    "--seasons": ("seasons", int),
    "--episodes-per-season": ("episodes_per_season", int),
    "--test-episodes": ("test_episodes", int),
    "--run-minutes": ("run_minutes", float),
    "--missing-runs": ("missing_runs", int),
    "--fps": ("fps", float),
    "--size": ("size", int),
    "--mean-ceiling": ("mean_ceiling", float),
    "--tr": ("tr", float),
    "--seed": ("seed", int),
    "--layout": ("layout", str),
}


def wants_movies(argv: list[str] | None) -> bool:
    """Whether the command line asks for ``--preset movies``."""
    argv = sys.argv[1:] if argv is None else argv
    pairs = zip(argv, argv[1:], strict=False)
    return "--preset=movies" in argv or any(a == "--preset" and b == "movies" for a, b in pairs)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m simulator --preset movies",
        description="Write a synthetic Algonauts-2025-style movie release (long .mkv movies, "
                    "Schaefer-parcel fMRI time series in .h5) with its truth kept aside.")
    parser.add_argument("--out", required=True, help="new (or empty) folder to create")
    parser.add_argument("--preset", choices=["movies"], default="movies")
    parser.add_argument("--tiny", action="store_true", help="start from the test-sized config")
    for flag, (name, kind) in OVERRIDES.items():
        if flag == "--layout":
            parser.add_argument(flag, dest=name, choices=["algonauts2025", "generic"],
                                help="algonauts2025 (default: the 2025 release's files) or generic "
                                     "(movies/<name>.mkv, fmri/<subject>/<name>.npy, "
                                     "target_sample_number/; train with --data.tr)")
            continue
        parser.add_argument(flag, dest=name, type=kind, help=f"override the preset's {name}")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    changes = {name: getattr(args, name) for name, _ in OVERRIDES.values()
               if getattr(args, name) is not None}
    try:
        config = dataclasses.replace(MOVIES_TINY if args.tiny else MOVIES_DEMO, **changes)
        start = time.perf_counter()
        out = generate_movies(args.out, config, progress=not args.quiet)
    except (ValueError, FileExistsError) as err:
        parser.exit(2, f"error: {err}\n")
    print(f"wrote {out} ({config.layout} layout, {config.n_subjects} subjects, "
          f"{config.n_parcels} parcels, {config.run_minutes:g}-minute movies, TR {config.tr:g} s) "
          f"in {time.perf_counter() - start:.1f} s")
