"""Report finished training runs: figures and one self-contained HTML page.

    python report.py runs/demo/version_0 --out reports_out/demo
    python report.py runs/demo/version_0 runs/demo/version_1 --out reports_out/compare

Reads each run's ``summary.json`` and ``val_predictions.npz`` (the best validation's predictions)
and writes into ``--out``: ``scores.png`` (score per region and subject, runs side by side),
``voxel_r.png`` (distribution of per-voxel r), ``voxels_<run>.png`` (predicted vs measured for the
best and worst voxels), for whole-brain runs ``brain_<run>_<subject>.png`` (per-voxel r on slices)
and ``r_<run>_<subject>.nii.gz`` (with nibabel), and ``report.html`` embedding them all.
For a movie run (``mode: movies``): ``parcel_r_<run>_<subject>.nii.gz``, the validation r of
each parcel written into the voxels the release's atlas gives it (the atlas's space and affine),
and ``parcels_<run>_<subject>.png`` (slices); ``--data.root`` if the release has moved.
``--test-scores OUT`` adds the scores on the test videos that ``predict.py --score`` wrote
(``OUT/test_scores.json``) and prints each in one line.

    python report.py runs/bmd/version_0 --out reports_out/bmd --test-scores out/
"""

from __future__ import annotations

import argparse
import sys

from reports.build import build_report
from reports.test_scores import TestScoresReadError, read_test_scores, summary_line
from run_folder.contract import RunReadError


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run folders (runs/<name>/version_N)")
    p.add_argument("--out", required=True, help="folder for the figures and report.html")
    p.add_argument("--voxels", type=int, default=3, help="how many best and worst voxels to plot per run")
    p.add_argument("--no-nifti", action="store_true", help="skip the NIfTI volumes of whole-brain runs")
    p.add_argument("--test-scores", dest="test_scores", nargs="+", default=[], metavar="PATH",
                   help="test_scores.json files (or the predict.py --output_dir folders holding them) to show")
    p.add_argument("--data.root", dest="data_root", default=None,
                   help="a movie run's release folder, for its atlas (default: the run's data.root)")
    args = p.parse_args(argv)
    try:
        for given in args.test_scores:
            print(summary_line(*read_test_scores(given)))
        path = build_report(args.run_dirs, args.out, n_extreme=args.voxels, nifti=not args.no_nifti,
                            test_scores=args.test_scores, data_root=args.data_root)
    except (RunReadError, TestScoresReadError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"report: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
