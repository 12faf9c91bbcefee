"""One training step of the real EncodingModel on 1 or 2 CPU processes (gloo DDP); writes the
parameters' gradients as DDP leaves them for the optimiser (used by test_ddp_fit.py).

    python tests/ddp_gradients.py DEVICES OUT_DIR [PRECISION]

The batch is fixed (seeded): 8 clips, some targets NaN. With 2 processes rank 0 holds clips
0-4 and rank 1 clips 5-7 (unequal shares on purpose); one process holds all 8 in one batch.
Each rank writes ``OUT_DIR/grads_rank<r>.pt``: ``{parameter name: gradient}``.
"""

import sys
from pathlib import Path

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lightning_modules.settings import (
    BackboneSettings,
    OptimisationSettings,
    RidgeSettings,
    TemporalSettings,
)
from lightning_modules.system import EncodingModel  # noqa: E402

VOXELS = {"sub01": {"V1": 7, "FFA": 5}, "sub02": {"V1": 6, "FFA": 4}}
N_CLIPS, FRAMES, SIZE = 8, 4, 32
SHARES = {1: [range(0, 8)], 2: [range(0, 5), range(5, 8)]}


def fixed_batch() -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(123)
    n_voxels = sum(sum(rois.values()) for rois in VOXELS.values())
    video = torch.randint(0, 256, (N_CLIPS, FRAMES, 3, SIZE, SIZE), dtype=torch.uint8, generator=gen)
    targets = torch.randn(N_CLIPS, n_voxels, generator=gen)
    targets[[1, 6], 3] = float("nan")  # unmeasured entries, one on each rank
    targets[:, 9] = float("nan")  # a voxel never measured
    return {"video": video, "targets": targets}


class Share(Dataset):
    """One batch: the rows of the fixed batch that this rank holds."""

    def __init__(self, rows, float64: bool):
        batch = {k: v[list(rows)] for k, v in fixed_batch().items()}
        if float64:  # the encoder would turn uint8 frames into float32; give it float64 in [0, 1]
            batch = {"video": batch["video"].double() / 255, "targets": batch["targets"].double()}
        self.batch = batch

    def __len__(self):
        return 1

    def __getitem__(self, i):
        return self.batch


class ShareData(pl.LightningDataModule):
    def __init__(self, devices: int, float64: bool):
        super().__init__()
        self.devices, self.float64 = devices, float64

    def train_dataloader(self):
        rows = SHARES[self.devices][self.trainer.global_rank]
        return DataLoader(Share(rows, self.float64), batch_size=None)


class DumpGradients(pl.Callback):
    def __init__(self, out: Path):
        self.out = out

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        grads = {n: p.grad.detach().clone() for n, p in pl_module.named_parameters() if p.grad is not None}
        self.out.mkdir(parents=True, exist_ok=True)
        torch.save(grads, self.out / f"grads_rank{trainer.global_rank}.pt")


def main(devices: int, out: str, precision: str = "32-true") -> None:
    pl.seed_everything(0)
    model = EncodingModel(voxel_counts=VOXELS, backbone=BackboneSettings("resnet18", layers=[3, 4]),
                          temporal=TemporalSettings("weighted"), num_frames=FRAMES, image_size=SIZE,
                          optimisation=OptimisationSettings(freeze_backbone_epochs=0, mse_weight=0.1, warmup_epochs=0),
                          ridge=RidgeSettings(fit=False))
    trainer = pl.Trainer(accelerator="cpu", devices=devices, strategy="ddp" if devices > 1 else "auto",
                         max_epochs=1, limit_val_batches=0, precision=precision, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, use_distributed_sampler=False,
                         callbacks=[DumpGradients(Path(out))])
    trainer.fit(model, datamodule=ShareData(devices, precision.startswith("64")))


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2], *sys.argv[3:4])
