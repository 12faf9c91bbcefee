"""Where each subject's and region's voxels sit in the flat target vector.

Every batch carries all selected subjects' and regions' responses concatenated
into one vector per video, shape ``(n_voxels_total,)``, in the order
``for subject in subjects: for roi in rois``. One backbone pass then serves
every subject and region, and the voxel heads are one matmul.

The layout is a plain ``{subject: {roi: n_voxels}}`` dict, so it travels through
YAML configs, LightningCLI argument links and checkpoint hyper-parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

#: The nine mini-track regions in the release's conventional order, then whole brain.
MINI_TRACK_ROIS = ("V1", "V2", "V3", "V4", "LOC", "EBA", "FFA", "STS", "PPA")
FULL_TRACK_ROIS = ("WB",)

VoxelCounts = dict[str, dict[str, int]]


@dataclass(frozen=True)
class TargetGroup:
    """One subject's voxels of one region: ``flat[start:stop]``."""

    subject: str
    roi: str
    start: int
    stop: int

    @property
    def n_voxels(self) -> int:
        return self.stop - self.start

    @property
    def name(self) -> str:
        return f"{self.subject}/{self.roi}"


class TargetLayout:
    """Offsets of every (subject, region) block in the flat target vector.

    Parameters
    ----------
    voxel_counts : dict
        ``{subject: {roi: n_voxels}}``; insertion order defines the flat order.
    """

    def __init__(self, voxel_counts: VoxelCounts):
        if not voxel_counts:
            raise ValueError("voxel_counts is empty: select at least one subject and region")
        groups: list[TargetGroup] = []
        start = 0
        for subject, rois in voxel_counts.items():
            for roi, n in rois.items():
                if int(n) < 1:
                    raise ValueError(f"{subject}/{roi} has {n} voxels; need at least 1")
                groups.append(TargetGroup(subject, roi, start, start + int(n)))
                start += int(n)
        self.groups: tuple[TargetGroup, ...] = tuple(groups)
        self.n_voxels = start

    @property
    def voxel_counts(self) -> VoxelCounts:
        counts: VoxelCounts = {}
        for g in self.groups:
            counts.setdefault(g.subject, {})[g.roi] = g.n_voxels
        return counts

    @property
    def subjects(self) -> list[str]:
        return list(dict.fromkeys(g.subject for g in self.groups))

    @property
    def rois(self) -> list[str]:
        return list(dict.fromkeys(g.roi for g in self.groups))

    @property
    def n_groups(self) -> int:
        return len(self.groups)

    def group_index(self) -> torch.Tensor:
        """Group number of every voxel, int64 of shape ``(n_voxels,)``."""
        sizes = torch.tensor([g.n_voxels for g in self.groups])
        return torch.repeat_interleave(torch.arange(len(self.groups)), sizes)

    def split(self, flat):
        """Cut a ``(..., n_voxels)`` array into ``{subject: {roi: (..., n_voxels_g)}}``."""
        if flat.shape[-1] != self.n_voxels:
            raise ValueError(f"expected last dimension {self.n_voxels}, got {tuple(flat.shape)}")
        out: dict = {}
        for g in self.groups:
            out.setdefault(g.subject, {})[g.roi] = flat[..., g.start : g.stop]
        return out

    def __eq__(self, other) -> bool:
        return isinstance(other, TargetLayout) and self.groups == other.groups

    def __repr__(self) -> str:
        return f"TargetLayout({len(self.subjects)} subjects, {len(self.rois)} rois, {self.n_voxels} voxels)"
