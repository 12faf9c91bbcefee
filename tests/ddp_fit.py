"""``train.py fit`` with any arguments (DDP included), plus a record of what the ranks ended with
(used by test_ddp_fit.py and benchmarks/ddp_fit.py).

    python tests/ddp_fit.py OUT_JSON --config configs/demo.yaml --trainer.devices 2 ...    # always fit

Rank 0 writes OUT_JSON: ``summary`` (the run's summary.json), ``callback_metrics``, ``wall_s``
(the fit's wall time), ``optimizer_steps``, ``backbone_trainable`` per epoch,
``backbone_moved`` per epoch (whether the backbone's weights changed during that epoch), and
``rank_mismatch``: the largest difference, over every parameter, between any rank's weights and
rank 0's at the end of fit (0 when DDP kept the ranks in sync).
"""

import json
import sys
import time
from pathlib import Path

import pytorch_lightning as pl
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import train  # noqa: E402
from runtime.distributed import world_size  # noqa: E402


def _flat(module: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().double().reshape(-1).cpu() for p in module.parameters()])


class RankRecord(pl.Callback):
    def __init__(self, out: Path):
        self.out = out
        self.trainable: list[bool] = []
        self.moved: list[bool] = []
        self.start = time.perf_counter()

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        # At the first batch, not at epoch start: callbacks' epoch-start hooks run before the
        # module's, where the backbone is frozen or unfrozen.
        if batch_idx == 0:
            self.backbone_at_start = _flat(pl_module.model.backbone)
            self.trainable.append(not pl_module.model.backbone_frozen)

    def on_train_epoch_end(self, trainer, pl_module):
        self.moved.append(not torch.equal(self.backbone_at_start, _flat(pl_module.model.backbone)))

    def on_fit_end(self, trainer, pl_module):
        weights = _flat(pl_module).to(pl_module.device)
        if world_size() > 1:
            copies = [torch.zeros_like(weights) for _ in range(world_size())]
            torch.distributed.all_gather(copies, weights)
        else:
            copies = [weights]
        summary_path = Path(trainer.log_dir) / "summary.json"  # a broadcast: every rank asks
        if not trainer.is_global_zero:
            return
        mismatch = max(float((c - copies[0]).abs().max()) for c in copies)
        record = {
            "wall_s": time.perf_counter() - self.start,
            "world_size": trainer.world_size,
            "optimizer_steps": trainer.global_step,
            "backbone_trainable": self.trainable,
            "backbone_moved": self.moved,
            "rank_mismatch": mismatch,
            "callback_metrics": {k: float(v) for k, v in trainer.callback_metrics.items()},
            "summary": json.loads(summary_path.read_text()) if summary_path.is_file() else None,
        }
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.out.write_text(json.dumps(record, indent=2))


def main(out: str, args: list[str]) -> None:
    cli = train.main(args, run=False)
    cli.trainer.callbacks.append(RankRecord(Path(out)))
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
