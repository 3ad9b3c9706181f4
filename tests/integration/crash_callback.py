"""A Lightning callback that dies after a given optimizer step, like a killed process: no
checkpoint is written for that step. Used in-process and by ddp_train_scratch.py."""

from __future__ import annotations

from lightning.pytorch.callbacks import Callback


class Crash(Callback):
    def __init__(self, at_step: int):
        self.at_step = at_step

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        if trainer.global_step == self.at_step:
            raise RuntimeError("simulated crash")
