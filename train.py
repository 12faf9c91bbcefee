"""Train, validate or test an encoding model from the command line.

    python train.py fit --config configs/demo.yaml
    python train.py fit --config configs/resnet50_lstm.yaml --data.root /data/algonauts --trainer.devices 4
    python train.py fit --config configs/demo.yaml --print_config
    python train.py fit --config configs/demo.yaml --trainer.logger.init_args.version run1 --ckpt_path last

``--ckpt_path last`` continues the run in that logger version's folder from its newest checkpoint
(``last.ckpt``, or a SLURM requeue checkpoint), and starts it fresh when it has none yet: the
same command starts a run and resumes it (``scripts/slurm_train.sbatch``, ``RELIABILITY.md``).

Every ``model.*`` and ``data.*`` key is an ``__init__`` argument of
``lightning_modules.system.EncodingModel`` and ``datamodules.algonauts.AlgonautsDataModule``;
``--config`` files compose left to right, and the resolved config is saved in the run folder.
"""

from __future__ import annotations

import contextlib
import sys

from pytorch_lightning.callbacks import LearningRateMonitor
from pytorch_lightning.cli import LightningArgumentParser

from cli.finished_run import FinishedRunError, check_not_finished
from cli.legacy_config import check_flat_model_keys
from cli.movies import is_movie_command
from cli.movies import main as movies_main
from cli.resume_data import ResumeDataError, TrainingDataRecord
from cli.resume_path import resolve_fit_ckpt_path
from cli.resume_settings import ResumeSettingsError, check_resume_settings
from datamodules.algonauts import AlgonautsDataModule
from datamodules.settings_checks import DataSettingsError
from datamodules.sources.base import DataLayoutError
from lightning_modules.settings import SettingsError
from lightning_modules.system import EncodingModel
from run_folder.callbacks import RunSummary, ValidationFigures
from run_folder.claim import RunFolderClaim, RunFolderGoneError
from run_folder.contract import BEST_CHECKPOINT_FILENAME, CONFIG_FILE, LAST_CHECKPOINT_FILE
from run_folder.validation_dump import ValidationDump
from runtime.accelerator_check import AcceleratorUnavailableError, check_accelerator
from runtime.atomic_checkpoint import use_atomic_checkpoints
from runtime.lightning_overrides import EpochCheckpoint, SubcommandHooks
from runtime.nonfinite_guard import NonFiniteGuard
from runtime.out_of_memory import explain_out_of_memory
from runtime.quiet import ignore_warning, silence_library_noise
from runtime.random_state import RandomStateCheckpoint
from runtime.resume import ForeignCheckpointError, checkpoint_dir
from runtime.termination import Terminated, exit_status, install, lightning_fit, terminated_from
from simulator.ensure import ensure_release


