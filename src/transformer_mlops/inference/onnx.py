"""A framework-neutral copy of a saved NER or QA model: ONNX, run by onnxruntime.

`export_onnx` writes `model.onnx` (+ its weights file), the tokenizer and config.json into a
folder. `load_onnx_model` returns an object that is called like the Hugging Face model
(keyword tensors in, `.logits` / `.start_logits` + `.end_logits` out), so the PyTorch path's
tokenisation, windows and post-processing (`inference.ner`, `inference.qa`) run unchanged.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch

from transformer_mlops.errors import UserError
from transformer_mlops.inference.ner import load_ner_model
from transformer_mlops.inference.qa import load_qa_model
from transformer_mlops.inference.saved import reading_saved_model
from transformer_mlops.io import atomic_dir

INPUTS = ("input_ids", "attention_mask", "token_type_ids")
OUTPUTS = {"ner": ("logits",), "qa": ("start_logits", "end_logits")}
PYTORCH_LOADERS = {"ner": load_ner_model, "qa": load_qa_model}
MANIFEST = "onnx.json"


def is_onnx_export(folder: str | Path) -> bool:
    """Whether `folder` was written by `export_onnx`."""
    return (Path(folder) / MANIFEST).is_file()


def _require(module: str) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise UserError(f"ONNX needs the '{module}' package: pip install 'transformer-mlops[onnx]'")


class _Outputs(torch.nn.Module):
    """The model with positional inputs and a tuple of output tensors, as export wants."""

    def __init__(self, model, task: str):
        super().__init__()
        self.model, self.task = model, task

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:  # fmt: skip
        extra = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, **extra)
        return tuple(getattr(out, name) for name in OUTPUTS[self.task])


def export_onnx(task: str, model_dir: str | Path, out_dir: str | Path) -> Path:
    """Export the saved `task` model in `model_dir` to ONNX in `out_dir` (replaced atomically):
    batch size and sequence length stay dynamic."""
    if task not in OUTPUTS:
        raise UserError(f"export: unknown task {task!r}; expected one of {sorted(OUTPUTS)}")
    _require("onnxscript")  # torch.onnx's exporter
    model, tokenizer = PYTORCH_LOADERS[task](model_dir)
    names = tuple(name for name in INPUTS if name in tokenizer.model_input_names)
    sample = tokenizer(["a short example", "and a second, somewhat longer example"],
                       padding=True, return_tensors="pt")  # fmt: skip
    # a tokenizer without a length limit says 1e30: the position embeddings are the real one
    longest = min(tokenizer.model_max_length, getattr(model.config, "max_position_embeddings", 512))
    batch, length = torch.export.Dim("batch"), torch.export.Dim("sequence", max=longest)
    with atomic_dir(out_dir) as tmp:
        torch.onnx.export(
            _Outputs(model, task).eval(),
            tuple(sample[name] for name in names),
            str(tmp / "model.onnx"),
            input_names=list(names),
            output_names=list(OUTPUTS[task]),
            dynamic_shapes={name: {0: batch, 1: length} for name in names},
            dynamo=True,
            verbose=False,
        )
        tokenizer.save_pretrained(tmp)
        model.config.save_pretrained(tmp)
        (tmp / MANIFEST).write_text(json.dumps(
            {"task": task, "inputs": list(names), "outputs": list(OUTPUTS[task]),
             "exported_from": str(model_dir), "torch": torch.__version__}, indent=2) + "\n")  # fmt: skip
    return Path(out_dir)


class OnnxModel:
    """An onnxruntime session that answers like the Hugging Face model it was exported from."""

    def __init__(self, folder: str | Path, threads: int | None = None):
        _require("onnxruntime")
        import onnxruntime
        from transformers import AutoConfig

        folder = Path(folder)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or len(os.sched_getaffinity(0))
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(
            str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"]
        )
        self.config = AutoConfig.from_pretrained(str(folder))
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = [o.name for o in self.session.get_outputs()]

    def __call__(self, **inputs: torch.Tensor) -> Any:
        ids = inputs["input_ids"]
        feeds = {}
        for name in self.input_names:  # BERT-style graphs take token_type_ids; zeros when not given
            value = inputs.get(name)
            feeds[name] = (torch.zeros_like(ids) if value is None else value).numpy()
        values = self.session.run(self.output_names, feeds)
        return SimpleNamespace(
            **{n: torch.from_numpy(v) for n, v in zip(self.output_names, values, strict=True)}
        )

    def eval(self) -> OnnxModel:
        return self


def load_onnx_model(folder: str | Path, task: str | None = None) -> tuple[OnnxModel, Any]:
    """(model, tokenizer) of an `export_onnx` folder; `task` checks what it was exported for."""
    from transformers import AutoTokenizer

    with reading_saved_model(folder):
        manifest = json.loads((Path(folder) / MANIFEST).read_text())
        if task is not None and manifest["task"] != task:
            raise UserError(f"{folder}: an ONNX export of a {manifest['task']} model, not {task}")
        return OnnxModel(folder), AutoTokenizer.from_pretrained(str(folder))
