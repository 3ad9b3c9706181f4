"""Training the from-scratch Transformer with Lightning: data module, module, `train()`."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from tokenizers import Tokenizer

from transformer_mlops.config import Seq2SeqConfig, Seq2SeqTrainConfig
from transformer_mlops.features.batching import LengthBucketBatchSampler
from transformer_mlops.features.seq2seq import collate, encode_pairs
from transformer_mlops.inference.scratch import save_scratch_model
from transformer_mlops.io import read_jsonl
from transformer_mlops.models.fast_dropout import use_fast_dropout
from transformer_mlops.models.tokenization import BOS_ID, EOS_ID, PAD_ID, train_tokenizer
from transformer_mlops.models.transformer import Transformer, build_model, greedy_decode
from transformer_mlops.tasks.hardware import configure_threads
from transformer_mlops.tasks.optim import adamw_with_schedule
from transformer_mlops.tasks.resume import ResumableBatches
from transformer_mlops.tasks.trainer import fit_best

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------- data


class Seq2SeqDataModule(ResumableBatches, L.LightningDataModule):
    """Prepared JSON lines -> length-bucketed, dynamically padded batches."""

    def __init__(self, prepared_dir: str | Path, tokenizer: Tokenizer, cfg: Seq2SeqConfig):
        super().__init__()
        self.prepared_dir = Path(prepared_dir)
        self.tokenizer = tokenizer
        self.cfg = cfg
        self.splits: dict[str, list] = {}
        self.records: dict[str, list[dict]] = {}

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        tok = self.cfg.tokenizer
        for split in ("train", "validation"):
            self.records[split] = read_jsonl(self.prepared_dir / f"{split}.jsonl")
            self.splits[split], truncated = encode_pairs(
                self.tokenizer, self.records[split], tok.max_source_tokens, tok.max_target_tokens
            )
            if truncated:
                log.warning("%s: %d of %d pairs truncated to max_source/target_tokens",
                            split, truncated, len(self.splits[split]))  # fmt: skip

    def _loader(self, split: str, shuffle: bool) -> torch.utils.data.DataLoader:
        data = self.splits[split]
        trainer = self.trainer
        sampler = LengthBucketBatchSampler(
            [len(s) + len(t) for s, t in data],
            self.cfg.train.batch_size,
            shuffle=shuffle,
            seed=self.cfg.train.seed,
            num_replicas=trainer.world_size if trainer else 1,
            rank=trainer.global_rank if trainer else 0,
        )
        return torch.utils.data.DataLoader(data, batch_sampler=sampler, collate_fn=collate)

    def train_dataloader(self):
        return self.resume_position(self._loader("train", shuffle=True))

    def val_dataloader(self):
        return self._loader("validation", shuffle=False)


# ----------------------------------------------------------------------------------- module


class Seq2SeqModule(L.LightningModule):
    """Label-smoothed teacher forcing; validation adds greedy-decoded exact match."""

    def __init__(self, model: Transformer, train_cfg: Seq2SeqTrainConfig):
        super().__init__()
        self.model = model
        self.train_cfg = train_cfg
        self.save_hyperparameters({"model": asdict(model.config), "train": train_cfg.model_dump()})
        self._val_hits = self._val_total = 0

    def forward(self, src: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        return self.model(src, tgt_in)

    def model_step(
        self, batch: dict[str, torch.Tensor], smoothing: float
    ) -> dict[str, torch.Tensor]:
        """Loss, token accuracy and token count of one batch (shared by train/val/test)."""
        logits = self(batch["src"], batch["tgt_in"])
        labels = batch["tgt_out"]
        loss = F.cross_entropy(logits.flatten(0, 1).float(), labels.flatten(),
                               ignore_index=PAD_ID, label_smoothing=smoothing)  # fmt: skip
        real = labels != PAD_ID
        correct = ((logits.argmax(-1) == labels) & real).sum()
        return {"loss": loss, "correct": correct, "tokens": real.sum()}

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        out = self.model_step(batch, self.train_cfg.label_smoothing)
        self.log("train/loss", out["loss"], prog_bar=True)
        self.log("train/lr", self.optimizers().param_groups[0]["lr"])
        return out["loss"]

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        out = self.model_step(batch, 0.0)
        n = batch["src"].size(0)
        self.log("val/loss", out["loss"], batch_size=n, sync_dist=True, prog_bar=True)
        self.log(
            "val/token_acc", 100.0 * out["correct"] / out["tokens"], batch_size=n, sync_dist=True
        )
        if self._val_total < self.train_cfg.val_decode_limit:  # exact match on a decoded subset
            max_len = batch["tgt_out"].size(1) + 8
            hyp = greedy_decode(self.model, batch["src"], BOS_ID, EOS_ID, max_len)
            for row in range(n):
                gold = batch["tgt_out"][row][batch["tgt_out"][row] != PAD_ID].tolist()
                pred = hyp[row].tolist()
                pred = pred[: pred.index(EOS_ID) + 1] if EOS_ID in pred else pred
                self._val_hits += pred == gold
            self._val_total += n

    def on_validation_epoch_end(self) -> None:
        hits = torch.tensor(float(self._val_hits), device=self.device)
        total = torch.tensor(float(max(self._val_total, 1)), device=self.device)
        if self.trainer.world_size > 1:
            hits, total = self.all_gather(hits).sum(), self.all_gather(total).sum()
        self.log("val/exact_match", 100.0 * hits / total, prog_bar=True)  # percent, as in reports
        self._val_hits = self._val_total = 0

    def configure_optimizers(self):
        total = int(self.trainer.estimated_stepping_batches)
        return adamw_with_schedule(
            self.model, self.train_cfg.optimizer, total, str(self.trainer.precision)
        )


# ----------------------------------------------------------------------------------- train


def train(cfg: Seq2SeqConfig, prepared_dir: str | Path, model_dir: str | Path,
          checkpoint_dir: str | Path, callbacks: list | None = None, logger=False,
          ckpt_path: str | Path | None = None, **trainer_overrides: Any) -> dict[str, Any]:  # fmt: skip
    """Train the scratch model on prepared data; save the best weights to `model_dir`.
    `ckpt_path` resumes an interrupted run (see tracking/stage.py).

    Returns a summary: best validation metrics, steps, throughput and wall time.
    """
    started = time.perf_counter()
    configure_threads(cfg.train.trainer)
    L.seed_everything(cfg.train.seed, workers=True, verbose=False)
    train_records = read_jsonl(Path(prepared_dir) / "train.jsonl")
    texts = [r["source"] for r in train_records] + [r["target"] for r in train_records]
    tokenizer = train_tokenizer(texts, cfg.tokenizer.kind, cfg.tokenizer.vocab_size)
    vocab = tokenizer.get_vocab_size()
    longest = max(cfg.tokenizer.max_source_tokens, cfg.tokenizer.max_target_tokens) + 8
    model_cfg = replace(cfg.model, src_vocab_size=vocab, tgt_vocab_size=vocab, pad_id=PAD_ID,
                        max_len=max(cfg.model.max_len, longest))  # fmt: skip
    model = build_model(model_cfg)
    if cfg.train.trainer.fast_dropout:
        use_fast_dropout(model)
    log.info(
        "scratch model: %.2fM parameters, vocab %d",
        sum(p.numel() for p in model.parameters()) / 1e6,
        vocab,
    )
    data = Seq2SeqDataModule(prepared_dir, tokenizer, cfg)
    module = Seq2SeqModule(model, cfg.train)
    trainer, summary = fit_best(module, data, cfg.train.trainer, monitor="val/exact_match",
                                patience=cfg.train.early_stopping_patience,
                                real_tokens=lambda batch: (batch["tgt_out"] != PAD_ID).sum(),
                                checkpoint_dir=checkpoint_dir, callbacks=callbacks,
                                logger=logger, ckpt_path=ckpt_path, **trainer_overrides)  # fmt: skip
    if trainer.is_global_zero:
        save_scratch_model(module.model.cpu(), tokenizer, model_dir)
    return {
        "best_val_exact_match": summary.pop("best"),
        **summary,
        "epochs": trainer.current_epoch,
        "wall_seconds": time.perf_counter() - started,
    }
