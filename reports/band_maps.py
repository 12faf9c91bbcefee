"""Which band explains which voxel: figures and volumes from a run's ``band_weights.npz``.

A run fitted with banded ridge (:mod:`lightning_modules.baseline.banded_baseline`) leaves each voxel's
band weights ``(n_bands, n_voxels)`` (columns on the simplex) in its folder. From them:

- the share of each band per subject and region (mean band weight over the region's voxels);
- each voxel's *preferred layer*: the read-out layer band with the largest weight (the motion band
  is not a layer and is left out of this choice), and its *mean depth*, the layer index averaged
  under the layer bands' weights;
- along the visual hierarchy (V1, V2, V3, V4, then LOC, EBA, FFA, STS, PPA) the mean preferred
  layer of each region, per subject and over subjects, beside the motion band's share;
- for whole-brain runs, the preferred layer as a volume (NIfTI, through the release's ``voxel_mask``)
  and as slices.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from lightning_modules.baseline.feature_bands import MOTION_BAND, band_depths
from reports.brain_maps import VIEWS, bounding_box, slice_positions, to_volume
from reports.figures import plt
from run_folder.contract import BandWeightsRecord, RunFolder, read_band_weights
from scoring.layout import MINI_TRACK_ROIS

#: The order regions are drawn in: early visual cortex up the hierarchy, then category regions.
HIERARCHY = MINI_TRACK_ROIS


class BandWeights(BandWeightsRecord):
    """A run's ``band_weights.npz`` (:class:`run_folder.contract.BandWeightsRecord`: ``band_names``,
    ``weights`` (n_bands, n_voxels), ``groups``, ``voxel_masks``, ``val_r``, ``val_split_r``) with
    what the maps compute from it."""

    @property
    def layer_bands(self) -> list[int]:
        """Rows of ``weights`` that are read-out layers, in hierarchy order."""
        depths = band_depths(self.band_names)
        return sorted((i for i, n in enumerate(self.band_names) if n in depths),
                      key=lambda i: depths[self.band_names[i]])

    @property
    def layer_depths(self) -> np.ndarray:
        """Hierarchy index of each layer band, in :attr:`layer_bands` order, (n_layers,)."""
        depths = band_depths(self.band_names)
        return np.array([depths[self.band_names[i]] for i in self.layer_bands], dtype=np.float64)

    def preferred_layer(self) -> np.ndarray:
        """Hierarchy index of each voxel's highest-weighted layer band, float (n_voxels,)."""
        rows = self.layer_bands
        if not rows:
            raise ValueError(f"no layer<i> band among {self.band_names}: nothing to choose a layer from")
        return self.layer_depths[np.argmax(self.weights[rows], axis=0)]

    def mean_depth(self) -> np.ndarray:
        """Layer index averaged under each voxel's layer-band weights, (n_voxels,); NaN for a voxel
        with all its weight on non-layer bands."""
        w = self.weights[self.layer_bands].astype(np.float64)
        total = w.sum(0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(total > 0, (self.layer_depths @ w) / total, np.nan)

    def group_means(self, values: np.ndarray) -> dict[tuple[str, str], float]:
        """Mean of per-voxel ``values`` (..., n_voxels) over each (subject, roi) group."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return {(s, r): np.nanmean(values[..., a:b], axis=-1) for s, r, a, b in self.groups}


def load_band_weights(path: str | Path) -> BandWeights:
    """Read a ``band_weights.npz`` (or the run folder holding one); :class:`RunReadError` names what is wrong."""
    path = Path(path)
    record = RunFolder(path).read_band_weights() if path.is_dir() else read_band_weights(path)
    return BandWeights(**vars(record))


def _ordered_rois(bw: BandWeights) -> list[str]:
    rois = list(dict.fromkeys(r for _, r, _, _ in bw.groups))
    return [r for r in HIERARCHY if r in rois] + [r for r in rois if r not in HIERARCHY]


def band_colors(band_names: list[str]) -> list:
    """Layer bands from light to dark blue by depth; the motion band orange; any other grey."""
    depths = band_depths(band_names)
    order = sorted(depths.values())
    blues = plt.cm.Blues(np.linspace(0.35, 0.95, max(1, len(order))))
    return [blues[order.index(depths[n])] if n in depths else
            ("tab:orange" if n == MOTION_BAND else "tab:grey") for n in band_names]


def band_share_figure(bw: BandWeights, title: str = ""):
    """One panel per subject (and the mean over subjects): stacked bars per region of the mean band weight."""
    rois = _ordered_rois(bw)
    subjects = list(dict.fromkeys(s for s, _, _, _ in bw.groups))
    means = bw.group_means(bw.weights)  # (subject, roi) -> (n_bands,)
    table = np.full((len(subjects), len(rois), len(bw.band_names)), np.nan)
    for (s, r), m in means.items():
        table[subjects.index(s), rois.index(r)] = m
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        panels = [("mean over subjects", np.nanmean(table, axis=0))]
    panels += [(s, table[i]) for i, s in enumerate(subjects)] if len(subjects) > 1 else []
    colors = band_colors(bw.band_names)
    fig, axes = plt.subplots(1, len(panels), figsize=(max(4.0, 0.5 * len(rois) + 1.5) * len(panels), 3.4),
                             squeeze=False, sharey=True)
    for ax, (name, shares) in zip(axes[0], panels, strict=False):
        bottom = np.zeros(len(rois))
        for b, band in enumerate(bw.band_names):
            height = np.nan_to_num(shares[:, b])
            ax.bar(np.arange(len(rois)), height, 0.8, bottom=bottom, color=colors[b], label=band)
            bottom += height
        ax.set_xticks(np.arange(len(rois)), rois, fontsize=8, rotation=45)
        ax.set_ylim(0, 1)
        ax.set_title(name, fontsize=9)
    axes[0, 0].set_ylabel("mean band weight")
    axes[0, -1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.suptitle(title or "each band's share of the voxels' weights, per subject and region", fontsize=10)
    fig.tight_layout()
    return fig


def depth_table(bw: BandWeights) -> tuple[list[str], list[str], np.ndarray, np.ndarray]:
    """``(subjects, rois, preferred, motion)``: mean preferred layer and mean motion-band weight
    per (subject, roi), arrays (n_subjects, n_rois) in hierarchy order; NaN where absent (motion:
    everywhere, without a motion band)."""
    rois = _ordered_rois(bw)
    subjects = list(dict.fromkeys(s for s, _, _, _ in bw.groups))
    preferred = np.full((len(subjects), len(rois)), np.nan)
    motion = np.full_like(preferred, np.nan)
    pref = bw.group_means(bw.preferred_layer())
    mot = (bw.group_means(bw.weights[bw.band_names.index(MOTION_BAND)]) if MOTION_BAND in bw.band_names
           else {})
    for (s, r), v in pref.items():
        preferred[subjects.index(s), rois.index(r)] = v
        if (s, r) in mot:
            motion[subjects.index(s), rois.index(r)] = mot[(s, r)]
    return subjects, rois, preferred, motion


def depth_along_hierarchy_figure(bw: BandWeights, title: str = ""):
    """Mean preferred layer per region along the hierarchy (dots: subjects; line: their mean), and
    beside it the motion band's mean weight per region when the run fitted one."""
    subjects, rois, preferred, motion = depth_table(bw)
    with_motion = bool(np.isfinite(motion).any())
    fig, axes = plt.subplots(1, 2 if with_motion else 1, figsize=(10 if with_motion else 5.5, 3.4), squeeze=False)
    x = np.arange(len(rois))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for ax, values, label in ((axes[0, 0], preferred, "mean preferred layer"),
                                  *(((axes[0, 1], motion, "mean motion-band weight"),) if with_motion else ())):
            for i, s in enumerate(subjects):
                ax.scatter(x + (i - (len(subjects) - 1) / 2) * 0.08, values[i], s=14, alpha=0.7, label=s)
            ax.plot(x, np.nanmean(values, axis=0), color="black", marker="o", label="mean over subjects")
            ax.set_xticks(x, rois, fontsize=8)
            ax.set_ylabel(label)
    depths = bw.layer_depths
    axes[0, 0].set_yticks(depths, [f"layer{int(d)}" for d in depths], fontsize=8)
    axes[0, 0].set_ylim(depths.min() - 0.3, depths.max() + 0.3)
    if with_motion:
        axes[0, 1].set_ylim(0, 1)
    axes[0, 0].legend(fontsize=7, loc="upper left", frameon=False)
    fig.suptitle(title or "preferred read-out layer along the visual hierarchy", fontsize=10)
    fig.tight_layout()
    return fig


def preferred_layer_volumes(bw: BandWeights) -> dict[str, np.ndarray]:
    """``{subject: volume (X, Y, Z)}`` of each whole-brain voxel's preferred layer index (NaN outside)."""
    layer = bw.preferred_layer().astype(np.float32)
    return {s: to_volume(layer[a:b], bw.voxel_masks[s]) for s, r, a, b in bw.groups
            if r == "WB" and s in bw.voxel_masks}


def layer_slices_figure(volume: np.ndarray, mask: np.ndarray, depths: np.ndarray, title: str, n_slices: int = 6):
    """Sagittal, coronal and axial slices of a preferred-layer volume, one colour per layer."""
    from matplotlib.colors import BoundaryNorm, ListedColormap

    box = bounding_box(mask)
    offsets = [b.start or 0 for b in box]
    volume, mask = volume[box], np.asarray(mask, bool)[box]
    depths = np.asarray(depths, float)
    cmap = ListedColormap(plt.cm.viridis(np.linspace(0, 1, len(depths))))
    edges = np.concatenate([[depths[0] - 0.5], (depths[1:] + depths[:-1]) / 2, [depths[-1] + 0.5]])
    norm = BoundaryNorm(edges, cmap.N)
    fig, axes = plt.subplots(3, n_slices, figsize=(1.7 * n_slices, 5.6), squeeze=False)
    image = None
    for row, (view, axis) in enumerate(VIEWS):
        positions = slice_positions(mask, axis, n_slices)
        for col, ax in enumerate(axes[row]):
            ax.axis("off")
            if col >= len(positions):
                continue
            take = lambda a: np.take(a, positions[col], axis=axis).T  # noqa: E731, B023 - used at once; rows up
            ax.imshow(take(mask), cmap="Greys", vmin=0, vmax=3, origin="lower", interpolation="nearest")
            image = ax.imshow(take(volume), cmap=cmap, norm=norm, origin="lower", interpolation="nearest")
            ax.set_title(f"{view.split()[0]} {positions[col] + offsets[axis]}", fontsize=7)
    if image is not None:
        bar = fig.colorbar(image, ax=axes, shrink=0.6, ticks=depths, label="preferred layer")
        bar.ax.set_yticklabels([f"layer{int(d)}" for d in depths])
    fig.suptitle(title, fontsize=10)
    return fig


def band_sections(run_dir: str | Path, run_name: str, out_dir: str | Path, nifti: bool = True) -> list[tuple[str, str]]:
    """The report's sections for one run with a ``band_weights.npz`` (none without): band shares,
    depth along the hierarchy, and for whole-brain runs the preferred-layer volumes and slices.
    PNGs (and NIfTI files) are written into ``out_dir``."""
    from reports import html
    from reports.brain_maps import save_nifti
    from reports.figures import save_png

    folder = RunFolder(run_dir)
    if not folder.has_band_weights:
        return []
    bw = BandWeights(**vars(folder.read_band_weights()))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tag = "".join(c if c.isalnum() or c in "_.-" else "_" for c in run_name).strip("_")
    parts = [html.image_tag(save_png(band_share_figure(bw, f"{run_name}: band shares"),
                                     out / f"bands_{tag}.png"), f"{run_name} band shares"),
             "<p class='note'>Banded ridge on the frozen features: each voxel's weights over the bands "
             f"({', '.join(bw.band_names)}), chosen by cross-validation with its penalty, averaged over a "
             "region's voxels.</p>"]
    if any(r in HIERARCHY for _, r, _, _ in bw.groups) and bw.layer_bands:
        parts += [html.image_tag(save_png(depth_along_hierarchy_figure(bw, f"{run_name}: preferred layer"),
                                          out / f"depth_{tag}.png"), f"{run_name} depth"),
                  "<p class='note'>Preferred layer: the read-out layer band with the largest weight (the motion "
                  "band left out of the choice), averaged over a region's voxels.</p>"]
    for subject, volume in preferred_layer_volumes(bw).items():
        png = save_png(layer_slices_figure(volume, bw.voxel_masks[subject], bw.layer_depths,
                                           f"{run_name} {subject}: preferred layer"),
                       out / f"layers_{tag}_{subject}.png")
        parts.append(html.image_tag(png, f"{run_name} {subject} preferred layer"))
        if nifti:
            try:
                nii = save_nifti(volume, out / f"preferred_layer_{tag}_{subject}.nii.gz")
                parts.append(f"<p class='note'>Volume: <code>{nii.name}</code> (the layer index per voxel)</p>")
            except ImportError:
                parts.append("<p class='note'>pip install nibabel to also get the volume as NIfTI.</p>")
    return [(f"Which layer explains which voxel: {run_name}", "\n".join(parts))]
