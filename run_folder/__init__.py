"""The run folder: its files' names, formats, writers and readers (:mod:`run_folder.contract`),
the callbacks that write them during training, and the folder's claim."""

from run_folder.contract import (
    BAND_WEIGHTS_FILE,
    BEST_CHECKPOINT_FILENAME,
    BEST_CHECKPOINT_GLOB,
    CHECKPOINTS_DIR,
    CONFIG_FILE,
    LAST_CHECKPOINT_FILE,
    LAST_CHECKPOINT_GLOB,
    PREDICTIONS_FILE,
    SUMMARY_FILE,
    BandWeightsRecord,
    RunFolder,
    RunReadError,
    RunSummaryRecord,
    ValidationPredictions,
    read_band_weights,
    read_predictions,
)

__all__ = ["BAND_WEIGHTS_FILE", "BEST_CHECKPOINT_FILENAME", "BEST_CHECKPOINT_GLOB", "CHECKPOINTS_DIR", "CONFIG_FILE",
           "LAST_CHECKPOINT_FILE", "LAST_CHECKPOINT_GLOB", "PREDICTIONS_FILE", "SUMMARY_FILE", "BandWeightsRecord",
           "RunFolder", "RunReadError", "RunSummaryRecord", "ValidationPredictions", "read_band_weights",
           "read_predictions"]
