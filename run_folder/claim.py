"""One run folder per training: claimed atomically before anything is written into it.

TensorBoard's logger picks ``version_<n+1>`` by listing the folders that exist, and creates it
only when it first writes. Two trainings started together with the same logger name both pick
``version_0``; their ``config.yaml``, ``summary.json``, checkpoints and event files then mix.

:class:`RunFolderClaim` takes the folder at set-up, before ``config.yaml`` is saved: the claim is
an exclusive ``flock`` on ``<run dir>/.run.lock``, held for the life of the process (the kernel
releases it when the process ends, killed or not). A run whose version was picked automatically
(an int, ``version_<n>``) that finds its folder taken moves on to the next free number; a run
with a version given by name (``--trainer.logger.init_args.version run1``, the way to resume) is
refused, naming the folder and the process holding it.
"""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path

import pytorch_lightning as pl

log = logging.getLogger(__name__)
LOCK_NAME = ".run.lock"


class RunFolderInUseError(RuntimeError):
    """The run folder named by the logger's version is held by another live training."""


class RunFolderGoneError(RuntimeError):
    """The run folder was deleted (or replaced) while its training ran."""


def _inode(path: Path) -> int | None:
    try:
        return os.stat(path).st_ino
    except FileNotFoundError:
        return None


def check_still_claimed(handle, inode: int | None = None) -> None:
    """Raise :class:`RunFolderGoneError` when the lock file ``handle`` holds (or had ``inode``) is no
    longer the one in its run folder: the folder was deleted or replaced under the running training
    (writing on would recreate a folder holding only the files written from now on)."""
    lock = Path(handle.name)
    if _inode(lock) != (os.fstat(handle.fileno()).st_ino if inode is None else inode):
        raise RunFolderGoneError(
            f"the run folder {lock.parent} was deleted (or replaced) during training: its checkpoints, "
            "config.yaml and logs are gone, and this run stops rather than write a partial folder. Start the "
            "run again (a fresh run folder), or restore the folder and resume with --ckpt_path last")


def _try_lock(run_dir: Path):
    """An open, exclusively locked ``run_dir/.run.lock`` holding this pid, or None if another process holds it."""
    handle = open(run_dir / LOCK_NAME, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def _holder(run_dir: Path) -> str:
    try:
        return (run_dir / LOCK_NAME).read_text().strip() or "unknown"
    except OSError:
        return "unknown"


def claim_run_folder(logger) -> tuple[str | int, object]:
    """Claim ``logger``'s run folder; returns ``(version, lock handle)`` and sets the logger's version.

    ``logger`` is a TensorBoard or CSV logger (``root_dir``, ``version``, ``log_dir``, ``_version``).
    """
    Path(logger.root_dir).mkdir(parents=True, exist_ok=True)
    version = logger.version
    run_dir = Path(logger.log_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    handle = _try_lock(run_dir)
    if handle is not None:
        return version, handle
    if not isinstance(version, int):
        raise RunFolderInUseError(
            f"{run_dir} is in use by another training (pid {_holder(run_dir)}): two runs in one folder would "
            "mix their checkpoints, config.yaml and summary.json. Choose another "
            "--trainer.logger.init_args.version, or wait for that run to end")
    while True:  # an automatic version_<n> taken by a run started at the same moment: take the next free one
        version += 1
        logger._version = version
        run_dir = Path(logger.log_dir)
        try:
            os.mkdir(run_dir)  # a folder that already exists belongs to another run, finished or not
        except FileExistsError:
            continue
        handle = _try_lock(run_dir)
        if handle is not None:
            log.info("run folder %s: the previous version was claimed by another run started at the same time",
                     run_dir)
            return version, handle


class RunFolderClaim(pl.Callback):
    """Claims the logger's run folder at set-up (rank 0), and gives every rank the version it got.

    Must run before Lightning's config-saving callback (``train.py`` lists it among the default
    callbacks, which come before it); loggers without versioned folders are left alone.
    """

    def __init__(self):
        self._lock = None
        self._claimed = None  # (lock handle, its inode): still answers gone() after the lock is released

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        logger = trainer.logger
        if logger is None or not all(hasattr(logger, a) for a in ("_version", "root_dir", "log_dir")):
            return
        version = None
        if trainer.is_global_zero and self._lock is None:
            version, self._lock = claim_run_folder(logger)
            self._claimed = (self._lock, os.fstat(self._lock.fileno()).st_ino)
        version = trainer.strategy.broadcast(version if self._lock is not None else logger.version)
        logger._version = version

    def gone(self) -> RunFolderGoneError | None:
        """After the run: the error saying its folder was deleted, or None (kept, or never claimed)."""
        if self._claimed is None:
            return None
        try:
            check_still_claimed(*self._claimed)
        except RunFolderGoneError as err:
            return err
        return None

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch, batch_idx: int) -> None:
        if self._lock is not None:
            check_still_claimed(self._lock)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Before the checkpoint callback (Lightning runs checkpoint callbacks last) writes into it.
        if self._lock is not None:
            check_still_claimed(self._lock)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._lock is not None and not trainer.sanity_checking:
            check_still_claimed(self._lock)

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        # A run that failed (a refused resume, a crash) in a process that goes on (sweeps, tests) ends here.
        self.teardown(trainer, pl_module, "fit")

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if self._lock is not None:
            self._lock.close()  # releases the flock
            self._lock = None
