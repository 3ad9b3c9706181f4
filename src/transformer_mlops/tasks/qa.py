"""Extractive-QA fine-tuning with Lightning: a pretrained encoder + start/end span head.

Questions are windowed over their contexts (see `features/qa.py`); training learns start/end
token positions (CLS when a window does not hold the answer). Validation picks each question's
best span over all its windows and scores SQuAD F1, which drives early stopping and the best
checkpoint. The result is saved with `save_pretrained`, so `transformers.pipeline` loads it.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
from transformers import AutoModelForQuestionAnswering

from transformer_mlops.config import QaConfig
from transformer_mlops.errors import ConfigError
from transformer_mlops.features.batching import IGNORE, bucketed_loader, model_inputs
from transformer_mlops.features.qa import (
    Candidate,
    QaFeature,
    best_span,
    collate,
    encode_records,
    pick_answers,
)
from transformer_mlops.features.squad_metric import squad_scores
from transformer_mlops.io import read_jsonl
from transformer_mlops.tasks.hardware import configure_threads
from transformer_mlops.tasks.optim import adamw_with_schedule
from transformer_mlops.tasks.pretrained import (
    finetune_and_save,
    layer_lr_scales,
    load_for_finetuning,
)
from transformer_mlops.tasks.resume import ResumableBatches

log = logging.getLogger(__name__)


class IndexedFeatures(torch.utils.data.Dataset):
    """Features that remember their position, so validation can find each row's window."""

    def __init__(self, features: list[QaFeature]):
        self.features = features

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, index: int) -> tuple[int, QaFeature]:
        return index, self.features[index]


def collate_indexed(items: list[tuple[int, QaFeature]], pad_id: int) -> dict[str, torch.Tensor]:
    """`collate` of (index, window) pairs; `feature` holds each row's window index."""
    batch = collate([feature for _, feature in items], pad_id)
    batch["feature"] = torch.tensor([index for index, _ in items])
    return batch


class QaDataModule(ResumableBatches, L.LightningDataModule):
    """Prepared questions -> (question, context window) features, length-bucketed."""

    def __init__(self, prepared_dir: str | Path, tokenizer, cfg: QaConfig):
        super().__init__()
        self.prepared_dir, self.tokenizer, self.cfg = Path(prepared_dir), tokenizer, cfg
        self.records: dict[str, list[dict]] = {}
        self.features: dict[str, list[QaFeature]] = {}

    def setup(self, stage: str | None = None) -> None:
        for split in ("train", "validation"):
            if split in self.features:
                continue
            source = self.prepared_dir / f"{split}.jsonl"
            records = self.records[split] = read_jsonl(source)
            self.features[split] = encode_records(
                self.tokenizer, records, self.cfg, source,
                with_evidence=split == "train" and self.cfg.train.evidence.weight > 0,
            )  # fmt: skip

    def _loader(self, split: str, shuffle: bool, batch_size: int):
        features, pad_id = self.features[split], self.tokenizer.pad_token_id
        return bucketed_loader(IndexedFeatures(features), [len(f.input_ids) for f in features], batch_size,
                               shuffle=shuffle, seed=self.cfg.train.seed, trainer=self.trainer,
                               collate=lambda b: collate_indexed(b, pad_id),
                               curriculum_epochs=self.cfg.train.length_curriculum_epochs)  # fmt: skip

    def train_dataloader(self):
        return self.resume_position(self._loader("train", True, self.cfg.train.batch_size))

    def val_dataloader(self):
        return self._loader("validation", False, self.cfg.train.eval_batch_size)


