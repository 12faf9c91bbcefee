"""Validate a checkpoint on 1 or N CPU processes and write the metrics as JSON (used by
test_training.py); with DUMP_DIR, also keep ValidationDump's val_predictions.npz there (test_report.py).

    python tests/ddp_validate.py CKPT DATA_ROOT DEVICES OUT_JSON [DUMP_DIR]
"""

import json
import sys
from pathlib import Path

import pytorch_lightning as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from datamodules.algonauts import AlgonautsDataModule  # noqa: E402
from export.checkpoint import load_encoding_model  # noqa: E402
from run_folder.validation_dump import ValidationDump  # noqa: E402


def main(ckpt: str, root: str, devices: int, out: str, dump_dir: str | None = None) -> None:
    model, data_hparams = load_encoding_model(ckpt)
    # 7 validation videos: the two ranks get unequal shares (4 and 3), with no padded repeats.
    data_hparams.update(root=root, num_workers=0, batch_size=3, split="holdout", n_val=7)
    datamodule = AlgonautsDataModule(**data_hparams)
    trainer = pl.Trainer(accelerator="cpu", devices=devices, strategy="ddp" if devices > 1 else "auto",
                         logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         default_root_dir=dump_dir, callbacks=[ValidationDump()] if dump_dir else None)
    trainer.validate(model, datamodule=datamodule, verbose=False)
    if trainer.is_global_zero:
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k != "val/loss"}
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(metrics))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], *sys.argv[5:6])
