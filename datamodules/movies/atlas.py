"""The parcellation of a movie release: the subject's Schaefer atlas volume and the names of its
labels, read from the label table beside it (BIDS ``<atlas>.tsv``, Schaefer's ``*_order.txt`` or
``.lut``), for brain maps and per-network scores."""

from __future__ import annotations

from pathlib import Path

from datamodules.movies.files import FMRI_DIR, MovieDataError


def atlas_file(root: str | Path, subject: str) -> Path:
    """The subject's Schaefer parcellation volume (``*_desc-dseg_parcellation.nii.gz``)."""
    folder = Path(root) / FMRI_DIR / subject / "atlas"
    found = sorted(folder.glob("*_desc-dseg_parcellation.nii.gz"))
    if len(found) != 1:
        raise MovieDataError(f"{folder}: expected one *_desc-dseg_parcellation.nii.gz, found "
                             f"{[p.name for p in found]}")
    return found[0]


def atlas_labels_file(atlas: str | Path) -> Path:
    """The BIDS label table beside an atlas: ``<atlas>.nii.gz`` -> ``<atlas>.tsv``."""
    atlas = Path(atlas)
    return atlas.with_name(atlas.name.removesuffix(".gz").removesuffix(".nii") + ".tsv")


def find_atlas_labels(atlas: str | Path) -> Path | None:
    """The label table that sits beside ``atlas``, if any: the BIDS ``<atlas>.tsv``, else one
    Schaefer ``*_order.txt`` / ``*.lut`` / ``*.tsv`` in its folder (the 2025 release ships none: its
    names are those of Schaefer's ``Schaefer2018_1000Parcels_7Networks_order.txt``)."""
    bids = atlas_labels_file(atlas)
    if bids.is_file():
        return bids
    folder = Path(atlas).parent
    found = sorted({*folder.glob("*order.txt"), *folder.glob("*.lut"), *folder.glob("*.tsv")})
    if len(found) > 1:
        raise MovieDataError(f"{folder}: several label tables {[p.name for p in found]}; keep one "
                             f"or name it {bids.name}")
    return found[0] if found else None


def read_atlas_labels(path: str | Path, n_parcels: int) -> list[str]:
    """Names of labels ``1..n_parcels`` from a label table, in label order.

    Reads any table whose rows start with the label's integer index and hold its name as the
    first non-numeric field: BIDS ``index<TAB>name`` (a header row is skipped), Schaefer's
    ``*_order.txt`` (``1 7Networks_LH_Vis_1 R G B 0``) and ``.lut`` (``1 R G B name``).
    Index 0 (background) is ignored. A label of ``1..n_parcels`` without a name is an error.
    """
    path = Path(path)
    names = {}
    for line in path.read_text().splitlines():
        fields = line.replace(",", " ").split()
        if not fields or fields[0].startswith("#") or not fields[0].isdigit():
            continue
        name = next((f for f in fields[1:] if not _is_number(f)), None)
        if name is not None:
            names[int(fields[0])] = name
    missing = [i for i in range(1, n_parcels + 1) if i not in names]
    if missing:
        raise MovieDataError(f"{path}: no name for label(s) {missing[:5]}"
                             f"{' ...' if len(missing) > 5 else ''} of 1..{n_parcels}")
    return [names[i] for i in range(1, n_parcels + 1)]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
