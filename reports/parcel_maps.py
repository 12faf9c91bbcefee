"""Movie runs: per-parcel validation r put back into the brain through the release's atlas.

A movie run (``mode: movies`` in its ``config.yaml``) keeps each subject's per-parcel validation r
in ``val_predictions.npz`` (one ``(subject, "parcels")`` group per subject, parcels in label
order). The Algonauts 2025 atlas ``ROOT/fmri/sub-0X/atlas/*_desc-dseg_parcellation.nii.gz`` labels
voxels ``1..n_parcels`` (0 outside), so parcel ``k``'s r fills the voxels labelled ``k + 1``. The
volume is written as NIfTI with the atlas's affine (MNI millimetres) and drawn on slices.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

import numpy as np

from datamodules.movies.atlas import atlas_file
from datamodules.movies.files import MovieDataError, detect_layout
from reports import html
from reports.brain_maps import slices_figure
from reports.figures import save_png
from reports.runs import RunResult

MODE = "movies"


def is_movie_run(run: RunResult) -> bool:
    return run.config.get("mode") == MODE


def parcel_volume(values: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """float32 volume shaped like ``labels`` (X, Y, Z): ``values[k - 1]`` where the label is ``k``
    (1..len(values)), NaN elsewhere (0, background, or a label beyond the values)."""
    labels = np.asarray(labels)
    rounded = np.rint(labels).astype(np.int64)
    if not np.array_equal(rounded, labels):
        raise ValueError("atlas labels must be whole numbers")
    lookup = np.concatenate([[np.nan], np.asarray(values, np.float32)]).astype(np.float32)
    inside = (rounded >= 1) & (rounded <= len(values))
    volume = np.full(labels.shape, np.nan, np.float32)
    volume[inside] = lookup[rounded[inside]]
    return volume


def save_parcel_nifti(values: np.ndarray, atlas: str | Path,
                      path: str | Path) -> tuple[Path, np.ndarray]:
    """Write ``values`` (n_parcels,) through ``atlas`` as a float32 NIfTI with the atlas's affine;
    returns the path and the volume."""
    import nibabel as nib

    image = nib.load(str(atlas))
    volume = parcel_volume(values, np.asanyarray(image.dataobj))
    header = image.header.copy()
    header.set_data_dtype(np.float32)
    nib.save(nib.Nifti1Image(volume, image.affine, header), str(path))
    return Path(path), volume


def parcel_r_by_subject(run: RunResult) -> dict[str, np.ndarray]:
    """``{subject: (n_parcels,) validation r}`` from the run's ``val_predictions.npz``."""
    preds = run.predictions
    return {subject: preds.r[start:stop] for subject, _, start, stop in preds.groups}


def parcel_map_sections(run: RunResult, out: Path, slug: str, nifti: bool = True,
                        data_root: str | Path | None = None) -> list[tuple[str, str]]:
    """The per-parcel maps of one movie run: ``parcel_r_<run>_<subject>.nii.gz`` and
    ``parcels_<run>_<subject>.png`` per subject in ``out``; an HTML section, or a note saying why
    there is none (no saved validation, a generic folder without an atlas, no atlas found).
    ``data_root``: where the release is now (default: the run's ``data.root``)."""
    title = f"Per-parcel maps: {run.name}"
    if run.predictions is None:
        return [(title, "<p class='note'>No val_predictions.npz in the run (trained before "
                        "movie runs kept their validation per parcel): no maps.</p>")]
    data = run.config.get("data") or {}
    root = Path(data_root if data_root is not None else data.get("root", ""))
    try:
        layout = data.get("layout") or "auto"
        if (detect_layout(root) if layout == "auto" else layout) == "generic":
            return [(title, f"<p class='note'>{escape(str(root))} is a generic movie folder: no "
                            "atlas to draw the targets in.</p>")]
    except MovieDataError as err:
        return [(title, f"<p class='note'>No maps: {escape(str(err))} (pass --data.root where "
                        "the release is now).</p>")]
    parts = []
    for subject, values in parcel_r_by_subject(run).items():
        try:
            atlas = atlas_file(root, subject)
        except MovieDataError as err:
            parts.append(f"<p class='note'>{subject}: no map ({escape(str(err))}).</p>")
            continue
        import nibabel as nib

        labels = np.asanyarray(nib.load(str(atlas)).dataobj)
        volume = parcel_volume(values, labels)
        figure = slices_figure(volume, labels > 0, f"{run.name} {subject}: validation r per parcel",
                               label="validation r of the parcel")
        png = save_png(figure, out / f"parcels_{slug}_{subject}.png")
        parts.append(html.image_tag(png, f"{run.name} {subject}"))
        if nifti:
            path, _ = save_parcel_nifti(values, atlas, out / f"parcel_r_{slug}_{subject}.nii.gz")
            parts.append(f"<p class='note'>Volume: <code>{path.name}</code> (r per parcel in the "
                         f"atlas's space, from <code>{escape(atlas.name)}</code>; NaN outside the "
                         "parcels)</p>")
    return [(title, "\n".join(parts))]
