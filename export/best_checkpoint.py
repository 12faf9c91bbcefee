"""Which checkpoint a run folder stands for: its best validation's, as its ``summary.json`` names it.

``predict.py --ckpt_path runs/demo/version_0`` predicts with the run's best checkpoint (highest
``val/score``), not ``last.ckpt`` (the latest epoch, kept for resuming), and says which it used.
"""

from __future__ import annotations

import json
from pathlib import Path


def resolve_checkpoint(path: str | Path) -> tuple[Path, str]:
    """The checkpoint file ``path`` stands for, and a line saying which it is and why.

    A file is itself. A run folder (``runs/<name>/version_N``) gives the best checkpoint named
    in its ``summary.json`` (looked up in the folder's ``checkpoints/`` by name, so a moved run
    folder still works); a run without a summary (stopped before the end) gives its newest
    ``best-*.ckpt``, else ``last.ckpt``. Raises FileNotFoundError naming what is missing.
    """
    path = Path(path)
    if path.is_file():
        return path, f"checkpoint: {path}"
    if not path.is_dir():
        what = "checkpoint not found" if path.suffix == ".ckpt" else "no such checkpoint file or run folder"
        raise FileNotFoundError(f"{path}: {what}")
    checkpoints = path / "checkpoints"
    summary_path = path / "summary.json"
    if summary_path.is_file():
        summary = json.loads(summary_path.read_text())
        named = summary.get("best_checkpoint")
        if named:
            for candidate in (checkpoints / Path(named).name, Path(named)):
                if candidate.is_file():
                    score = (summary.get("best") or {}).get("score", {}).get("overall")
                    detail = f"best val/score {score:.4f}, epoch {summary.get('best_epoch')}" if score is not None \
                        else f"epoch {summary.get('best_epoch')}"
                    return candidate, f"checkpoint: {candidate} (the run's best: {detail}; from {summary_path})"
    best = sorted(checkpoints.glob("best-*.ckpt"), key=lambda p: p.stat().st_mtime_ns)
    if best:
        return best[-1], f"checkpoint: {best[-1]} (newest best-*.ckpt; {summary_path.name} names none)"
    if (checkpoints / "last.ckpt").is_file():
        return checkpoints / "last.ckpt", (f"checkpoint: {checkpoints / 'last.ckpt'} (no best checkpoint in "
                                           f"{checkpoints}: the latest epoch's)")
    raise FileNotFoundError(f"{path}: a folder without checkpoints (expected a run folder such as "
                            "runs/demo/version_0, holding checkpoints/ and summary.json)")
