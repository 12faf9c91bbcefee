"""Two ``predict.py`` into the same ``--output_dir`` at once (two real processes): the second is
refused at once, naming the folder and the first's pid, so no export holds another's rows."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from export.output_claim import LOCK_NAME, OutputInUseError, claim_output_dir
from run_folder.contract import RunFolder
from tests.helpers import REPO, fit_tiny

_HOLDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from export.output_claim import claim_output_dir
    with claim_output_dir(Path(sys.argv[1])):
        print("claimed", flush=True)
        time.sleep(60)
""")


def test_a_folder_claimed_by_another_live_process_is_refused_and_freed_when_it_dies(tmp_path):
    out = tmp_path / "out"
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(out)], cwd=REPO, stdout=subprocess.PIPE,
                              text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert holder.stdout.readline().strip() == "claimed"
        with pytest.raises(OutputInUseError, match=rf"{out} is being written by another predict.py "
                                                   rf"\(pid {holder.pid}\)"):
            with claim_output_dir(out):
                pass
    finally:
        holder.kill()  # killed, as a crash would: the kernel releases its lock
        holder.wait()
    with claim_output_dir(out):
        assert (out / LOCK_NAME).read_text().strip() == str(os.getpid())
    assert list(out.iterdir()) == []  # the dead holder's lock file is gone with ours
    fresh = tmp_path / "fresh"
    with claim_output_dir(fresh):
        assert fresh.is_dir()
    assert not fresh.exists()  # created for the claim, nothing written: removed again


def test_other_ranks_hold_nothing(tmp_path):
    with claim_output_dir(tmp_path / "out", first_process=False):
        assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_two_real_predict_processes_into_one_folder(tiny_root, tmp_path):
    fixed = ("--trainer.max_epochs", "1", "--model.ridge.fit", "false")
    ckpts = []
    for seed in ("0", "1"):
        fit_tiny(tiny_root, tmp_path, *fixed, "--trainer.logger.init_args.version", f"s{seed}",
                 "--seed_everything", seed)
        ckpts.append(RunFolder(tmp_path / "runs" / "demo" / f"s{seed}").last_checkpoint)
    out = tmp_path / "out"

    def command(ckpt):
        return [sys.executable, str(REPO / "predict.py"), "--ckpt_path", str(ckpt), "--output_dir", str(out),
                "--accelerator", "cpu", "--num_workers", "0", "--batch_size", "1",
                "--cache_dir", str(tmp_path / "cache")]

    first = subprocess.Popen(command(ckpts[0]), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (out / LOCK_NAME).exists():
        assert first.poll() is None and time.monotonic() < deadline, first.communicate()
        time.sleep(0.005)
    first.send_signal(signal.SIGSTOP)  # held part-way through its export, as a slow one would be
    try:
        second = subprocess.run([*command(ckpts[1]), "--overwrite"], cwd=REPO, capture_output=True, text=True)
    finally:
        first.send_signal(signal.SIGCONT)
    first_out, first_err = first.communicate(timeout=300)
    assert first.returncode == 0, first_err
    assert second.returncode == 1
    assert second.stderr.strip().splitlines()[-1] == (
        f"error: {out} is being written by another predict.py (pid {first.pid}): two exports into one folder "
        "would mix their predictions; choose another --output_dir, or wait for it to end")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["checkpoints"] == [str(ckpts[0].resolve())]
    assert not (out / LOCK_NAME).exists()
