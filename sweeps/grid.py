"""The 2021 solution's layout: one separate model, and one study, per subject and region."""

from __future__ import annotations

from dataclasses import dataclass

from scoring.layout import MINI_TRACK_ROIS


@dataclass(frozen=True)
class GridCell:
    """One (subject, region) of the grid: its own study and its own runs."""

    subject: str
    roi: str

    @property
    def name(self) -> str:
        return f"{self.subject}-{self.roi}"

    @property
    def overrides(self) -> list[str]:
        """``train.py`` arguments restricting the data to this subject and region."""
        return ["--data.subjects", f"[{self.subject}]", "--data.rois", f"[{self.roi}]"]


def grid_cells(subjects: list[str], rois: list[str] | None = None) -> list[GridCell]:
    """Every (subject, region) pair, subjects outermost: cell ``i`` is SLURM array task ``i``."""
    if not subjects:
        raise ValueError("a subject/region grid needs --subjects (e.g. --subjects sub01 sub02)")
    return [GridCell(s, r) for s in subjects for r in (rois or list(MINI_TRACK_ROIS))]
