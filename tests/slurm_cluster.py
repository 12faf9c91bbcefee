"""A real one-node SLURM cluster on this machine, for tests: munge, slurmctld and slurmd.

Needs root and Debian's ``slurmctld slurmd slurm-client munge`` packages (``.ci/run`` installs
them). The node declares this machine's CPUs and memory and four fake GPUs (``Gres=gpu:4``
backed by ``/dev/fakegpuK``, character devices like /dev/null), so scripts that ask for
``--gres=gpu:N`` schedule on a machine without any; the tasks then find no CUDA device and run
on the CPU. Everything the daemons write (state, spool, logs) stays in the cluster's folder;
its configuration is passed through ``SLURM_CONF`` (see :meth:`SlurmCluster.env`), never
installed in /etc/slurm.

    cluster = SlurmCluster(tmp_path / "slurm")
    cluster.start()                         # raises SlurmUnavailable with the reason
    job = cluster.sbatch(["--nodes", "1", "script.sbatch"], cwd=REPO)
    cluster.wait(job, lambda s: s == "COMPLETED", timeout=600)
    cluster.stop()

``python tests/slurm_cluster.py`` starts one, runs ``srun -N1 hostname`` and stops it.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "srun", "scontrol", "scancel", "squeue")
N_FAKE_GPUS = 4


class SlurmUnavailable(RuntimeError):
    """SLURM cannot run here; the message says why (tests skip with it)."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unavailable_reason() -> str | None:
    """Why a cluster cannot start here, or None."""
    if os.geteuid() != 0:
        return "a SLURM test cluster needs root (slurmd launches jobs as their user)"
    missing = [b for b in (*DAEMONS, *CLIENTS) if shutil.which(b) is None and not Path("/usr/sbin", b).exists()]
    if missing:
        return (f"SLURM is not installed ({', '.join(missing)} missing): "
                "apt-get install -y slurmctld slurmd slurm-client munge")
    return None


def _binary(name: str) -> str:
    return shutil.which(name) or str(Path("/usr/sbin", name))


