"""``train.py fit --config configs/movies_ridge.yaml``: the movie time-series mode's CLI.

A config with ``mode: movies`` at its top selects it (:func:`is_movie_command`); ``model.*`` and
``data.*`` are then the arguments of :class:`lightning_modules.movie_ridge.MovieRidge` and
:class:`datamodules.movies.module.MovieDataModule`. Bad input stops with one ``error:`` line.
"""

from __future__ import annotations

import sys

import yaml
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.cli import LightningArgumentParser, LightningCLI

from datamodules.movies.decode import MovieDecodeError
from datamodules.movies.files import MovieDataError
from datamodules.movies.module import MovieDataModule
from lightning_modules.movie_ridge import MovieRidge
from run_folder.contract import CONFIG_FILE
from runtime.quiet import ignore_warning

MODE = "movies"


def config_files(argv: list[str]) -> list[str]:
    """The ``--config`` files named on a command line, in order."""
    out = []
    for i, arg in enumerate(argv):
        if arg == "--config" and i + 1 < len(argv):
            out.append(argv[i + 1])
        elif arg.startswith("--config="):
            out.append(arg.split("=", 1)[1])
    return out


def is_movie_command(argv: list[str]) -> bool:
    """Whether a ``--config`` file of the command line says ``mode: movies``."""
    for path in config_files(argv):
        try:
            with open(path) as f:
                config = yaml.safe_load(f)
        except (OSError, yaml.YAMLError):
            continue  # the ordinary CLI names the file
        if isinstance(config, dict) and config.get("mode") == MODE:
            return True
    return False


class MovieCLI(LightningCLI):
    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_argument("--mode", type=str, default=MODE, help="'movies': this time-series mode")


def main(args: list[str] | None = None, run: bool = True) -> MovieCLI:
    ignore_warning("`LightningModule.configure_optimizers` returned `None`")
    ignore_warning("`training_step` returned `None`")
    ignore_warning("The number of training batches (1) is smaller than the logging interval")
    ignore_warning(".*does not have many workers.*", regex=True)
    if args is not None:  # tests: the process's own argv is not train.py's
        ignore_warning("LightningCLI's args parameter is intended to run from within Python")
    try:
        return MovieCLI(
            MovieRidge, MovieDataModule,
            trainer_defaults={
                "max_epochs": 1, "num_sanity_val_steps": 0, "enable_progress_bar": False,
                "logger": {"class_path": "pytorch_lightning.loggers.TensorBoardLogger",
                           "init_args": {"save_dir": "runs", "name": "movies_ridge", "default_hp_metric": False}},
                "callbacks": [ModelCheckpoint(save_last=True)],
            },
            save_config_kwargs={"overwrite": True, "config_filename": CONFIG_FILE},
            args=args, run=run)
    except (MovieDataError, MovieDecodeError) as e:
        sys.exit(f"error: {e}")
