"""Validate a checkpoint on 1 or N CPU processes with ValidationDump (used by test_report.py).

    python tests/ddp_dump.py CKPT DATA_ROOT DEVICES OUT_DIR
"""

import sys
from pathlib import Path

import pytorch_lightning as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from datamodules.algonauts import AlgonautsDataModule  # noqa: E402
from export.checkpoint import load_encoding_model  # noqa: E402
from lightning_modules.validation_dump import ValidationDump  # noqa: E402


def main(ckpt: str, root: str, devices: int, out: str) -> None:
    model, data_hparams = load_encoding_model(ckpt)
    # 7 validation videos: the two ranks get unequal shares (4 and 3).
    data_hparams.update(root=root, num_workers=0, batch_size=3, split="holdout", n_val=7)
    trainer = pl.Trainer(accelerator="cpu", devices=devices, strategy="ddp" if devices > 1 else "auto",
                         logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         default_root_dir=out, callbacks=[ValidationDump()])
    trainer.validate(model, datamodule=AlgonautsDataModule(**data_hparams), verbose=False)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4])
