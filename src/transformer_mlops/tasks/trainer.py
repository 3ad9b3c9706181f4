"""What every training stage shares: precision choice, LR schedules, the Lightning Trainer."""

from __future__ import annotations

import functools
import logging
import math
import os
import time
import warnings
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint
from lightning.pytorch.plugins.precision import MixedPrecision, Precision
from lightning.pytorch.utilities import GradClipAlgorithmType

from transformer_mlops.config import FinetuneTrainConfig, OptimizerConfig, TrainerConfig
from transformer_mlops.tasks.pretrained import save_pretrained_atomically

log = logging.getLogger(__name__)

# Our data modules do resume mid-epoch (tasks/resume.py: ResumableBatches), through the
# datamodule's state rather than a stateful DataLoader, which is what this warning looks for.
warnings.filterwarnings("ignore", message="You're resuming from a checkpoint that ended before")


@functools.cache
def cpu_has_fast_bf16() -> bool:
    """True when the CPU has bf16 matrix instructions (AVX512-BF16 or AMX).

    Without them PyTorch emulates bf16 matmuls, which is far slower than fp32: measured on an
    AVX2-only EPYC, a 2048^2 bf16 matmul ran at 0.3 GFLOP/s against 143 GFLOP/s in fp32.
    """
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(flag in flags for flag in ("avx512_bf16", "amx_bf16"))


def on_gpu(accelerator: str) -> bool:
    """Whether a Trainer with this `accelerator` setting runs on a CUDA device."""
    return accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())


def resolve_precision(precision: str, accelerator: str) -> str:
    """`auto` -> bf16-mixed where bf16 is fast (recent GPUs, AVX512-BF16/AMX CPUs), else 32-true."""
    if precision != "auto":
        return precision
    if on_gpu(accelerator):
        return (
            "bf16-mixed"
            if torch.cuda.is_available() and torch.cuda.is_bf16_supported()
            else "16-mixed"
        )
    return "bf16-mixed" if cpu_has_fast_bf16() else "32-true"


def lr_lambda(cfg: OptimizerConfig, total_steps: int, d_model: int | None = None):
    """Multiplier of the peak LR at each step: linear warmup, then the configured decay."""
    warmup = max(cfg.warmup_steps, 1)

    def factor(step: int) -> float:
        step = step + 1
        if step <= warmup:
            return step / warmup
        if cfg.schedule == "inverse_sqrt":  # the paper's schedule, peak-normalised (5.3)
            return math.sqrt(warmup / step)
        progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        if cfg.schedule == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * progress))
        if cfg.schedule == "linear":
            return 1.0 - progress
        return 1.0

    return factor


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """AdamW groups: no weight decay on biases, norms and embeddings."""
    decay, no_decay = [], []
    seen: set[int] = set()
    for name, param in model.named_parameters():
        if not param.requires_grad or id(param) in seen:
            continue
        seen.add(id(param))
        skip = param.dim() < 2 or "norm" in name.lower() or "embed" in name.lower() or "lut" in name
        (no_decay if skip else decay).append(param)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def adamw_with_schedule(model: torch.nn.Module, cfg: OptimizerConfig, total_steps: int,
                        precision: str = "32-true") -> dict:  # fmt: skip
    """Lightning's `configure_optimizers` answer: AdamW (decay groups) + per-step LR schedule.

    AdamW is torch's fused kernel where it has one (CPU, CUDA): one pass over all parameters
    instead of a loop of small ops per tensor (10% of a fp32 MiniLM step on 2 cores, 29% of a
    bf16 one). Not under fp16 (`precision` as the Trainer reports it, "16-mixed"): a fused
    optimizer unscales fp16 gradients inside its step, so Lightning cannot clip them before;
    there torch picks its default kernel."""
    groups = param_groups(model, cfg.weight_decay)
    fused = precision != "16-mixed" and all(
        p.device.type in ("cpu", "cuda") and p.is_floating_point()
        for group in groups for p in group["params"]
    )  # fmt: skip
    optimizer = torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas, fused=fused or None)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(cfg, total_steps))
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


