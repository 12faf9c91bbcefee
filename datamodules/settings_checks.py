"""Data settings the training cannot use, refused with the setting's name before any work.

The correlation loss is a Pearson r across the videos of a batch, and the validation score a
noise-normalised r across the validation videos; both need enough videos to exist:

- a batch of one video has no r: the loss stays exactly 1.0, every gradient is 0, and the run
  would "train" for hours without a warning (``data.batch_size``);
- a noise ceiling over fewer than 3 videos is undefined (``data.n_val``);
- at least 2 training videos must remain after the validation videos are set aside.
"""

from __future__ import annotations

MIN_BATCH = 2
MIN_FRAMES = 1
MIN_IMAGE_SIZE = 8  # the smallest frame the backbones' strided stems leave a feature map of


class DataSettingsError(ValueError):
    """A data setting the run cannot use (train.py prints it as one ``error:`` line)."""


def check_clip_settings(num_frames: int, image_size: int) -> None:
    """Refuse clips of no frames or no pixels before any clip is decoded or cached (a cache of
    zero-sized clips would be built, and the model fail on it much later)."""
    bad = []
    if num_frames < MIN_FRAMES:
        bad.append(f"data.num_frames={num_frames} (at least {MIN_FRAMES} frame)")
    if image_size < MIN_IMAGE_SIZE:
        bad.append(f"data.image_size={image_size} (at least {MIN_IMAGE_SIZE} px)")
    if bad:
        raise DataSettingsError(f"{', '.join(bad)}: each clip is num_frames frames of image_size x image_size "
                                "pixels; choose positive sizes (the demo uses 8 frames of 96 px)")
MIN_VAL_VIDEOS = 3
MIN_TRAIN_VIDEOS = 2


def check_batch_size(batch_size: int) -> None:
    """Refuse ``data.batch_size`` below :data:`MIN_BATCH`."""
    if batch_size < MIN_BATCH:
        raise DataSettingsError(f"data.batch_size={batch_size}: the correlation loss is a Pearson r across the videos "
                         f"of a batch and needs at least {MIN_BATCH} (with 1 the loss stays 1.0 and every gradient "
                         "is 0); to fit memory, lower data.num_frames or data.image_size instead, or keep the "
                         "batch and use trainer.accumulate_grad_batches on smaller ones of at least 2")


def check_split_sizes(n_train_split: int, n_val_split: int, n_videos: int, split: str, n_val: int,
                      n_folds: int) -> None:
    """Refuse splits whose validation set cannot have a noise ceiling or whose training set is too small.

    ``n_videos`` is the number of videos with fMRI; ``split``, ``n_val``, ``n_folds`` the settings
    that produced ``n_train_split`` training and ``n_val_split`` validation videos.
    """
    setting = f"data.n_val={n_val}" if split == "holdout" else f"data.n_folds={n_folds}"
    if n_val_split < MIN_VAL_VIDEOS:
        raise ValueError(f"{setting} gives {n_val_split} validation video(s) of {n_videos}: the noise ceiling "
                         f"and val/score need at least {MIN_VAL_VIDEOS}"
                         + (" (raise data.n_val)" if split == "holdout" else " (lower data.n_folds)"))
    if n_train_split < MIN_TRAIN_VIDEOS:
        raise ValueError(f"{setting} leaves {n_train_split} training video(s) of {n_videos}: training needs at "
                         f"least {MIN_TRAIN_VIDEOS}" + (" (lower data.n_val)" if split == "holdout" else ""))