class SlurmCluster:
    """One node (this machine, ``hostname``), one default partition ``cpu``, loopback ports."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.host = socket.gethostname()
        self.conf = self.folder / "slurm.conf"
        self._daemons: list[str] = []
        self._munged_pid: int | None = None  # set when this cluster started munged (stopped with it)

    # ------------------------------------------------------------------ set-up
    def env(self, **extra: str) -> dict[str, str]:
        """The environment for SLURM's clients (and the jobs they submit) to reach this cluster."""
        return {**os.environ, "SLURM_CONF": str(self.conf), **extra}

    def start(self, timeout: float = 60) -> None:
        reason = unavailable_reason()
        if reason:
            raise SlurmUnavailable(reason)
        for sub in ("state", "spool", "log"):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)
        self._start_munge()
        self._write_config()
        try:
            self._daemons.append("slurmctld")
            self._run([_binary("slurmctld"), "-f", str(self.conf), "-c"])
            self._daemons.append("slurmd")
            self._run([_binary("slurmd"), "-f", str(self.conf)])
        except SlurmUnavailable as err:
            self.stop()
            raise SlurmUnavailable(f"{err}; logs in {self.folder / 'log'}") from None
        deadline = time.monotonic() + timeout
        while True:
            state = self._node_state()
            if state and state.split("+")[0] in ("IDLE", "MIXED", "ALLOCATED"):
                return
            if time.monotonic() > deadline:
                self.stop()
                raise SlurmUnavailable(f"the SLURM node did not come up within {timeout:.0f} s "
                                       f"(state {state!r}); logs in {self.folder / 'log'}")
            time.sleep(0.5)

    def _start_munge(self) -> None:
        if subprocess.run("munge -n | unmunge", shell=True, capture_output=True).returncode == 0:
            return  # a munged already runs
        key = Path("/etc/munge/munge.key")
        if not key.is_file():
            self._run(["mungekey", "--create", "--force"] if shutil.which("mungekey")
                      else ["/usr/sbin/create-munge-key", "-f"])
        run_dir = Path("/run/munge")
        run_dir.mkdir(parents=True, exist_ok=True)
        shutil.chown(run_dir, "munge", "munge")
        self._run(["runuser", "-u", "munge", "--", _binary("munged")])
        deadline = time.monotonic() + 20
        while subprocess.run("munge -n | unmunge", shell=True, capture_output=True).returncode != 0:
            if time.monotonic() > deadline:
                raise SlurmUnavailable("munged did not start (munge -n | unmunge fails)")
            time.sleep(0.2)
        pid_file = Path("/run/munge/munged.pid")
        if pid_file.is_file() and pid_file.read_text().strip().isdigit():
            self._munged_pid = int(pid_file.read_text())

    def _fake_gpus(self) -> list[Path]:
        devices = []
        for k in range(N_FAKE_GPUS):
            dev = Path(f"/dev/fakegpu{k}")
            if not dev.exists():
                try:
                    os.mknod(dev, 0o666 | 0o020000, os.makedev(1, 3))  # a character device, like /dev/null
                except OSError:
                    dev = self.folder / f"fakegpu{k}"
                    dev.touch()
            devices.append(dev)
        return devices

    def _write_config(self) -> None:
        cpus = os.cpu_count() or 1
        mem_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
        f = self.folder
        self.conf.write_text("\n".join([
            "ClusterName=testcluster",
            f"SlurmctldHost={self.host}(127.0.0.1)",
            f"SlurmctldPort={_free_port()}",
            f"SlurmdPort={_free_port()}",
            "AuthType=auth/munge",
            "SlurmUser=root",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_CPU",
            "SchedulerType=sched/backfill",
            "MpiDefault=none",
            "JobRequeue=1",
            "ReturnToService=2",
            "KillWait=5",
            "MinJobAge=3600",
            "SlurmctldTimeout=30",
            "SlurmdTimeout=30",
            "GresTypes=gpu",
            f"StateSaveLocation={f / 'state'}",
            f"SlurmdSpoolDir={f / 'spool'}",
            f"SlurmctldPidFile={f / 'slurmctld.pid'}",
            f"SlurmdPidFile={f / 'slurmd.pid'}",
            f"SlurmctldLogFile={f / 'log' / 'slurmctld.log'}",
            f"SlurmdLogFile={f / 'log' / 'slurmd.log'}",
            f"NodeName={self.host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={mem_mb} "
            f"Gres=gpu:{N_FAKE_GPUS} State=UNKNOWN",
            "PartitionName=cpu Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
            "",
        ]))
        devices = ",".join(str(d) for d in self._fake_gpus())
        (self.folder / "gres.conf").write_text(f"AutoDetect=off\nName=gpu File={devices}\n")

    def stop(self) -> None:
        """Shut both SLURM daemons down, then munged if this cluster started it."""
        if self._daemons:
            subprocess.run(["scontrol", "shutdown"], env=self.env(), capture_output=True, timeout=30)
            deadline = time.monotonic() + 30
            for name in ("slurmctld", "slurmd"):
                pid_file = self.folder / f"{name}.pid"
                text = pid_file.read_text().strip() if pid_file.is_file() else ""
                pid = int(text) if text.isdigit() else None
                while pid is not None and _alive(pid) and time.monotonic() < deadline:
                    time.sleep(0.2)
                if pid is not None and _alive(pid):
                    os.kill(pid, 9)
            self._daemons = []
        if self._munged_pid is not None:
            if _alive(self._munged_pid):
                os.kill(self._munged_pid, 15)
            self._munged_pid = None

    def __enter__(self) -> SlurmCluster:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------------ use
    def _run(self, command: list[str], **kwargs) -> subprocess.CompletedProcess:
        done = subprocess.run(command, env=self.env(), capture_output=True, text=True, timeout=60, **kwargs)
        if done.returncode != 0:
            raise SlurmUnavailable(f"{' '.join(command)} failed (exit {done.returncode}): "
                                   f"{(done.stderr or done.stdout).strip()}")
        return done

    def sbatch(self, args: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
        """Submit; returns the job id (for an array, the array's job id)."""
        done = subprocess.run(["sbatch", "--parsable", *args], cwd=cwd, env=self.env(**(env or {})),
                              capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"sbatch {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout.strip().split(";")[0]

    def job(self, job_id: str) -> dict[str, str]:
        """``scontrol show job`` as ``{field: value}`` (the first record, for an array's first task)."""
        out = subprocess.run(["scontrol", "show", "job", "-o", job_id], env=self.env(), capture_output=True,
                             text=True, timeout=30).stdout
        record = out.strip().splitlines()[0] if out.strip() else ""
        return dict(re.findall(r"(\w+(?::\w+)?)=(\S*)", record))

    def jobs(self, job_id: str) -> list[dict[str, str]]:
        """Every record of ``scontrol show job`` (an array's tasks)."""
        out = subprocess.run(["scontrol", "show", "job", "-o", job_id], env=self.env(), capture_output=True,
                             text=True, timeout=30).stdout
        return [dict(re.findall(r"(\w+(?::\w+)?)=(\S*)", line)) for line in out.strip().splitlines() if line]

    def wait(self, job_id: str, done: Callable[[dict[str, str]], bool], timeout: float,
             poll: float = 1.0) -> dict[str, str]:
        """Poll the job until ``done(record)``; raises TimeoutError with its last record."""
        deadline = time.monotonic() + timeout
        while True:
            record = self.job(job_id)
            if record and done(record):
                return record
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {record.get('JobState')} after {timeout:.0f} s: {record}")
            time.sleep(poll)

    def scancel(self, job_id: str, *args: str) -> None:
        subprocess.run(["scancel", *args, job_id], env=self.env(), check=True, timeout=30)

    def _node_state(self) -> str | None:
        out = subprocess.run(["scontrol", "show", "node", "-o", self.host], env=self.env(), capture_output=True,
                             text=True, timeout=30).stdout
        match = re.search(r"State=(\S+)", out)
        return match.group(1) if match else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp, SlurmCluster(Path(tmp)) as cluster:
        out = subprocess.run(["srun", "-N1", "hostname"], env=cluster.env(), capture_output=True, text=True,
                             timeout=120)
        print(out.stdout.strip() or out.stderr.strip())
        sys.exit(out.returncode)