def configure_threads(cfg: TrainerConfig) -> None:
    """Use every core for intra-op parallelism unless told otherwise (torch picks too few
    on some containers)."""
    threads = cfg.num_threads or len(os.sched_getaffinity(0))
    torch.set_num_threads(threads)


class Bf16MixedPrecision(MixedPrecision):
    """Lightning's bf16 autocast, but gradient clipping also works with a fused optimizer.

    Lightning refuses to clip under any mixed precision when the optimizer unscales gradients
    inside its step (fused AdamW does): that guards fp16's grad scaler, which clipping must
    come after. bf16 has no scaler, so the gradients are final and clipping them is plain."""

    def __init__(self, device: str):
        super().__init__("bf16-mixed", device)

    def clip_gradients(self, optimizer, clip_val=0.0, gradient_clip_algorithm=None) -> None:
        algorithm = gradient_clip_algorithm or GradClipAlgorithmType.NORM
        Precision.clip_gradients(self, optimizer, clip_val, algorithm)


def build_trainer(cfg: TrainerConfig, *, callbacks: list, logger=False, root_dir: str | Path,
                  enable_progress_bar: bool = True, **overrides) -> L.Trainer:  # fmt: skip
    """A Lightning Trainer from params; `overrides` are for tests (e.g. limit_train_batches)."""
    precision = resolve_precision(cfg.precision, cfg.accelerator)
    log.info("precision %s (params: %s)", precision, cfg.precision)
    if precision == "bf16-mixed":
        device = "cuda" if on_gpu(cfg.accelerator) else "cpu"
        precision_kwargs = {"plugins": [Bf16MixedPrecision(device)]}
    else:
        precision_kwargs = {"precision": precision}
    kwargs = dict(
        accelerator=cfg.accelerator,
        devices=cfg.devices,
        strategy=cfg.strategy,
        num_nodes=cfg.num_nodes,
        **precision_kwargs,
        max_epochs=cfg.max_epochs,
        max_steps=cfg.max_steps,
        max_time={"minutes": cfg.max_minutes} if cfg.max_minutes else None,
        deterministic=cfg.deterministic,
        gradient_clip_val=cfg.gradient_clip_val,
        accumulate_grad_batches=cfg.accumulate_grad_batches,
        log_every_n_steps=cfg.log_every_n_steps,
        callbacks=callbacks,
        logger=logger,
        default_root_dir=str(root_dir),
        enable_progress_bar=enable_progress_bar,
        enable_model_summary=False,
        use_distributed_sampler=False,  # our batch samplers shard by rank themselves
    )
    kwargs.update(overrides)
    return L.Trainer(**kwargs)


def best_checkpoint_callbacks(checkpoint_dir: str | Path, monitor: str, patience: int,
                              every_n_steps: int = 50) -> list[Callback]:  # fmt: skip
    """[best checkpoint, early stopping, last.ckpt, per-step seeds]: the best weights by
    `monitor` (higher is better), and what a resume after a crash needs (see tasks/resume.py).

    Early stopping is checked after validations only: max_steps may end training mid-epoch,
    when no validation metric exists yet.
    """
    from transformer_mlops.tasks.resume import ResumeCheckpoint, StepSeeds

    best = ModelCheckpoint(
        dirpath=str(checkpoint_dir), filename="best", monitor=monitor, mode="max"
    )
    stopper = EarlyStopping(
        monitor=monitor, mode="max", patience=patience, check_on_train_epoch_end=False
    )
    return [best, stopper, ResumeCheckpoint(checkpoint_dir, every_n_steps), StepSeeds()]


class ValidationTracker(Callback):
    """Remembers the global step of the last validation run during fit."""

    def __init__(self):
        self.last_step = -1

    def on_validation_end(self, trainer, module):
        if not trainer.sanity_checking:
            self.last_step = trainer.global_step


