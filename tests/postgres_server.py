"""A real PostgreSQL server for tests: ``initdb`` and ``pg_ctl`` on a loopback port, run as an
unprivileged user (``postgres``, as Debian's package creates it), with a password login.

Needs Debian's ``postgresql`` package (``.ci/run`` installs it) and, when run as root, a
non-root user to own the data folder (PostgreSQL refuses to run as root).

    with PostgresServer() as server:
        url = server.create_database("optuna")     # postgresql://optuna:...@127.0.0.1:PORT/optuna
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

USER = "optuna"
PASSWORD = "optuna-test-pw"


class PostgresUnavailable(RuntimeError):
    """PostgreSQL cannot run here; the message says why (tests skip with it)."""


def _bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return versions[-1] if versions else None


def unavailable_reason() -> str | None:
    """Why a server cannot start here, or None."""
    missing = [n for n in ("initdb", "pg_ctl", "psql") if _bin(n) is None]
    if missing:
        return f"PostgreSQL is not installed ({', '.join(missing)} missing): apt-get install -y postgresql"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no 'postgres' user to run the server as"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg 3 is not installed: pip install 'psycopg[binary]'"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    def __init__(self, folder: Path | None = None):
        # Its own folder directly under /tmp by default: the server's user must be able to reach
        # it, and pytest's tmp_path sits below a folder only root may enter.
        self._made = folder is None
        self.folder = Path(tempfile.mkdtemp(prefix="postgres-test-")) if folder is None else Path(folder)
        self.data = self.folder / "data"
        self.port = _free_port()
        self.running = False

    def _as_owner(self, command: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command

    def _run(self, command: list[str]) -> str:
        done = subprocess.run(self._as_owner(command), capture_output=True, text=True, timeout=120, cwd="/")
        if done.returncode != 0:
            raise PostgresUnavailable(f"{' '.join(command)} failed: {(done.stderr or done.stdout).strip()}")
        return done.stdout

    def start(self) -> None:
        reason = unavailable_reason()
        if reason:
            raise PostgresUnavailable(reason)
        self.folder.mkdir(parents=True, exist_ok=True)
        pw_file = self.folder / "pw"
        pw_file.write_text(PASSWORD + "\n")
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
            shutil.chown(pw_file, "postgres", "postgres")
        self._run([_bin("initdb"), "-D", str(self.data), "-U", USER, f"--pwfile={pw_file}",
                   "--auth-host=scram-sha-256", "--auth-local=scram-sha-256", "--encoding=UTF8", "--no-sync"])
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run([_bin("pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.folder / "server.log"),
                   "-w", "-t", "60", "start"])
        self.running = True

    def url(self, database: str) -> str:
        return f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A fresh, empty database; returns its URL."""
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        if self.running:
            self._run([_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"])
            self.running = False
        if self._made:
            shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
