"""``python -m simulator --out DIR [--preset demo|tiny|release] [--layout bmd] [overrides]``.

``--preset release`` is the real release's size and noise (1000 + 102 clips, 10 subjects,
sub01-like voxel counts, realistic noise; several GB with the whole brain).
"""

from __future__ import annotations

import argparse
import dataclasses
import time

from simulator.config import (
    DEMO_CONFIG,
    LAYOUTS,
    RELEASE_CONFIG,
    TINY_CONFIG,
    VOXEL_COUNT_SOURCES,
)
from simulator.generate import generate_dataset
from simulator.noise_profiles import NOISE_PROFILES

PRESETS = {"demo": DEMO_CONFIG, "tiny": TINY_CONFIG, "release": RELEASE_CONFIG}
OVERRIDES = {  # flag -> (config field, type)
    "--n-train": ("n_train", int),
    "--n-test": ("n_test", int),
    "--n-subjects": ("n_subjects", int),
    "--size": ("size", int),
    "--voxel-scale": ("voxel_scale", float),
    "--min-voxels": ("min_voxels", int),
    "--n-test-repetitions": ("n_test_repetitions", int),
    "--seed": ("seed", int),
}


def main(argv: list[str] | None = None) -> None:
    from simulator.movies.cli import main as movies_main, wants_movies

    if wants_movies(argv):  # the movie release has its own sizes (see its --help)
        return movies_main(argv)
    parser = argparse.ArgumentParser(
        prog="python -m simulator",
        description="Write a synthetic Algonauts-2021-style dataset with known ground truth.")
    parser.add_argument("--out", required=True, help="new (or empty) folder to create")
    parser.add_argument("--preset", choices=[*sorted(PRESETS), "movies"], default="demo",
                        help="'movies': the Algonauts 2025 movie layout (--preset movies --help)")
    for flag, (name, kind) in OVERRIDES.items():
        parser.add_argument(flag, dest=name, type=kind, help=f"override the preset's {name}")
    parser.add_argument("--wb-volume-shape", dest="wb_volume_shape", type=int, nargs=3,
                        metavar=("X", "Y", "Z"), help="override the whole-brain volume shape")
    parser.add_argument("--noise-profile", dest="noise_profile", choices=NOISE_PROFILES,
                        help="'easy' (round one's reliable brain; demo, tiny) or 'realistic' "
                             "(as noisy as the real release; release)")
    parser.add_argument("--voxel-counts", dest="voxel_counts", choices=VOXEL_COUNT_SOURCES,
                        help="'ranges' (uniform in the release's ranges) or 'sub01' (sub01's "
                             "counts with a spread across subjects)")
    parser.add_argument("--layout", choices=LAYOUTS,
                        help="'algonauts2021' (default: the 2021 challenge's files) or 'bmd' (BOLD "
                             "Moments' files, test responses included, some NaN repetitions)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)

    changes = {name: getattr(args, name) for name, _ in OVERRIDES.values()}
    changes = {name: value for name, value in changes.items() if value is not None}
    for name in ("noise_profile", "voxel_counts", "layout"):
        if getattr(args, name) is not None:
            changes[name] = getattr(args, name)
    if args.wb_volume_shape is not None:
        changes["wb_volume_shape"] = tuple(args.wb_volume_shape)
    try:
        config = dataclasses.replace(PRESETS[args.preset], **changes)
        start = time.perf_counter()
        out = generate_dataset(args.out, config, progress=not args.quiet)
    except (ValueError, FileExistsError) as err:
        parser.exit(2, f"error: {err}\n")
    print(f"wrote {out} ({config.n_train} train + {config.n_test} test clips, "
          f"{config.n_subjects} subjects) in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