def fit_and_restore_best(trainer: L.Trainer, module: L.LightningModule, datamodule: L.LightningDataModule,
                         checkpoint: ModelCheckpoint, monitor: str,
                         ckpt_path: str | Path | None = None) -> float | None:  # fmt: skip
    """Fit, then leave the best weights (by `monitor`, higher is better) in `module`.

    When training stopped between validations (max_steps or max_time mid-epoch) the final,
    fully annealed weights are validated too, so they are not thrown away for an older best.
    `ckpt_path` resumes an interrupted fit (tensors only: weights_only=True). Returns the best score.
    """
    tracker = ValidationTracker()
    trainer.callbacks.append(tracker)
    trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path,
                weights_only=True if ckpt_path else None)  # fmt: skip
    best = float(checkpoint.best_model_score) if checkpoint.best_model_score is not None else None
    path = checkpoint.best_model_path
    if tracker.last_step != trainer.global_step:
        final = float(trainer.validate(module, datamodule=datamodule, verbose=False)[0][monitor])
        if best is None or final >= best:
            best, path = final, ""
    if path:  # an earlier validation was best: use its weights
        module.load_state_dict(
            torch.load(path, map_location="cpu", weights_only=True)["state_dict"]
        )
    return best


def finetune_and_save(module: L.LightningModule, data: L.LightningDataModule, tokenizer,
                      train: FinetuneTrainConfig, checkpoint_dir: str | Path, model_dir: str | Path,
                      callbacks: list | None = None, logger=False,
                      ckpt_path: str | Path | None = None, **overrides) -> dict[str, Any]:  # fmt: skip
    """The fine-tuning shared by NER and QA: fit with the best checkpoint and early stopping on
    validation F1 (`ckpt_path` resumes), save the best `module.model` with `tokenizer` to
    `model_dir` (rank 0, `save_pretrained`), and return what both stages report: best score,
    steps, throughput of real (attention-mask) tokens, precision."""
    throughput = Throughput(lambda batch: batch["attention_mask"].sum())
    fit_callbacks = best_checkpoint_callbacks(checkpoint_dir, "val/f1", train.early_stopping_patience,
                                              train.trainer.checkpoint_every_n_steps)  # fmt: skip
    trainer = build_trainer(train.trainer, callbacks=[*fit_callbacks, throughput, *(callbacks or [])],
                            logger=logger, root_dir=checkpoint_dir, **overrides)  # fmt: skip
    best = fit_and_restore_best(trainer, module, data, fit_callbacks[0], "val/f1", ckpt_path)
    if trainer.is_global_zero:
        save_pretrained_atomically(module.model.cpu(), tokenizer, model_dir)
    return {
        "best_val_f1": best or 0.0,
        "global_step": trainer.global_step,
        "train_tokens_per_second": throughput.tokens_per_second,
        "train_seconds": throughput.seconds,
        "precision": str(trainer.precision),
    }


class Throughput(Callback):
    """Tokens per second of training steps (forward, backward, optimizer), for reports/speed.

    `count` says how many real tokens a batch holds (e.g. non-pad target tokens).
    """

    def __init__(self, count):
        self.count = count
        self.tokens, self.seconds, self._start = 0, 0.0, 0.0

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        self._start = time.perf_counter()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        self.seconds += time.perf_counter() - self._start
        self.tokens += int(self.count(batch))

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / max(self.seconds, 1e-9)


def speed_report(summary: dict) -> dict:
    """What goes to reports/speed/<task>.json: timings live here, never in reports/metrics."""
    report = {
        "train/tokens_per_second": round(summary["train_tokens_per_second"], 1),
        "train/seconds": round(summary["train_seconds"], 1),
        "stage/wall_seconds": round(summary["wall_seconds"], 1),
        "train/steps": summary["global_step"],
        "train/precision": summary["precision"],
    }
    if "split_sentences" in summary:
        report["train/split_sentences"] = summary["split_sentences"]
    if "windows" in summary:
        report["train/windows"] = summary["windows"]
    return report
