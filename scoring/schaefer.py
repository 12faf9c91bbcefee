"""Schaefer networks of parcels in the atlas's label order (7-network parcellations).

Schaefer's labels run through the left hemisphere's networks in a fixed order, then the right's.
Given the atlas's label names (``7Networks_LH_Vis_1``, ``17Networks_RH_DefaultA_PFCm_3``), each
parcel's network is read from its name (:func:`networks_from_names`); without them, the parcels per
network are approximated from the 1000-parcel atlas's shares (the simulator's parcels are laid out
the same way). :data:`FROM_NAMES` and :data:`APPROXIMATED` say which, for logs.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

NETWORKS = ("Vis", "SomMot", "DorsAttn", "SalVentAttn", "Limbic", "Cont", "Default")
SHARES = (0.15, 0.19, 0.13, 0.12, 0.06, 0.13, 0.22)
FROM_NAMES = "read from the atlas's label names"
APPROXIMATED = ("approximated from the 1000-parcel atlas's network shares in label order "
                "(no label names)")
_SCHAEFER_NAME = re.compile(r"^\d+Networks_(?:LH|RH)_(?P<network>[A-Za-z]+)")


def _counts(n_per_hemisphere: int) -> np.ndarray:
    shares = np.array(SHARES)
    raw = shares / shares.sum() * (n_per_hemisphere - len(NETWORKS))
    counts = np.floor(raw).astype(int)
    counts[np.argsort(counts - raw)[: n_per_hemisphere - len(NETWORKS) - counts.sum()]] += 1
    return counts + 1


def networks_from_names(names: Sequence[str]) -> list[str]:
    """Each label name's network: ``7Networks_LH_Vis_1`` -> ``Vis``,
    ``17Networks_LH_SalVentAttnA_Ins_1`` -> ``SalVentAttnA``; another name holding one of
    :data:`NETWORKS` between underscores -> that one; else ``other``."""
    out = []
    for name in names:
        match = _SCHAEFER_NAME.match(name)
        out.append(match["network"] if match else
                   next((n for n in NETWORKS if f"_{n}_" in f"_{name}_"), "other"))
    return out


def parcel_networks(n_parcels: int, names: Sequence[str] | None = None) -> list[str]:
    """The network of each of ``n_parcels`` parcels (label order), from ``names`` when given."""
    if names is not None:
        if len(names) != n_parcels:
            raise ValueError(f"{len(names)} label names for {n_parcels} parcels")
        return networks_from_names(names)
    if n_parcels < 2 * len(NETWORKS):
        return ["all"] * n_parcels
    half = n_parcels // 2
    per_hemi = [np.repeat(NETWORKS, _counts(h)).tolist() for h in (half, n_parcels - half)]
    return per_hemi[0] + per_hemi[1]
