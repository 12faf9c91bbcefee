"""Report finished training runs: figures and one self-contained HTML page.

    python report.py runs/demo/version_0 --out reports_out/demo
    python report.py runs/demo/version_0 runs/demo/version_1 --out reports_out/compare

Reads each run's ``summary.json`` and ``val_predictions.npz`` (the best validation's predictions)
and writes into ``--out``: ``scores.png`` (score per region and subject, runs side by side),
``voxel_r.png`` (distribution of per-voxel r), ``voxels_<run>.png`` (predicted vs measured for the
best and worst voxels), for whole-brain runs ``brain_<run>_<subject>.png`` (per-voxel r on slices)
and ``r_<run>_<subject>.nii.gz`` (with nibabel), and ``report.html`` embedding them all.
"""

from __future__ import annotations

import argparse
import sys

from reports.build import build_report
from run_folder.contract import RunReadError


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run folders (runs/<name>/version_N)")
    p.add_argument("--out", required=True, help="folder for the figures and report.html")
    p.add_argument("--voxels", type=int, default=3, help="how many best and worst voxels to plot per run")
    p.add_argument("--no-nifti", action="store_true", help="skip the NIfTI volumes of whole-brain runs")
    args = p.parse_args(argv)
    try:
        path = build_report(args.run_dirs, args.out, n_extreme=args.voxels, nifti=not args.no_nifti)
    except RunReadError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"report: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
