"""Score summaries as types: what the model publishes, callbacks and reports read, and the
simulator's truth scoring builds with the same aggregation.

Scoring, as the challenge defined it:
    r_v      Pearson r of voxel v across videos
    score_v  r_v / sqrt(nc_v), for voxels with noise ceiling nc_v > 0
    group    mean over a subject's voxels in a region
    subject, region, overall  means over their (subject, region) groups, each counted once
Voxels with nc_v <= 0 cannot be normalised: they are left out of the normalised score (still
counted in raw r) and their number is reported.

Non-finite predictions are never scored as r = 0: a voxel with r = NaN makes its group, and
every mean that includes the group, NaN. (Were it 0, a diverged model would outrank every real
model whose score is negative, and a sweep would keep it.)

Flat ``"score/sub01/V1"`` keys exist only where Lightning logs (:meth:`ScoreSummary.logged`);
nothing parses them back.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import torch

from scoring.layout import TargetLayout


@dataclass(frozen=True)
class GroupMeans:
    """One measure averaged per (subject, region) group, and over groups per subject, per region
    and overall. ``groups`` is keyed by ``(subject, roi)``; a group without a kept voxel is absent."""

    overall: float
    subjects: dict[str, float] = field(default_factory=dict)
    rois: dict[str, float] = field(default_factory=dict)
    groups: dict[tuple[str, str], float] = field(default_factory=dict)

    def by_subject(self) -> dict[str, dict[str, float]]:
        """``{subject: {roi: value}}``, in the layout's order."""
        out: dict[str, dict[str, float]] = {}
        for (subject, roi), value in self.groups.items():
            out.setdefault(subject, {})[roi] = value
        return out

    def as_json(self) -> dict:
        """Plain containers (``"sub01/V1"`` group names), NaN as None: for summary.json and checkpoints."""
        return {"overall": _json(self.overall), "subjects": _json(self.subjects), "rois": _json(self.rois),
                "groups": {f"{s}/{roi}": _json(v) for (s, roi), v in self.groups.items()}}

    @classmethod
    def from_json(cls, data: dict) -> GroupMeans:
        groups = {tuple(name.split("/", 1)): _float(v) for name, v in (data.get("groups") or {}).items()}
        return cls(overall=_float(data.get("overall")),
                   subjects={k: _float(v) for k, v in (data.get("subjects") or {}).items()},
                   rois={k: _float(v) for k, v in (data.get("rois") or {}).items()}, groups=groups)


def group_means(values, layout: TargetLayout, keep=None) -> GroupMeans:
    """Average per-voxel ``values`` (n_voxels,) per group over the ``keep`` voxels (bool, (n_voxels,);
    default all), then over groups. The one per-group aggregation of the project.

    A NaN among a group's kept voxels makes the group NaN, and every mean including it NaN. A group
    with no kept voxel is left out (absent from ``groups``, not counted in the means).
    """
    values = _numpy(values).astype(np.float64)
    keep = np.ones(len(values), bool) if keep is None else _numpy(keep).astype(bool)
    if values.shape != (layout.n_voxels,) or keep.shape != values.shape:
        raise ValueError(f"expected ({layout.n_voxels},) values and mask for {layout}, got {values.shape}, "
                         f"{keep.shape}")
    groups = {}
    for g in layout.groups:
        kept = values[g.start:g.stop][keep[g.start:g.stop]]
        if kept.size:
            groups[(g.subject, g.roi)] = float(kept.mean())  # NaN if any kept voxel is NaN
    return means_over_groups(groups)


def means_over_groups(groups: dict[tuple[str, str], float]) -> GroupMeans:
    """Per-subject, per-region and overall means of per-group values, each group counted once
    (NaN propagates); subjects and regions in the order the groups come."""
    subjects = {s: _mean(v for (gs, _), v in groups.items() if gs == s) for s, _ in groups}
    rois = {roi: _mean(v for (_, gr), v in groups.items() if gr == roi) for _, roi in groups}
    return GroupMeans(_mean(groups.values()), subjects, rois, dict(groups))


