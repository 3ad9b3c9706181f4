"""MLflow pyfunc models: what the registry holds and `mlflow models serve` runs.

The transformers flavor's NER pyfunc returns only tag strings, and the scratch model has no
flavor, so each task gets a small `PythonModel` around our own predict functions: JSON spans
for NER (text, type, start, end, score), answers for QA (answer, start, end, score), text for
the scratch model. Signatures come from the type hints (pydantic models). Requests over a size
limit are refused with a clear error (HTTP 400 when served).
"""

from __future__ import annotations

from typing import Any

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from pydantic import BaseModel

from transformer_mlops.config import NerInference, QaInference, ScratchInference

MAX_ITEMS = 64  # inputs per request
MAX_CHARS = 20_000  # characters per text or context


def check_request_size(texts: list[str]) -> None:
    """Refuse requests that would tie up the server (too many inputs, or one too long)."""
    if len(texts) > MAX_ITEMS:
        raise MlflowException(
            f"request has {len(texts)} inputs; at most {MAX_ITEMS} per request",
            error_code=INVALID_PARAMETER_VALUE,
        )
    longest = max((len(t) for t in texts), default=0)
    if longest > MAX_CHARS:
        raise MlflowException(
            f"an input has {longest} characters; at most {MAX_CHARS} per text",
            error_code=INVALID_PARAMETER_VALUE,
        )


class Entity(BaseModel):
    """One entity span of a NER result (character offsets into the text)."""

    text: str
    type: str
    start: int
    end: int
    score: float


class NerResult(BaseModel):
    """A served NER answer: the input text and its entities."""

    text: str
    entities: list[Entity]


class NerSpansModel(mlflow.pyfunc.PythonModel):
    """Raw text in, entity spans with character offsets out."""

    def load_context(self, context) -> None:
        from transformer_mlops.inference.ner import load_ner_model

        self.model, self.tokenizer = load_ner_model(context.artifacts["model"])
        self.settings = NerInference.model_validate(context.model_config or {})

    def predict(
        self, model_input: list[str], params: dict[str, Any] | None = None
    ) -> list[NerResult]:
        from transformer_mlops.inference.ner import predict_spans

        check_request_size(model_input)
        found = predict_spans(self.model, self.tokenizer, model_input, self.settings)
        return [
            NerResult(text=t, entities=[Entity(**e) for e in f])
            for t, f in zip(model_input, found, strict=True)
        ]


class Question(BaseModel):
    """A served QA request item."""

    question: str
    context: str


class Answer(BaseModel):
    """A served QA answer: the span of the original context and its score."""

    answer: str
    start: int
    end: int
    score: float


class QaAnswerModel(mlflow.pyfunc.PythonModel):
    """(question, context) in, the answer span of the original context out."""

    def load_context(self, context) -> None:
        from transformer_mlops.inference.qa import load_qa_model

        self.model, self.tokenizer = load_qa_model(context.artifacts["model"])
        self.settings = QaInference.model_validate(context.model_config or {})

    def predict(
        self, model_input: list[Question], params: dict[str, Any] | None = None
    ) -> list[Answer]:
        from transformer_mlops.inference.qa import answer

        items = [q if isinstance(q, Question) else Question(**q) for q in model_input]
        check_request_size([q.context + q.question for q in items])
        found = answer(self.model, self.tokenizer, [q.question for q in items],
                       [q.context for q in items], self.settings)  # fmt: skip
        return [Answer(**a) for a in found]


class ScratchTextModel(mlflow.pyfunc.PythonModel):
    """Text in, the from-scratch Transformer's output text out (decoded as `seq2seq.eval` says)."""

    def load_context(self, context) -> None:
        from transformer_mlops.inference.scratch import load_scratch_model

        self.model, self.tokenizer = load_scratch_model(context.artifacts["model"])
        config = dict(context.model_config or {})
        if "max_tokens" in config:  # versions registered before the settings object had this name
            config["max_decode_tokens"] = config.pop("max_tokens")
        self.settings = ScratchInference.model_validate(config)

    def predict(self, model_input: list[str], params: dict[str, Any] | None = None) -> list[str]:
        from transformer_mlops.inference.scratch import translate

        check_request_size(model_input)
        return translate(self.model, self.tokenizer, model_input, self.settings)


PYFUNC_MODELS = {"ner": NerSpansModel, "qa": QaAnswerModel, "scratch": ScratchTextModel}
INPUT_EXAMPLES: dict[str, Any] = {
    "ner": ["Angela Merkel met Tim Cook in Paris."],
    "qa": [
        {
            "question": "Where is Mary?",
            "context": "Mary went to the kitchen. John moved to the garden.",
        }
    ],
    "scratch": ["3rd of March 1987"],
}
