"""Load time and peak memory of reading one BOLD Moments subject's whole brain, at BMD's size.

    python benchmarks/bmd_reader.py --out /tmp/bmd_bench [--voxels 108000] [--train 1000] [--test 102]

Writes one subject's whole-brain pickles as BMD publishes them (float64 betas (1000, 3, V) and
(102, 10, V), a stimulus order, a 62 x 77 x 61 Nifti1Image mask with V voxels), then measures,
each in a fresh process (peak RSS from ``getrusage``):

- ``pickle``: :func:`datamodules.bmd_files.read_whole_brain` of both splits (every run did this);
- ``cache, first``: :func:`datamodules.response_cache.cached_whole_brain`, converting to float32;
- ``cache, later``: the same call once the cache exists (memory-mapped), then a pass over every row
  (the sum of the train betas), as a data module's first use of them would touch them.
"""

from __future__ import annotations

import argparse
import pickle
import resource
import subprocess
import sys
import time
from pathlib import Path

import nibabel as nib
import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHAPE = (62, 77, 61)

_MEASURE = """
import resource, sys, time
sys.path.insert(0, {repo!r})
import numpy as np
from datamodules import bmd_files
from datamodules.response_cache import cached_whole_brain
root, how = sys.argv[1], sys.argv[2]
start = time.perf_counter()
if how == "pickle":
    train = bmd_files.read_whole_brain(root, "sub-01", "train")
    test = bmd_files.read_whole_brain(root, "sub-01", "test", n_train=train.betas.shape[0])
else:
    train = cached_whole_brain(root, "sub-01", "train", progress=False)
    test = cached_whole_brain(root, "sub-01", "test", n_train=train.betas.shape[0], progress=False)
    if how == "later":
        total = float(np.nansum(train.betas, dtype=np.float64))
seconds = time.perf_counter() - start
print(seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def write_subject(root: Path, voxels: int, n_train: int, n_test: int) -> None:
    mask = np.zeros(SHAPE, np.uint8)
    mask.flat[np.sort(np.random.default_rng(0).choice(mask.size, voxels, replace=False))] = 1
    image = nib.Nifti1Image(mask, np.eye(4))
    folder = root / "derivatives/versionB/MNI152/GLM/sub-01/prepared_betas"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    for split, n, reps, first in (("train", n_train, 3, 1), ("test", n_test, 10, n_train + 1)):
        betas = np.empty((n, reps, voxels))
        for i in range(n):
            betas[i] = rng.standard_normal((reps, voxels))
        order = np.array([f"vid{k:04d}" for k in range(first, first + n)])
        with open(folder / f"sub-01_organized_betas_task-{split}_normalized.pkl", "wb") as f:
            pickle.dump((betas, order, image), f, protocol=5)
        del betas


def measure(root: Path, how: str) -> tuple[float, float]:
    out = subprocess.run([sys.executable, "-c", _MEASURE.format(repo=str(REPO)), str(root), how],
                         capture_output=True, text=True, check=True).stdout.split()
    return float(out[0]), float(out[1])


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--voxels", type=int, default=108_000)
    p.add_argument("--train", type=int, default=1000)
    p.add_argument("--test", type=int, default=102)
    args = p.parse_args(argv)
    start = time.perf_counter()
    write_subject(args.out, args.voxels, args.train, args.test)
    size = sum(f.stat().st_size for f in args.out.rglob("*.pkl")) / 2**30
    print(f"wrote one subject ({args.train}+{args.test} videos, {args.voxels} voxels, float64): {size:.2f} GiB "
          f"of pickles in {time.perf_counter() - start:.0f} s; this process peaked at "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB")
    print("| read | seconds | peak RSS (GiB) |\n| --- | ---: | ---: |")
    for how, label in (("pickle", "pickle (both splits, float64)"), ("first", "cache, first (converts to float32)"),
                       ("later", "cache, later (memory-mapped) + a pass over the train rows")):
        seconds, rss_mb = measure(args.out, how)
        print(f"| {label} | {seconds:.1f} | {rss_mb / 1024:.2f} |")
    cache = sum(f.stat().st_size for f in (args.out / ".response_cache").iterdir()) / 2**30
    print(f"cache on disk: {cache:.2f} GiB")


if __name__ == "__main__":
    main()
