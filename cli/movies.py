"""``train.py fit --config configs/movies_ridge.yaml``: the movie time-series mode's CLI.

A config with ``mode: movies`` at its top selects it (:func:`is_movie_command`); ``model.*`` and
``data.*`` are then the arguments of :class:`lightning_modules.movie_ridge.MovieRidge` and
:class:`datamodules.movies.module.MovieDataModule`. With ``mode: movies_finetune``
(``configs/movies_finetune.yaml``) they are those of
:class:`lightning_modules.movie_finetune.MovieFinetune` and
:class:`datamodules.movies.segment_module.MovieSegmentDataModule` (``data.rate_hz`` linked to
``model.rate_hz``), and running out of device memory names the settings that size a segment.
Bad input stops with one ``error:`` line.

SLURM as in the clip mode (``scripts/slurm_train.sbatch``): ``fit --ckpt_path last`` continues
from the newest of the run's ``last.ckpt`` and its requeue checkpoint, and starts fresh when it
has neither (:mod:`cli.resume_path`); the callback
``runtime.slurm_requeue.RequeueOnSignal`` checkpoints and requeues the job on its warning signal.
A fine-tuning run resumed part-way through an epoch trains that epoch's remaining steps on
segments drawn afresh (the segment loader keeps no position), not on the ones it had left.
"""

from __future__ import annotations

import sys

import yaml
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.cli import LightningArgumentParser

from cli.resume_path import resolve_fit_ckpt_path
from datamodules.movies.decode import MovieDecodeError
from datamodules.movies.files import MovieDataError
from datamodules.movies.module import MovieDataModule
from datamodules.movies.segment_module import MovieSegmentDataModule
from lightning_modules.movie_finetune import MovieFinetune
from lightning_modules.movie_ridge import MovieRidge
from run_folder.contract import CONFIG_FILE
from runtime.lightning_overrides import SubcommandHooks
from runtime.out_of_memory import explain_out_of_memory
from runtime.quiet import ignore_warning

MODE = "movies"
FINETUNE_MODE = "movies_finetune"
MODES = (MODE, FINETUNE_MODE)

#: What sets a fine-tuning step's activation memory, for the out-of-memory message.
FINETUNE_MEMORY_SETTINGS = (
    ("data.batch_size", "segments per step"),
    ("data.segment_trs", "consecutive TRs per segment; frames per segment = (segment_trs x tr + "
                         "model.window_s) x rate_hz, each a backbone pass with stored activations"),
    ("data.rate_hz", "frames per second (frames per TR = rate_hz x tr)"),
    ("model.window_s", "seconds of frames before each segment's first TR (the temporal window)"),
    ("model.checkpoint_backbone", "true: the backbone's activations are recomputed in backward, "
                                  "not stored (about a third slower)"),
    ("model.frames_per_pass", "frames per backbone call (what checkpointing keeps at once)"),
    ("data.image_size", "the input resolution; memory grows with its square"),
    ("trainer.precision", "bf16-mixed halves activation memory on GPUs that support it"),
    ("model.freeze_backbone_epochs", "a frozen backbone stores no activations (-1: always)"),
)


def config_files(argv: list[str]) -> list[str]:
    """The ``--config`` files named on a command line, in order."""
    out = []
    for i, arg in enumerate(argv):
        if arg == "--config" and i + 1 < len(argv):
            out.append(argv[i + 1])
        elif arg.startswith("--config="):
            out.append(arg.split("=", 1)[1])
    return out


def movie_mode(argv: list[str]) -> str | None:
    """``movies`` or ``movies_finetune`` when a ``--config`` file of the command line says so
    (the last one that does), else None."""
    found = None
    for path in config_files(argv):
        try:
            with open(path) as f:
                config = yaml.safe_load(f)
        except (OSError, yaml.YAMLError):
            continue  # the ordinary CLI names the file
        if isinstance(config, dict) and config.get("mode") in MODES:
            found = config["mode"]
    return found


def is_movie_command(argv: list[str]) -> bool:
    """Whether a ``--config`` file of the command line says ``mode: movies`` (or
    ``movies_finetune``)."""
    return movie_mode(argv) is not None


class MovieCLI(SubcommandHooks):
    def adjust_subcommand_kwargs(self, subcommand: str, kwargs: dict) -> dict:
        if subcommand == "fit":  # "last": the newest of last.ckpt and hpc_ckpt, or a fresh start
            kwargs["ckpt_path"] = resolve_fit_ckpt_path(self.trainer, kwargs.get("ckpt_path"))
        return kwargs

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_argument("--mode", type=str, default=MODE,
                            help="'movies': this time-series mode")


class MovieFinetuneCLI(MovieCLI):
    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_argument("--mode", type=str, default=FINETUNE_MODE,
                            help="'movies_finetune': the movie mode, fine-tuned end to end")
        parser.link_arguments("data.rate_hz", "model.rate_hz")

    def _memory_settings(self) -> dict:
        d, m = self.datamodule.hparams, self.model.hparams
        frames = (d.segment_trs * d.tr + m.window_s) * d.rate_hz
        return {"data.batch_size": d.batch_size,
                "data.segment_trs": f"{d.segment_trs}: ~{frames:.0f} frames per segment",
                "data.rate_hz": d.rate_hz, "model.window_s": m.window_s,
                "model.checkpoint_backbone": m.checkpoint_backbone,
                "model.frames_per_pass": m.frames_per_pass,
                "data.image_size": d.image_size, "trainer.precision": self.trainer.precision,
                "model.freeze_backbone_epochs": m.freeze_backbone_epochs}

    def subcommand_context(self, subcommand: str):
        return explain_out_of_memory(subcommand, FINETUNE_MEMORY_SETTINGS,
                                     current=self._memory_settings)


def main(args: list[str] | None = None, run: bool = True) -> MovieCLI:
    ignore_warning("`LightningModule.configure_optimizers` returned `None`")
    ignore_warning("`training_step` returned `None`")
    ignore_warning("The number of training batches (1) is smaller than the logging interval")
    ignore_warning(".*does not have many workers.*", regex=True)
    # MovieFinetune keeps its backbone's BatchNorm in eval mode on purpose
    ignore_warning(r"Found \d+ module\(s\) in eval mode", regex=True)
    if args is not None:  # tests: the process's own argv is not train.py's
        ignore_warning("LightningCLI's args parameter is intended to run from within Python")
    finetune = movie_mode(sys.argv[1:] if args is None else args) == FINETUNE_MODE
    cli, model, data = ((MovieFinetuneCLI, MovieFinetune, MovieSegmentDataModule) if finetune
                        else (MovieCLI, MovieRidge, MovieDataModule))
    try:
        return cli(
            model, data,
            trainer_defaults={
                "max_epochs": 1, "num_sanity_val_steps": 0, "enable_progress_bar": False,
                "logger": {"class_path": "pytorch_lightning.loggers.TensorBoardLogger",
                           "init_args": {"save_dir": "runs",
                                         "name": FINETUNE_MODE if finetune else "movies_ridge",
                                         "default_hp_metric": False}},
                "callbacks": [ModelCheckpoint(save_last=True)],
            },
            save_config_kwargs={"overwrite": True, "config_filename": CONFIG_FILE},
            args=args, run=run)
    except (MovieDataError, MovieDecodeError) as e:
        sys.exit(f"error: {e}")
