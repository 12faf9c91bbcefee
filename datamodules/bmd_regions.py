"""Region names a user may ask for in a BOLD Moments (BMD) release, and the files each one reads.

BMD's per-region files (``sub-XX_roi-NAME_betas_normalized.pkl``) are per hemisphere (``lEBA``,
``rEBA``), visual areas split into ventral and dorsal parts (``lV1v``, ``lV1d``, ...), plus
``BMDgeneral`` (visually responsive voxels) and ``WB`` without a hemisphere. Three kinds of name:

- **the 2021 challenge's nine regions**: ``V1`` = V1v + V1d of both hemispheres, ``V2``, ``V3``
  likewise, ``V4`` = hV4, and ``LOC``, ``EBA``, ``FFA``, ``STS``, ``PPA`` of both hemispheres;
- **BMD's own names**: a bilateral name (``EBA``, ``V1v``, ``hV4``, ``OFA``, ...) is both
  hemispheres' files; a hemisphere's name (``lEBA``, ``rV1v``) is that one file;
- **whole files**: ``BMDgeneral``, ``WB``.

Column order of a merged region (:func:`column_blocks`): files in :func:`region_files` order,
hemisphere-major (left, then right), within a hemisphere the parts in the order listed
(ventral before dorsal: ``V1`` = lV1v, lV1d, rV1v, rV1d); each file's columns in its own order.
A part the release lacks for a subject is left out (real releases miss some localiser regions);
a region none of whose files exist is an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

HEMISPHERES = ("l", "r")

#: The 2021 challenge's nine regions as BMD's bilateral names, in the challenge's order.
CHALLENGE_REGIONS: dict[str, tuple[str, ...]] = {
    "V1": ("V1v", "V1d"),
    "V2": ("V2v", "V2d"),
    "V3": ("V3v", "V3d"),
    "V4": ("hV4",),
    "LOC": ("LOC",),
    "EBA": ("EBA",),
    "FFA": ("FFA",),
    "STS": ("STS",),
    "PPA": ("PPA",),
}

#: BMD's bilateral region names; each is an ``l``/``r`` pair of files.
BMD_BILATERAL = ("V1v", "V1d", "V2v", "V2d", "V3v", "V3d", "hV4", "V3ab", "LOC", "EBA", "FFA",
                 "OFA", "STS", "PPA", "RSC", "TOS", "MT", "IPS0", "IPS1-2-3", "7AL", "BA2",
                 "PFt", "PFop")

#: Files without a hemisphere.
WHOLE_FILES = ("BMDgeneral", "WB")


def region_files(name: str) -> tuple[str, ...]:
    """The ``roi-NAME`` file names a region is made of, in column order (see the module docstring).

    Raises
    ------
    ValueError
        ``name`` is none of the names above (the message lists them).
    """
    if name in CHALLENGE_REGIONS:
        return tuple(f"{h}{part}" for h in HEMISPHERES for part in CHALLENGE_REGIONS[name])
    if name in BMD_BILATERAL:
        return tuple(f"{h}{name}" for h in HEMISPHERES)
    if name in WHOLE_FILES:
        return (name,)
    if name[:1] in HEMISPHERES and name[1:] in BMD_BILATERAL:
        return (name,)
    raise ValueError(f"unknown BMD region {name!r}: expected one of the 2021 challenge's "
                     f"{', '.join(CHALLENGE_REGIONS)}; BMD's {', '.join(BMD_BILATERAL)} (both "
                     "hemispheres) or one hemisphere's (lEBA, rV1v, ...); or "
                     f"{', '.join(WHOLE_FILES)}")


@dataclass(frozen=True)
class ColumnBlock:
    """Columns ``start:stop`` of a merged region come from file ``roi-<file>``'s columns ``0:n``."""

    file: str
    start: int
    stop: int

    def as_json(self) -> dict:
        return {"file": self.file, "start": self.start, "stop": self.stop}


def column_blocks(name: str, file_voxels: Mapping[str, int]) -> list[ColumnBlock]:
    """Where each file's voxels sit in region ``name``'s merged columns.

    Parameters
    ----------
    name : a region name (:func:`region_files`)
    file_voxels : ``{file: n_voxels}`` of the files the subject has (others are absent)

    Returns
    -------
    blocks : one per present file of the region, in column order, covering ``0:n_total``

    Raises
    ------
    ValueError
        None of the region's files is present (naming them).
    """
    blocks, start = [], 0
    for file in region_files(name):
        if file in file_voxels:
            n = int(file_voxels[file])
            blocks.append(ColumnBlock(file, start, start + n))
            start += n
    if not blocks:
        raise ValueError(f"region {name!r} needs one of the files "
                         f"{', '.join(f'roi-{f}' for f in region_files(name))}; none is there")
    return blocks


def help_text() -> str:
    """One paragraph for ``--help``: how region names map to BMD files."""
    return ("BMD regions: the 2021 challenge's nine (V1 = lV1v+lV1d+rV1v+rV1d, V2 and V3 likewise, "
            "V4 = lhV4+rhV4, LOC/EBA/FFA/STS/PPA = left+right), BMD's bilateral names (EBA = "
            "lEBA+rEBA, V1v = lV1v+rV1v, ...), one hemisphere's file (lEBA), or BMDgeneral; "
            "merged columns are left hemisphere first, ventral before dorsal.")
