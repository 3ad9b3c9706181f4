"""Train the scratch model a few steps under 2-process DDP on CPU (gloo); run as a script.

Usage: python ddp_train_scratch.py WORKDIR [EPOCHS [CRASH_AFTER_STEP | resume]]. Each rank
writes WORKDIR/rank<N>.json with the batches it trained on, so the test can check that both
ranks ran on different data. CRASH_AFTER_STEP makes both ranks die after that optimizer step;
`resume` continues from WORKDIR/ckpt/last.ckpt.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml
from crash_callback import Crash  # beside this script, which Python puts on sys.path
from lightning.pytorch.callbacks import Callback

from transformer_mlops.config import SyntheticConfig, parse_params
from transformer_mlops.data.synthetic import generate
from transformer_mlops.io import write_jsonl
from transformer_mlops.tasks.seq2seq import train

ROOT = Path(__file__).resolve().parents[2]


class RankReport(Callback):
    def __init__(self, workdir: Path):
        self.workdir, self.sources = workdir, []

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        self.sources.append(batch["src"][0].tolist())

    def on_train_end(self, trainer, module):
        report = {
            "rank": trainer.global_rank,
            "world_size": trainer.world_size,
            "first_sources": self.sources,
        }
        (self.workdir / f"rank{trainer.global_rank}.json").write_text(json.dumps(report))


def main(workdir: Path, epochs: int = 1, then: str = "") -> None:
    prepared = workdir / "prepared"
    if not prepared.exists():
        for split, rows in generate(
            "seq2seq", SyntheticConfig(train=256, validation=64, test=16), 0
        ).items():
            write_jsonl(prepared / f"{split}.jsonl", rows)
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["seq2seq"]["model"].update(
        d_model=32, d_ff=64, n_heads=2, n_encoder_layers=1, n_decoder_layers=1
    )
    raw["seq2seq"]["train"].update(batch_size=32, val_decode_limit=16)
    raw["seq2seq"]["train"]["trainer"].update(
        accelerator="cpu",
        devices=2,
        strategy="ddp",
        max_epochs=epochs,
        precision="32-true",
        num_threads=1,
        checkpoint_every_n_steps=3,
    )
    cfg = parse_params(raw).seq2seq
    callbacks = [RankReport(workdir)] + ([Crash(int(then))] if then.isdigit() else [])
    resume = workdir / "ckpt" / "last.ckpt" if then == "resume" else None
    train(cfg, prepared, workdir / "model", workdir / "ckpt", callbacks=callbacks, ckpt_path=resume,
          enable_progress_bar=False)  # fmt: skip


if __name__ == "__main__":
    main(
        Path(sys.argv[1]),
        *(int(a) if a.isdigit() and i == 0 else a for i, a in enumerate(sys.argv[2:])),
    )
