"""Whole-brain runs: per-voxel values put back into the volume through the release's ``voxel_mask``.

The release's whole-brain arrays list voxels in the C order of ``voxel_mask``'s True entries
(``volume[mask] = values``), and the volume's axes are x (left-right), y (posterior-anterior),
z (inferior-superior). NIfTI files are written in the mask file's space where the data has one
(BOLD Moments' mask image, the folder format's ``masks/*.nii``: its affine and header), else with the
identity affine: voxel coordinates, not millimetres (the 2021 release carries no affine).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from datamodules.mask_space import MaskSpace
from reports.figures import plt
from run_folder.contract import ValidationPredictions

VIEWS = (("sagittal (x)", 0), ("coronal (y)", 1), ("axial (z)", 2))


def to_volume(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Scatter ``values`` of shape (n_voxels,) into a float32 volume shaped like ``mask`` (X, Y, Z); NaN elsewhere."""
    mask = np.asarray(mask, bool)
    if mask.ndim != 3 or int(mask.sum()) != len(values):
        raise ValueError(f"voxel_mask {mask.shape} has {int(mask.sum())} voxels but there are {len(values)} values")
    volume = np.full(mask.shape, np.nan, np.float32)
    volume[mask] = values
    return volume


def r_volumes(predictions: ValidationPredictions, kind: str = "r") -> dict[str, np.ndarray]:
    """``{subject: volume (X, Y, Z)}`` of per-voxel ``r`` (or ``score``) for every whole-brain subject."""
    values = getattr(predictions, kind)
    return {subject: to_volume(values[start:stop], predictions.voxel_masks[subject])
            for subject, roi, start, stop in predictions.groups
            if roi == "WB" and subject in predictions.voxel_masks}


def slice_positions(mask: np.ndarray, axis: int, n: int) -> list[int]:
    """Up to ``n`` slice indices along ``axis``, at evenly spaced quantiles of the voxels' positions.

    Quantiles, not even spacing over the extent: slices then pass where the voxels are (the
    visual cortex fills only the back of the volume), instead of through empty planes.
    """
    coords = np.argwhere(np.asarray(mask, bool))[:, axis]
    if coords.size == 0:
        return []
    return sorted(set(np.quantile(coords, np.linspace(0, 1, n + 2)[1:-1]).round().astype(int).tolist()))


def bounding_box(mask: np.ndarray, margin: int = 2) -> tuple[slice, slice, slice]:
    """Index slices of the mask's bounding box, ``margin`` voxels wider on each side (clipped to the volume)."""
    coords = np.argwhere(np.asarray(mask, bool))
    if coords.size == 0:
        return tuple(slice(None) for _ in range(3))
    lo, hi = coords.min(0) - margin, coords.max(0) + margin + 1
    return tuple(slice(max(int(a), 0), min(int(b), size)) for a, b, size in zip(lo, hi, mask.shape))


def slices_figure(volume: np.ndarray, mask: np.ndarray, title: str, n_slices: int = 6, limit: float | None = None,
                  label: str = "per-voxel r"):
    """Rows of slices (sagittal, coronal, axial) through the mask, cropped to its bounding box;
    values coloured, the mask in grey."""
    box = bounding_box(mask)
    offsets = [b.start or 0 for b in box]
    volume, mask = volume[box], np.asarray(mask, bool)[box]
    if limit is None:
        limit = float(np.nanmax(np.abs(volume))) if np.isfinite(volume).any() else 1.0
    fig, axes = plt.subplots(3, n_slices, figsize=(1.7 * n_slices, 5.6), squeeze=False)
    image = None
    for row, (view, axis) in enumerate(VIEWS):
        positions = slice_positions(mask, axis, n_slices)
        for col, ax in enumerate(axes[row]):
            ax.axis("off")
            if col >= len(positions):
                continue
            take = lambda a: np.take(a, positions[col], axis=axis).T  # noqa: E731 - rows up: the second axis
            ax.imshow(take(mask), cmap="Greys", vmin=0, vmax=3, origin="lower", interpolation="nearest")
            image = ax.imshow(take(volume), cmap="RdBu_r", vmin=-limit, vmax=limit, origin="lower",
                              interpolation="nearest")
            ax.set_title(f"{view.split()[0]} {positions[col] + offsets[axis]}", fontsize=7)
    if image is not None:
        fig.colorbar(image, ax=axes, shrink=0.6, label=label)
    fig.suptitle(title, fontsize=10)
    return fig


def save_nifti(volume: np.ndarray, path: str | Path, space: MaskSpace | None = None) -> Path:
    """Write ``volume`` (X, Y, Z) as a NIfTI-1 file in ``space`` (the mask file's affine and header,
    :class:`datamodules.mask_space.MaskSpace`), or with an identity affine (voxel coordinates) when
    the data gave none; needs ``nibabel``."""
    import nibabel as nib

    path = Path(path)
    volume = np.asarray(volume, np.float32)
    image = space.image(volume) if space is not None else nib.Nifti1Image(volume, affine=np.eye(4))
    nib.save(image, str(path))
    return path
