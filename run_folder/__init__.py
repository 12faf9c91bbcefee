"""The run folder: its files' names, formats, writers and readers (:mod:`run_folder.contract`),
the callbacks that write them during training, and the folder's claim."""

from run_folder.contract import *  # noqa: F403  (the contract's public names, listed in its __all__)
from run_folder.contract import __all__  # noqa: F401