class EncodingCLI(SubcommandHooks):
    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        # last.ckpt after every epoch (Lightning alone rewrites it only when val/score improves).
        parser.add_lightning_class_args(EpochCheckpoint, "checkpoint")
        parser.set_defaults({
            "checkpoint.monitor": "val/score",
            "checkpoint.mode": "max",
            "checkpoint.save_last": True,
            "checkpoint.filename": BEST_CHECKPOINT_FILENAME,
            "checkpoint.auto_insert_metric_name": False,
        })
        parser.add_argument("--overwrite_run", type=bool, default=False,
                            help="start a fresh run in a named run folder that holds a finished run, replacing it")
        parser.link_arguments("data.num_frames", "model.num_frames")
        parser.link_arguments("data.image_size", "model.image_size")
        # The heads' sizes come from the fMRI files, read once the data module exists.
        parser.link_arguments("data.voxel_counts", "model.voxel_counts", apply_on="instantiate")

    def instantiate_classes(self) -> None:
        data = self.config[self.subcommand].data if self.subcommand else self.config.data
        trainer = self.config[self.subcommand].trainer if self.subcommand else self.config.trainer
        check_accelerator(trainer.accelerator, "--trainer.accelerator")  # before any work, in one line
        if data.synthetic is not None:  # the simulator's step, before the data module reads the release
            ensure_release(data.root, data.synthetic)
        super().instantiate_classes()
        # Checkpoints written beside the old one, synced, renamed: a full disk or a kill never cuts last.ckpt short.
        use_atomic_checkpoints(self.trainer)
        if self.model.settings.ridge.only:
            self._prepare_ridge_only()

    def _prepare_ridge_only(self) -> None:
        """The ridge baseline alone learns nothing by gradient: the training loop gets one empty
        batch per epoch (so validation, checkpoints and the summary still happen, and no clip is
        read for it), the model summary counts no trainable parameter, and Lightning's warnings
        about the missing optimizer and the short epoch are not shown."""
        self.datamodule.training_batches = False
        self.model.requires_grad_(False)
        ignore_warning("`LightningModule.configure_optimizers` returned `None`")
        ignore_warning("`training_step` returned `None`")
        ignore_warning("The number of training batches (1) is smaller than the logging interval")

    def subcommand_context(self, subcommand: str):
        stack = contextlib.ExitStack()
        # SIGTERM: Lightning stops the fit at a batch end; say what was kept and how to resume.
        stack.enter_context(terminated_from(self._how_to_resume))
        stack.enter_context(lightning_fit())
        # Out of device memory: name the settings to lower, with their values in this run.
        stack.enter_context(explain_out_of_memory(subcommand, current=self._memory_settings))
        stack.enter_context(self._explain_deleted_run_folder())
        return stack

    @contextlib.contextmanager
    def _explain_deleted_run_folder(self):
        """Whatever failed first (TensorBoard's writer, a checkpoint) once the run folder was deleted
        under the training: say that, in one line."""
        try:
            yield
        except Exception as err:
            claim = next((c for c in self.trainer.callbacks if isinstance(c, RunFolderClaim)), None)
            if isinstance(err, RunFolderGoneError) or claim is None or (gone := claim.gone()) is None:
                raise
            raise gone from err

    def _how_to_resume(self) -> str:
        last = checkpoint_dir(self.trainer) / LAST_CHECKPOINT_FILE
        kept = f"{last} holds the last finished epoch" if last.is_file() else "no epoch had finished"
        version = getattr(self.trainer.logger, "version", None)
        return (f"{kept}; run folder {self.trainer.log_dir}; resume with the same command and "
                f"--ckpt_path last --trainer.logger.init_args.version {version}")

    def adjust_subcommand_kwargs(self, subcommand: str, kwargs: dict) -> dict:
        if subcommand == "fit" and self.trainer.logger is not None:  # before config.yaml replaces the old one
            check_not_finished(self.trainer.log_dir, self.trainer.logger.version, kwargs.get("ckpt_path"),
                               self.config[subcommand].get("overwrite_run", False))
        if subcommand == "fit":  # "last": the newest of last.ckpt and hpc_ckpt, or a fresh start
            kwargs["ckpt_path"] = resolve_fit_ckpt_path(self.trainer, kwargs.get("ckpt_path"))
        if subcommand == "fit" and kwargs.get("ckpt_path"):  # before config.yaml is written: name what differs
            check_resume_settings(kwargs["ckpt_path"], self.model.hparams)
        return kwargs

    def _memory_settings(self) -> dict:
        data = self.datamodule.hparams
        return {"data.batch_size": data.batch_size, "data.num_frames": data.num_frames,
                "data.image_size": data.image_size,
                "data.subjects / data.rois": f"{self.datamodule.target_layout.n_voxels} voxels",
                "trainer.precision": self.trainer.precision,
                "model.optimisation.freeze_backbone_epochs": self.model.settings.optimisation.freeze_backbone_epochs}


def main(args=None, run: bool = True) -> EncodingCLI:
    """The CLI; ``args`` (a list, as on the command line without ``train.py``) when called from Python."""
    silence_library_noise()
    if is_movie_command(sys.argv[1:] if args is None else args):  # mode: movies (cli/movies.py)
        return movies_main(args, run)
    check_flat_model_keys(sys.argv[1:] if args is None else args)
    if args is not None:  # sweep trials and tests: the process's own argv is not train.py's
        ignore_warning("LightningCLI's args parameter is intended to run from within Python")
    return EncodingCLI(
        EncodingModel,
        AlgonautsDataModule,
        trainer_defaults={
            "logger": {"class_path": "pytorch_lightning.loggers.TensorBoardLogger",
                       "init_args": {"save_dir": "runs", "name": "encoding", "default_hp_metric": False}},
            # RunFolderClaim first: it takes the run folder before anything is written there.
            "callbacks": [RunFolderClaim(), NonFiniteGuard(),
                          LearningRateMonitor(logging_interval="step"), RunSummary(), ValidationFigures(),
                          ValidationDump(), RandomStateCheckpoint(), TrainingDataRecord()],
        },
        save_config_kwargs={"overwrite": True, "config_filename": CONFIG_FILE},
        args=args,
        run=run,
    )


if __name__ == "__main__":
    from lightning_modules.networks.weights_cache import WeightsUnavailableError

    install()  # SIGTERM exits 143, never 0
    try:
        main()
    # One line (or a list of moves), not a traceback.
    except (WeightsUnavailableError, SettingsError, DataSettingsError, DataLayoutError, FinishedRunError,
            ForeignCheckpointError, ResumeDataError, ResumeSettingsError, AcceleratorUnavailableError,
            RunFolderGoneError) as e:
        sys.exit(f"error: {e}")
    except Terminated as e:
        sys.exit(exit_status(e))
