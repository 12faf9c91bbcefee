"""Which checkpoint a ``--ckpt_path`` stands for: a file itself, or a run folder's best validation's,
as its ``summary.json`` names it (:meth:`run_folder.contract.RunFolder.best_checkpoint`).

``predict.py --ckpt_path runs/demo/version_0`` predicts with the run's best checkpoint (highest
``val/score``), not ``last.ckpt`` (the latest epoch, kept for resuming), and says which it used.
"""

from __future__ import annotations

from pathlib import Path

from run_folder.contract import RunFolder


def resolve_checkpoint(path: str | Path) -> tuple[Path, str]:
    """The checkpoint file ``path`` stands for, and a line saying which it is and why.

    A file is itself. A run folder (``runs/<name>/version_N``) gives its best checkpoint
    (:meth:`RunFolder.best_checkpoint`: the one its summary names, else its newest best checkpoint,
    else its last). Raises FileNotFoundError naming what is missing.
    """
    path = Path(path)
    if path.is_file():
        return path, f"checkpoint: {path}"
    if not path.is_dir():
        what = "checkpoint not found" if path.suffix == ".ckpt" else "no such checkpoint file or run folder"
        raise FileNotFoundError(f"{path}: {what}")
    return RunFolder(path).best_checkpoint()
