"""Ground-truth simulator: a synthetic dataset in the Algonauts 2021 release's exact layout.

Moving faces, bodies, shapes and places over textured backgrounds; nine regions'
voxels respond to edge energy, shape, category and motion features of the clips
(see :mod:`.brain`), with known noise ceilings. Use::

    from simulator import generate_dataset, DEMO_CONFIG, TINY_CONFIG
    generate_dataset("data/synthetic", DEMO_CONFIG)

or ``python -m simulator --out data/synthetic --preset demo``.
"""

from simulator.config import DEMO_CONFIG, TINY_CONFIG, SyntheticConfig
from simulator.generate import generate_dataset
from simulator.writer import TRUTH_DIR

__all__ = ["DEMO_CONFIG", "TINY_CONFIG", "TRUTH_DIR", "SyntheticConfig", "generate_dataset"]
