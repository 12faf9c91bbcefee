"""``predict.py --ckpt_path RUN`` for a movie run (``mode: movies`` or ``movies_finetune`` in its
config.yaml, the ridge baseline or the model fine-tuned end to end): the
Algonauts 2025 submission zip of the held-out episodes.

Every subject's episodes in ``ROOT/fmri/sub-0X/target_sample_number/*_friends-s7_fmri_samples.npy``
are predicted with exactly that many TRs and written as ``OUT/fmri_predictions_friends_s7.zip``
(:func:`export.movie_submission.write_movie_submission` checks it against those numbers, written
and read back, before the command ends).
"""

from __future__ import annotations

from pathlib import Path

import torch

from datamodules.movies.files import MovieDataError
from datamodules.movies.module import MovieDataModule
from datamodules.movies.segment_module import MovieSegmentDataModule
from export.movie_submission import SPLIT_FILES, write_movie_submission
from lightning_modules.movie_finetune import MovieFinetune
from lightning_modules.movie_ridge import MovieRidge
from run_folder.contract import LAST_CHECKPOINT_FILE, RunFolder
from runtime.out_of_memory import explain_out_of_memory

#: What sets a movie prediction's memory (a fine-tuned run's segments; the ridge's frames per pass).
PREDICT_MEMORY_SETTINGS = (
    ("model.predict_segment_trs", "TRs per forward pass of a fine-tuned run (its frames are held "
                                  "at once); set it in the run's config.yaml"),
    ("model.frames_per_pass / model.batch_size", "frames per backbone call"),
)


def _run_and_checkpoint(path: str | Path) -> tuple[RunFolder, Path] | None:
    path = Path(path)
    if path.is_dir():
        return RunFolder(path), RunFolder(path).checkpoints_dir / LAST_CHECKPOINT_FILE
    folder = RunFolder.of_checkpoint(path)
    return (folder, path) if folder is not None else None


#: ``mode`` in a run's config.yaml -> (model class, data module class).
MODES = {"movies": (MovieRidge, MovieDataModule),
         "movies_finetune": (MovieFinetune, MovieSegmentDataModule)}


def is_movie_run(ckpt_paths: list[str]) -> bool:
    """Whether the (first) checkpoint or run folder belongs to a movie run (either mode)."""
    found = _run_and_checkpoint(ckpt_paths[0]) if ckpt_paths else None
    try:
        return found is not None and found[0].read_config().get("mode") in MODES
    except (OSError, ValueError):
        return False  # the clip export names the problem


def trained_subjects(model) -> list[str]:
    """The subjects a movie model can predict: the ridge's maps, or the fine-tuned model's heads."""
    return sorted(model.maps) if isinstance(model, MovieRidge) else sorted(model.heads)


def predict_movie_submission(ckpt_paths: list[str], output_dir: str | Path,
                             data_root: str | None = None,
                             overwrite: bool = False, split: str = "friends-s7") -> Path:
    """Predict the held-out episodes with one movie run; returns the zip's path."""
    if len(ckpt_paths) != 1:
        raise ValueError(f"a movie run predicts alone; got {len(ckpt_paths)} checkpoints")
    folder, checkpoint = _run_and_checkpoint(ckpt_paths[0])
    if not checkpoint.is_file():
        raise MovieDataError(f"{checkpoint}: no checkpoint (did the fit finish?)")
    config = folder.read_config()
    model_class, data_class = MODES[config.get("mode")]
    data = dict(config.get("data") or {})
    if data_root is not None:
        data["root"] = data_root
    datamodule = data_class(**data)
    model = model_class.load_from_checkpoint(checkpoint, map_location="cpu").eval()
    zip_path = Path(output_dir) / SPLIT_FILES[split].replace(".npy", ".zip")
    if zip_path.exists() and not overwrite:
        raise FileExistsError(f"{zip_path} exists; pass --overwrite to replace it")
    predictions = {}
    expected = {}
    with torch.no_grad(), explain_out_of_memory("prediction", PREDICT_MEMORY_SETTINGS):
        for subject, episodes in datamodule.test_episodes(split).items():
            if subject not in trained_subjects(model):
                raise MovieDataError(f"{checkpoint}: no model for {subject}, whose test episodes "
                                     f"target_sample_number lists (trained on "
                                     f"{trained_subjects(model)})")
            names = sorted(episodes)
            runs = [episodes[e] for e in names]
            predicted = model.predict_runs(datamodule, subject, runs)
            predictions[subject] = dict(zip(names, predicted, strict=True))
            expected[subject] = {e: n for e, (_, n) in episodes.items()}
    return write_movie_submission(predictions, expected, output_dir, split, n_parcels=None)
