"""Schaefer networks of parcels in the atlas's label order (7-network parcellations).

Schaefer's labels run through the left hemisphere's networks in a fixed order, then the right's.
Without the atlas's names, the parcels per network are approximated from the 1000-parcel atlas's
shares (the simulator's parcels are laid out the same way); given names (``7Networks_LH_Vis_1``),
they are read from them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

NETWORKS = ("Vis", "SomMot", "DorsAttn", "SalVentAttn", "Limbic", "Cont", "Default")
SHARES = (0.15, 0.19, 0.13, 0.12, 0.06, 0.13, 0.22)


def _counts(n_per_hemisphere: int) -> np.ndarray:
    shares = np.array(SHARES)
    raw = shares / shares.sum() * (n_per_hemisphere - len(NETWORKS))
    counts = np.floor(raw).astype(int)
    counts[np.argsort(counts - raw)[: n_per_hemisphere - len(NETWORKS) - counts.sum()]] += 1
    return counts + 1


def parcel_networks(n_parcels: int, names: Sequence[str] | None = None) -> list[str]:
    """The network of each of ``n_parcels`` parcels (label order), from ``names`` when given."""
    if names is not None:
        return [next((n for n in NETWORKS if f"_{n}_" in f"_{name}_"), "other") for name in names]
    if n_parcels < 2 * len(NETWORKS):
        return ["all"] * n_parcels
    half = n_parcels // 2
    per_hemi = [np.repeat(NETWORKS, _counts(h)).tolist() for h in (half, n_parcels - half)]
    return per_hemi[0] + per_hemi[1]
