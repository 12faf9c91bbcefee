"""The GPU check's table and its rows' runner: each row under its own time budget, a failure or a
timeout filling that row's result; and the device helpers the rows share (sync, peak memory)."""

from __future__ import annotations

import contextlib
import math
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path

import torch

from benchmarks.gpu.config import COLUMNS, CheckConfig


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if value == 0 or not math.isfinite(value):
            return f"{value:g}"
        return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    return str(value).replace("|", "/").replace("\n", " ")


class Table:
    """Rows of :data:`COLUMNS`, each printed as soon as it is measured (a run cut short keeps them)."""

    def __init__(self, path: Path | None = None):
        self.rows: list[dict] = []
        self.path = path  # rewritten after each row, so a run cut short still leaves its rows

    @staticmethod
    def header() -> str:
        return "| " + " | ".join(COLUMNS) + " |\n|" + "|".join("---" for _ in COLUMNS) + "|"

    @staticmethod
    def line(row: dict) -> str:
        return "| " + " | ".join(_cell(row.get(c)) for c in COLUMNS) + " |"

    def add(self, row: dict) -> None:
        self.rows.append(row)
        print(self.line(row), flush=True)
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(f"(partial: the run is still going or was cut short)\n\n{self.markdown()}\n")

    def markdown(self) -> str:
        return "\n".join([self.header(), *(self.line(r) for r in self.rows)])


class RowTimeout(Exception):
    """A row ran past its own time budget."""


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise :class:`RowTimeout` in the main thread after ``seconds`` (SIGALRM)."""
    def expire(*_):
        raise RowTimeout(f"out of time after its {seconds:.0f} s budget")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.01))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class Runner:
    """Runs each row under ``min(its budget, the time left)``; a failure fills its row's result."""

    RESERVE_S = 8.0  # kept for printing the table

    def __init__(self, cfg: CheckConfig, table: Table, only: set[str] | None = None):
        self.cfg, self.table, self.only = cfg, table, only
        self.deadline = time.perf_counter() + cfg.total_s

    def row(self, check: str, setting: str, budget: str, measure: Callable[[float], dict]) -> dict:
        left = self.deadline - time.perf_counter() - self.RESERVE_S
        limit = min(self.cfg.budgets[budget], left)
        row = {"check": check, "setting": setting}
        needed = {"data", *(("bf16 matmul",) if self.only and "train" in self.only else ())}
        if self.only is not None and check not in self.only | needed:
            return row  # not asked for (--only): no line in the table
        if limit < 3:
            row["result"] = "skipped: the run's time is spent"
            self.table.add(row)
            return row
        start = time.perf_counter()
        try:
            with time_limit(limit):
                row.update(measure(limit))
        except RowTimeout as err:
            row["result"] = str(err)
        except Exception as err:  # noqa: BLE001 - one row's failure must not end the table
            first = str(err).strip().splitlines()[0] if str(err).strip() else ""
            row["result"] = f"error: {type(err).__name__}: {first[:160]}"
            traceback.print_exc(file=sys.stderr)
        row["time s"] = time.perf_counter() - start
        _release_memory(self.cfg)
        self.table.add(row)
        return row


def _release_memory(cfg: CheckConfig) -> None:
    import gc

    gc.collect()
    if cfg.device == "cuda":
        with contextlib.suppress(Exception):  # after a CUDA error the next rows say so themselves
            torch.cuda.synchronize()
            torch.cuda.empty_cache()


def _sync(cfg: CheckConfig) -> None:
    if cfg.device == "cuda":
        torch.cuda.synchronize()


def _peak_gib(cfg: CheckConfig) -> float | None:
    return torch.cuda.max_memory_allocated() / 2**30 if cfg.device == "cuda" else None


def _reset_peak(cfg: CheckConfig) -> None:
    if cfg.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
