"""The names of a run folder's files, and the error its readers raise."""

from __future__ import annotations

SUMMARY_FILE = "summary.json"
PREDICTIONS_FILE = "val_predictions.npz"
BAND_WEIGHTS_FILE = "band_weights.npz"
CONFIG_FILE = "config.yaml"
CHECKPOINTS_DIR = "checkpoints"
LAST_CHECKPOINT_FILE = "last.ckpt"
#: Lightning names a second ``last`` checkpoint in one folder ``last-v1.ckpt``: resuming looks at all.
LAST_CHECKPOINT_GLOB = "last*.ckpt"
#: ``ModelCheckpoint(filename=...)`` of the best checkpoint (Lightning adds ``.ckpt``): ``best-epoch007.ckpt``.
BEST_CHECKPOINT_FILENAME = "best-epoch{epoch:03d}"
BEST_CHECKPOINT_GLOB = "best-*.ckpt"

class RunReadError(ValueError):
    """A run folder's file is missing or malformed; the message names the file and what is wrong."""
