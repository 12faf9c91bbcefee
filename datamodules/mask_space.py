"""Where a whole-brain mask's voxels sit in the world: its NIfTI affine and header, kept from the
file that gave the mask (BOLD Moments' pickled ``Nifti1Image``, the folder format's ``masks/*.nii``),
so that brain maps and NIfTI predictions are written in the data's own space (MNI152 millimetres
for BMD), not in voxel coordinates."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class MaskSpace:
    """affine : float64 (4, 4), voxel to world coordinates; header : the NIfTI-1 header's bytes
    (``Nifti1Header.binaryblock``, 348 bytes; empty where unknown: nibabel's default header then)."""

    affine: np.ndarray
    header: bytes = b""

    @classmethod
    def of_image(cls, image) -> MaskSpace:
        """The space of a nibabel ``Nifti1Image``."""
        return cls(np.asarray(image.affine, np.float64), bytes(image.header.binaryblock))

    def image(self, data: np.ndarray):
        """``data`` (X, Y, Z[, T]) as a ``Nifti1Image`` with this affine and header (its data type,
        shape and scaling set for ``data``: float32, no scaling)."""
        import nibabel as nib

        header = nib.Nifti1Header.from_fileobj(io.BytesIO(self.header)) if self.header else None
        data = np.asarray(data, np.float32)
        image = nib.Nifti1Image(data, self.affine, header)
        image.header.set_data_dtype(np.float32)
        image.header.set_slope_inter(1.0, 0.0)
        return image

