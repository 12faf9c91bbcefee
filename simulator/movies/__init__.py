"""Movie simulator: a synthetic Algonauts 2025 release (long movies, parcel time series with a
haemodynamic lag) with its truth kept aside. ``python -m simulator --preset movies --out DIR``
or::

    from simulator.movies import generate_movies, MOVIES_DEMO
    generate_movies("data/movies", MOVIES_DEMO)
"""

from simulator.movies.config import MOVIES_DEMO, MOVIES_TINY, MovieConfig
from simulator.movies.generate import generate_movies

__all__ = ["MOVIES_DEMO", "MOVIES_TINY", "MovieConfig", "generate_movies"]
