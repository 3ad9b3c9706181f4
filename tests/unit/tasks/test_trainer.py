"""The training plumbing: LR schedules, precision choice, fused AdamW with clipping, and the
Lightning Trainer built from params (tasks/optim.py, hardware.py, trainer.py)."""

from __future__ import annotations

import lightning as L
import pytest
import torch

from transformer_mlops.config import OptimizerConfig, TrainerConfig
from transformer_mlops.features.batching import LengthBucketBatchSampler, bucketed_loader
from transformer_mlops.tasks.hardware import Bf16MixedPrecision, resolve_precision
from transformer_mlops.tasks.optim import adamw_with_schedule, lr_lambda
from transformer_mlops.tasks.trainer import build_trainer


def test_lr_schedules_warm_up_then_decay():
    for schedule in ("inverse_sqrt", "cosine", "linear"):
        factor = lr_lambda(OptimizerConfig(warmup_steps=10, schedule=schedule), total_steps=100)
        assert factor(0) == pytest.approx(0.1) and factor(9) == pytest.approx(1.0)
        assert factor(50) < 1.0 and factor(99) <= factor(50)
    assert lr_lambda(OptimizerConfig(warmup_steps=10, schedule="cosine"), 100)(99) == pytest.approx(
        0.0, abs=1e-3
    )


def test_precision_auto_picks_by_hardware_and_explicit_values_pass_through():
    assert resolve_precision("32-true", "cpu") == "32-true"
    assert resolve_precision("bf16-mixed", "cpu") == "bf16-mixed"
    assert resolve_precision("auto", "cpu") in ("bf16-mixed", "32-true")


class _TinyRegression(L.LightningModule):
    """A linear fit whose optimizer comes from the stages' own `adamw_with_schedule`."""

    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(8, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return torch.nn.functional.mse_loss(self.layer(x).float(), y)

    def configure_optimizers(self):
        total = int(self.trainer.estimated_stepping_batches)
        return adamw_with_schedule(self, OptimizerConfig(lr=0.05, warmup_steps=1), total,
                                   str(self.trainer.precision))  # fmt: skip


@pytest.mark.parametrize("precision", ["32-true", "bf16-mixed"])
def test_training_with_clipping_and_fused_adamw_runs_in_full_and_bf16_precision(
    tmp_path, precision
):
    # Lightning refuses to clip gradients of a fused optimizer under mixed precision; bf16-mixed
    # is the default where the CPU has fast bf16, and our precision plugin makes it clip.
    torch.manual_seed(0)
    x = torch.randn(64, 8)
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, x[:, :1] * 3), 16)
    cfg = TrainerConfig(accelerator="cpu", precision=precision, max_epochs=3, gradient_clip_val=0.5)
    trainer = build_trainer(cfg, callbacks=[], root_dir=tmp_path, enable_progress_bar=False)
    module = _TinyRegression()
    before = module.layer.weight.detach().clone()
    trainer.fit(module, data)
    assert trainer.global_step == 12
    assert not torch.equal(module.layer.weight, before)
    assert trainer.optimizers[0].defaults["fused"]
    assert str(trainer.precision) == precision


class _BatchRecorder(_TinyRegression):
    """Records the example indices of every training batch, per epoch."""

    def __init__(self):
        super().__init__()
        self.seen: dict[int, list[list[int]]] = {}

    def training_step(self, batch, batch_idx):
        indices, x = batch
        self.seen.setdefault(self.current_epoch, []).append(indices.tolist())
        return self.layer(x).float().pow(2).mean()


def test_lightning_gives_the_bucketed_sampler_each_epoch(tmp_path):
    # Lightning calls set_epoch on `loader.batch_sampler.sampler`, not on the batch sampler: the
    # order must still change by epoch, and a length curriculum must end after its epochs.
    lengths = [(i * 7919) % 50 + 1 for i in range(96)]
    items = [(i, torch.full((8,), float(n))) for i, n in enumerate(lengths)]
    loader = bucketed_loader(items, lengths, 8, shuffle=True, seed=5, trainer=None,
                             collate=torch.utils.data.default_collate, curriculum_epochs=1)  # fmt: skip
    cfg = TrainerConfig(accelerator="cpu", precision="32-true", max_epochs=3)
    trainer = build_trainer(cfg, callbacks=[], root_dir=tmp_path, enable_progress_bar=False)
    module = _BatchRecorder()
    trainer.fit(module, loader)
    reference = LengthBucketBatchSampler(lengths, 8, seed=5, curriculum_epochs=1)
    for epoch in range(3):
        reference.set_epoch(epoch)
        assert module.seen[epoch] == list(reference)
    longest = {e: [max(lengths[i] for i in b) for b in module.seen[e]] for e in range(3)}
    assert longest[0] == sorted(longest[0])  # the curriculum epoch: shortest first
    assert longest[1] != sorted(longest[1]) and module.seen[1] != module.seen[2]


def test_bf16_plugin_clips_the_gradients_of_a_fused_optimizer():
    weight = torch.nn.Parameter(torch.zeros(4))
    weight.grad = torch.tensor([3.0, 4.0, 0.0, 0.0])  # norm 5
    optimizer = torch.optim.AdamW([weight], fused=True)
    Bf16MixedPrecision("cpu").clip_gradients(optimizer, clip_val=1.0)
    assert torch.linalg.vector_norm(weight.grad).item() == pytest.approx(1.0, rel=1e-5)


class _Unpicklable:
    def __reduce__(self):
        raise OSError(28, "No space left on device")  # what a full disk does mid-write


def test_a_failed_checkpoint_write_leaves_the_previous_file_whole(tmp_path):
    from transformer_mlops.tasks.trainer import AtomicCheckpointIO

    io, path = AtomicCheckpointIO(), tmp_path / "best.ckpt"
    io.save_checkpoint({"state_dict": {"w": torch.ones(3)}}, path)
    before = path.read_bytes()
    with pytest.raises(OSError, match="No space left"):
        io.save_checkpoint({"state_dict": {"w": torch.zeros(3)}, "extra": _Unpicklable()}, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.ckpt"]  # no temp file left
