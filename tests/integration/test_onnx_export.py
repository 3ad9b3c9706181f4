"""`tmlops export ner|qa`: an ONNX model that onnxruntime runs with the PyTorch path's own
pre- and post-processing, giving the same logits, entity spans and answers."""

from __future__ import annotations

import json

import pytest
import torch

from tests.integration.conftest import run
from transformer_mlops.config import QaInference
from transformer_mlops.errors import UserError
from transformer_mlops.inference.loading import load_task_model
from transformer_mlops.inference.ner import load_ner_model, predict_spans
from transformer_mlops.inference.onnx import export_onnx, load_onnx_model
from transformer_mlops.inference.qa import answer, load_qa_model
from transformer_mlops.io import read_jsonl

pytest.importorskip("onnxruntime")
pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def exported(tiny_full_project, tmp_path_factory):
    out = tmp_path_factory.mktemp("onnx")
    for task in ("ner", "qa"):
        proc = run(["tmlops", "export", task, "--model", f"models/{task}", "--out", str(out / task)],
                   tiny_full_project)  # fmt: skip
        assert "model.onnx" in proc.stdout
    return out


def _same_spans(onnx_result, torch_result):
    """Same spans (text, type, offsets); scores equal up to float rounding."""
    assert len(onnx_result) == len(torch_result)
    for got, want in zip(onnx_result, torch_result, strict=True):
        assert [{k: v for k, v in s.items() if k != "score"} for s in got] == [
            {k: v for k, v in s.items() if k != "score"} for s in want
        ]
        assert [s["score"] for s in got] == pytest.approx([s["score"] for s in want], abs=2e-3)


def test_ner_export_gives_the_same_logits_and_spans(tiny_full_project, exported):
    model, tokenizer = load_ner_model(tiny_full_project / "models/ner")
    onnx_model, onnx_tokenizer = load_onnx_model(exported / "ner", "ner")
    records = read_jsonl(tiny_full_project / "data/prepared/ner/test.jsonl")[:40]
    texts = [" ".join(r["tokens"]) for r in records]

    batch = tokenizer(
        texts[:8], padding=True, return_tensors="pt"
    )  # padded rows of different lengths
    with torch.inference_mode():
        want = model(**batch).logits
    got = onnx_model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    assert got.shape == want.shape
    assert torch.allclose(got, want, atol=1e-4)

    spans = predict_spans(model, tokenizer, texts)
    assert any(spans), "the tiny model finds some entities, so the comparison means something"
    _same_spans(predict_spans(onnx_model, onnx_tokenizer, texts), spans)


def test_qa_export_gives_the_same_answers_even_across_windows(tiny_full_project, exported):
    model, tokenizer = load_qa_model(tiny_full_project / "models/qa")
    onnx_model, onnx_tokenizer = load_onnx_model(exported / "qa", "qa")
    records = read_jsonl(tiny_full_project / "data/prepared/qa/test.jsonl")[:30]
    questions, contexts = [r["question"] for r in records], [r["context"] for r in records]
    # a long context: several windows of 64 tokens, stride 16
    questions.append(records[0]["question"])
    contexts.append(" ".join(r["context"] for r in records[:6]))
    settings = QaInference(max_length=64, doc_stride=16)
    want = answer(model, tokenizer, questions, contexts, settings)
    got = answer(onnx_model, onnx_tokenizer, questions, contexts, settings)
    assert [(a["answer"], a["start"], a["end"]) for a in got] == [
        (a["answer"], a["start"], a["end"]) for a in want
    ]
    assert [a["score"] for a in got] == pytest.approx([a["score"] for a in want], abs=2e-3)


def test_predict_command_runs_the_onnx_export(tiny_full_project, exported):
    text = "Angela Merkel met Tim Cook in Paris."
    lines = {}
    for model in ("models/ner", str(exported / "ner")):
        proc = run(["tmlops", "predict", "ner", "--model", model, text], tiny_full_project)
        lines[model] = json.loads(proc.stdout.strip().splitlines()[-1])
    onnx_result, torch_result = lines[str(exported / "ner")], lines["models/ner"]
    assert onnx_result["text"] == torch_result["text"] == text
    _same_spans([onnx_result["entities"]], [torch_result["entities"]])


def test_export_errors_are_clear(tiny_full_project, exported, tmp_path):
    with pytest.raises(UserError, match="an ONNX export of a ner model, not qa"):
        load_onnx_model(exported / "ner", "qa")
    with pytest.raises(UserError, match="an ONNX export of a ner model, not qa"):
        load_task_model(exported / "ner", "qa")  # what `tmlops predict qa --model` reads
    with pytest.raises(UserError, match="unknown task 'poetry'"):
        load_task_model(tiny_full_project / "models/ner", "poetry")
    with pytest.raises(UserError, match="unknown task 'poetry'"):
        export_onnx("poetry", tiny_full_project / "models/ner", tmp_path / "x")
    proc = run(["tmlops", "export", "ner", "--model", str(tmp_path / "missing")], tiny_full_project,
               check=False)  # fmt: skip
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "no saved model here" in proc.stderr + proc.stdout
    assert not (tiny_full_project / "models/onnx").exists()  # nothing half-written
    proc = run(["tmlops", "predict", "qa", "--model", str(tmp_path / "missing"), "--context",
                "Mary went to the kitchen.", "Where is Mary?"], tiny_full_project, check=False)  # fmt: skip
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "no saved model here" in proc.stderr + proc.stdout
