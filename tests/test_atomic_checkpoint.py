"""A full disk (a real tmpfs, needs root) or a kill while a checkpoint is rewritten never destroys
the previous one: it is written beside it, synced and renamed (``runtime/atomic_checkpoint.py``).
Lightning's own writer, with ``$TMPDIR`` on another file system, leaves it cut short."""

import errno
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

from run_folder.contract import RunFolder
from runtime.atomic_checkpoint import AtomicCheckpointIO, use_atomic_checkpoints
from tests.helpers import FAST, REPO

MB = 1 << 20


@pytest.fixture
def small_disk(tmp_path):
    """A 16 MiB file system at ``tmp_path/disk`` (``$TMPDIR`` stays on the other one)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(disk)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=False)


def _checkpoint(value: float, mib: int = 4) -> dict:
    return {"epoch": int(value), "state_dict": {"w": torch.full((mib * MB // 4,), value, dtype=torch.float32)}}


def _fill(disk: Path, leave: int) -> None:
    """Fill ``disk`` until at most ``leave`` bytes are free. A training process writing to the
    same disk meanwhile may take some of the room first: the filler then stops at a full disk
    (fewer bytes free than asked, which fails the next checkpoint all the same)."""
    stat = os.statvfs(disk)
    with open(disk / "filler", "wb") as f:
        try:
            f.write(b"\0" * (stat.f_bavail * stat.f_frsize - leave))
        except OSError as err:
            if err.errno != errno.ENOSPC:
                raise


def test_full_disk_keeps_the_previous_last_ckpt_whole(small_disk):
    last = small_disk / "checkpoints" / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint(_checkpoint(1), last)
    _fill(small_disk, leave=MB)  # the new checkpoint is larger than the old one and the space left
    with pytest.raises(OSError, match="No space left") as err:
        io.save_checkpoint(_checkpoint(2, mib=6), last)
    assert str(last) in str(err.value) and "the previous last.ckpt is unchanged" in str(err.value)
    kept = torch.load(last, weights_only=True)
    assert kept["epoch"] == 1 and torch.equal(kept["state_dict"]["w"], _checkpoint(1)["state_dict"]["w"])
    assert sorted(p.name for p in last.parent.iterdir()) == ["last.ckpt"]  # no partial file left
    (small_disk / "filler").unlink()
    io.save_checkpoint(_checkpoint(3), last)  # space again: the next save goes through
    assert torch.load(last, weights_only=True)["epoch"] == 3


def test_lightnings_own_writer_cuts_the_checkpoint_short_on_the_same_fault(small_disk, tmp_path, monkeypatch):
    """The injection reproduces the fault: the temporary file in $TMPDIR, copied over the old one."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # $TMPDIR on the other file system
    last = small_disk / "checkpoints" / "last.ckpt"
    TorchCheckpointIO().save_checkpoint(_checkpoint(1), last)
    _fill(small_disk, leave=MB)
    with pytest.raises(OSError):
        TorchCheckpointIO().save_checkpoint(_checkpoint(2, mib=6), last)
    assert 0 < last.stat().st_size < 6 * MB
    with pytest.raises(Exception):
        torch.load(last, weights_only=True)


_WRITER = textwrap.dedent("""
    import sys, torch
    from runtime.atomic_checkpoint import atomic_torch_save
    i = 0
    while True:
        i += 1
        atomic_torch_save({"epoch": i, "w": torch.full((8 << 20,), float(i))}, sys.argv[1])
""")


@pytest.mark.slow
def test_killed_during_a_save_leaves_the_previous_checkpoint_whole(tmp_path):
    last = tmp_path / "checkpoints" / "last.ckpt"
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(last)], cwd=REPO,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        deadline = time.monotonic() + 60
        while not last.exists():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        time.sleep(0.7)  # part-way through a later save (each takes a fraction of a second)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    kept = torch.load(last, weights_only=True)
    assert torch.equal(kept["w"], torch.full((8 << 20,), float(kept["epoch"])))
    AtomicCheckpointIO().save_checkpoint({"epoch": 0}, last)  # the next save removes a dead writer's partial file
    assert sorted(p.name for p in last.parent.iterdir()) == ["last.ckpt"]


def test_training_writes_its_checkpoints_through_the_atomic_writer():
    trainer = pl.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False)
    assert use_atomic_checkpoints(trainer) and isinstance(trainer.strategy.checkpoint_io, AtomicCheckpointIO)
    assert not use_atomic_checkpoints(trainer)  # a writer other than Lightning's default is left alone


@pytest.mark.slow
def test_training_whose_disk_fills_keeps_a_resumable_last_ckpt(tiny_root, tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=160m", "tmpfs", str(disk)]).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        run = RunFolder(disk / "runs" / "demo" / "run")
        command = [sys.executable, str(REPO / "train.py"), "fit", "--config", str(REPO / "configs/demo.yaml"), *FAST,
                   "--data.root", str(tiny_root), "--data.synthetic", "null",
                   "--data.cache_dir", str(tiny_root.parent / "cache"), "--trainer.max_epochs", "50",
                   "--trainer.logger.init_args.save_dir", str(disk / "runs"),
                   "--trainer.logger.init_args.version", "run"]
        proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "TMPDIR": str(tmp_path), "OMP_NUM_THREADS": "1"})
        deadline = time.monotonic() + 240
        while not run.last_checkpoint.exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
            time.sleep(0.02)
        time.sleep(0.5)
        _fill(disk, leave=MB)  # smaller than a checkpoint: the next rewrite of last.ckpt fails
        _, err = proc.communicate(timeout=240)
        assert proc.returncode != 0, err
        kept = torch.load(run.last_checkpoint, weights_only=True)  # whole, and resumable
        assert {"state_dict", "optimizer_states", "loops"} <= kept.keys()
    finally:
        if proc.poll() is None:
            proc.kill()
        subprocess.run(["umount", "-l", str(disk)], check=False)