@dataclass(frozen=True)
class ScoreSummary:
    """Raw r and (with a noise ceiling) the normalised score, each as :class:`GroupMeans`.

    ``score`` is None without a ceiling; ``n_unreliable_voxels`` counts voxels whose ceiling is
    not positive (None without a ceiling).
    """

    r: GroupMeans
    score: GroupMeans | None = None
    n_unreliable_voxels: int | None = None

    @property
    def main(self) -> float:
        """What ``val/score`` reports: the normalised score overall, or the raw r without a ceiling."""
        return (self.score or self.r).overall

    def logged(self, per_group: bool = True) -> dict[str, float]:
        """The flat keys Lightning logs: ``r``, ``r/<subject>``, ``r/<roi>``, ``r/<subject>/<roi>``,
        the same under ``score``, and ``n_unreliable_voxels``; without ``per_group``, no
        ``<subject>/<roi>`` keys."""
        out: dict[str, float] = {}
        for kind, means in (("r", self.r), ("score", self.score)):
            if means is None:
                continue
            out[kind] = means.overall
            if per_group:
                out.update({f"{kind}/{s}/{roi}": v for (s, roi), v in means.groups.items()})
            out.update({f"{kind}/{s}": v for s, v in means.subjects.items()})
            out.update({f"{kind}/{roi}": v for roi, v in means.rois.items()})
        if self.n_unreliable_voxels is not None:
            out["n_unreliable_voxels"] = float(self.n_unreliable_voxels)
        return out

    def as_json(self) -> dict:
        """Plain containers: summary.json's per-run records, and checkpoints (``weights_only`` loads them)."""
        return {"score": self.score.as_json() if self.score else None, "r": self.r.as_json(),
                "n_unreliable_voxels": self.n_unreliable_voxels}

    @classmethod
    def from_json(cls, data: dict | None) -> ScoreSummary | None:
        """From :meth:`as_json`, or from the flat dicts checkpoints held before this type (``"r"``,
        ``"score/sub01/V1"``, ...); None stays None."""
        if data is None:
            return None
        if isinstance(data.get("r"), dict):
            return cls(GroupMeans.from_json(data["r"]),
                       GroupMeans.from_json(data["score"]) if data.get("score") else None,
                       data.get("n_unreliable_voxels"))
        return _from_flat(data)


def score_summary(r: torch.Tensor, ceiling: torch.Tensor | None, layout: TargetLayout) -> ScoreSummary:
    """Raw and noise-normalised scores of per-voxel ``r`` (n_voxels,) with per-voxel noise ``ceiling``
    (n_voxels,) or None (no normalised score)."""
    r = r.float().cpu()
    if ceiling is None:
        return ScoreSummary(group_means(r, layout))
    ceiling = ceiling.float().cpu()
    reliable = ceiling > 0
    score = torch.where(reliable, r / ceiling.clamp(min=1e-12).sqrt(), torch.full_like(r, float("nan")))
    # A broken voxel (r NaN) keeps its NaN in the score too, even where the ceiling leaves it out.
    keep_score = reliable | torch.isnan(r)
    return ScoreSummary(group_means(r, layout), group_means(score, layout, keep_score),
                        int((ceiling <= 0).sum()))


def _from_flat(flat: dict) -> ScoreSummary:
    """A pre-typed flat summary (keys ``r``, ``r/<subject>``, ``r/<roi>``, ``r/<subject>/<roi>``)."""
    def kind(name: str) -> GroupMeans | None:
        if name not in flat:
            return None
        subjects, rois, groups = {}, {}, {}
        for key, value in flat.items():
            parts = key.split("/")
            if parts[0] != name or len(parts) == 1:
                continue
            if len(parts) == 3:
                groups[(parts[1], parts[2])] = _float(value)
            elif any(parts[1] == s for s, _ in groups) or parts[1].startswith("sub"):
                subjects[parts[1]] = _float(value)
            else:
                rois[parts[1]] = _float(value)
        return GroupMeans(_float(flat[name]), subjects, rois, groups)

    unreliable = flat.get("n_unreliable_voxels")
    return ScoreSummary(kind("r"), kind("score"), None if unreliable is None else int(unreliable))


def _mean(values: Iterable[float]) -> float:
    values = list(values)
    return float(np.mean(values)) if values else float("nan")


def _numpy(values) -> np.ndarray:
    return values.detach().cpu().numpy() if isinstance(values, torch.Tensor) else np.asarray(values)


def _float(value) -> float:
    return float("nan") if value is None else float(value)


def _json(value):
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    return None if value is None or not math.isfinite(value) else float(value)


@dataclass(frozen=True)
class ValidationResult:
    """One validation pass, as the model publishes it (``EncodingModel.last_validation``) for the
    callbacks that dump, plot and summarise it.

    r : tensor (n_voxels,), per-voxel Pearson r over the validation videos
    ceiling : tensor (n_voxels,) of noise ceilings, or None
    layout : the voxels' (subject, region) layout
    summary : :func:`score_summary` of ``r``
    """

    r: torch.Tensor
    ceiling: torch.Tensor | None
    layout: TargetLayout
    summary: ScoreSummary