class QaModule(L.LightningModule):
    """Span extraction; validation SQuAD exact match and F1 over whole questions.

    With `train.evidence.weight > 0` a second, training-only head reads one encoder layer and
    learns which context tokens lie in the example's evidence sentences (binary cross-entropy),
    added to the span loss. It pushes that layer to gather what the answer rests on, e.g. every
    sentence about whoever holds the asked-for object. The saved model does not include it: it
    is a standard `AutoModelForQuestionAnswering`."""

    def __init__(self, model, cfg: QaConfig):
        super().__init__()
        self.model, self.cfg = model, cfg
        self.save_hyperparameters({"qa": cfg.model_dump(exclude={"data"})})
        self._candidates: list[Candidate] = []
        evidence = cfg.train.evidence
        self.evidence_head = None
        if evidence.weight > 0:
            layers = model.config.num_hidden_layers
            if not -(layers + 1) <= evidence.layer <= layers:
                raise ConfigError(
                    f"qa.train.evidence.layer = {evidence.layer}: {cfg.model} has {layers} layers, "
                    f"so the layer must be in [{-(layers + 1)}, {layers}] (0 = embeddings)"
                )
            frozen = cfg.train.freeze_layers  # hidden_states[i] is layer i's output
            if frozen and evidence.layer % (layers + 1) <= frozen:
                raise ConfigError(
                    f"qa.train.evidence.layer = {evidence.layer} reads a frozen layer "
                    f"(qa.train.freeze_layers = {frozen}): only its head would learn; read a layer "
                    f"above {frozen}"
                )
            self.evidence_head = torch.nn.Linear(model.config.hidden_size, 1)

    def training_step(self, batch, batch_idx):
        with_evidence = self.evidence_head is not None
        out = self.model(**model_inputs(batch), start_positions=batch["start_positions"],
                         end_positions=batch["end_positions"],
                         output_hidden_states=with_evidence)  # fmt: skip
        loss = out.loss
        if with_evidence:
            evidence_loss = self._evidence_loss(out.hidden_states, batch.get("evidence_labels"))
            self.log("train/span_loss", out.loss)
            self.log("train/evidence_loss", evidence_loss)
            loss = loss + self.cfg.train.evidence.weight * evidence_loss
        self.log("train/loss", loss, prog_bar=True)
        self.log("train/lr", self.optimizers().param_groups[0]["lr"])
        return loss

    def _evidence_loss(self, hidden_states, labels: torch.Tensor | None) -> torch.Tensor:
        logits = (
            self.evidence_head(hidden_states[self.cfg.train.evidence.layer]).squeeze(-1).float()
        )
        known = labels != IGNORE if labels is not None else None
        if known is None or not known.any():  # no evidence in this batch: a zero that still
            return logits.sum() * 0.0  # touches the head, so DDP sees every parameter used
        return torch.nn.functional.binary_cross_entropy_with_logits(
            logits[known], labels[known].float()
        )

    def validation_step(self, batch, batch_idx):
        out = self.model(**model_inputs(batch), start_positions=batch["start_positions"],
                         end_positions=batch["end_positions"])  # fmt: skip
        self.log("val/loss", out.loss, batch_size=batch["input_ids"].size(0), sync_dist=True)
        features, cfg = self.trainer.datamodule.features["validation"], self.cfg
        for row, index in enumerate(batch["feature"].tolist()):
            candidate = best_span(features[index], out.start_logits[row], out.end_logits[row],
                                  cfg.n_best, cfg.max_answer_length)  # fmt: skip
            if candidate is not None:
                self._candidates.append(candidate)

    def on_validation_epoch_end(self) -> None:
        gathered = [self._candidates]
        if self.trainer.world_size > 1:  # a question's windows may sit on different ranks
            gathered = [None] * self.trainer.world_size
            torch.distributed.all_gather_object(gathered, self._candidates)
        records = self.trainer.datamodule.records["validation"]
        answers = pick_answers(
            [c for part in gathered for c in part], [r["context"] for r in records]
        )
        scores = squad_scores(
            [a["answer"] for a in answers], [r["answers"]["text"] for r in records]
        )
        self.log("val/f1", scores["f1"], prog_bar=True)
        self.log("val/exact_match", scores["exact_match"])
        self._candidates = []

    def configure_optimizers(self):
        total = int(self.trainer.estimated_stepping_batches)
        scales = layer_lr_scales(self.model, self.cfg.train.layer_lr_decay)
        return adamw_with_schedule(  # `self`: the model and the evidence head, if any
            self, self.cfg.train.optimizer, total, str(self.trainer.precision), scales
        )


def train(cfg: QaConfig, prepared_dir: str | Path, model_dir: str | Path, checkpoint_dir: str | Path,
          callbacks: list | None = None, logger=False, ckpt_path: str | Path | None = None,
          **trainer_overrides: Any) -> dict[str, Any]:  # fmt: skip
    """Fine-tune the configured encoder for extractive QA; save the best model to `model_dir`."""
    started = time.perf_counter()
    configure_threads(cfg.train.trainer)
    L.seed_everything(cfg.train.seed, workers=True, verbose=False)
    tokenizer, model = load_for_finetuning(
        AutoModelForQuestionAnswering, cfg.model, cfg.train, "qa"
    )
    data = QaDataModule(prepared_dir, tokenizer, cfg)
    module = QaModule(model, cfg)
    summary = finetune_and_save(module, data, tokenizer, cfg.train, checkpoint_dir, model_dir,
                                callbacks, logger, ckpt_path, **trainer_overrides)  # fmt: skip
    return {
        **summary,
        "wall_seconds": time.perf_counter() - started,
        "windows": {split: len(features) for split, features in data.features.items()},
    }
