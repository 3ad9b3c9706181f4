"""MLflow pyfunc models: what the registry holds and `mlflow models serve` runs.

The transformers flavor's NER pyfunc returns only tag strings, and the scratch model has no
flavor, so each task gets a small `PythonModel` around our own predict functions: JSON spans
for NER (text, type, start, end, score), answers for QA (answer, start, end, score), text for
the scratch model. Signatures come from the type hints (pydantic models). Requests over the
size limits, or that the model cannot read (longer than its positions or windows), are refused
with a clear error (HTTP 400 when served). The registry logs these classes from code
(`model_code/`), never as pickles.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from pydantic import BaseModel

from transformer_mlops.config import NerInference, QaInference, ScratchInference
from transformer_mlops.errors import UserError

MAX_ITEMS = 64  # inputs per request
# Characters per text (or QA context + question), and per request in total. The worst allowed
# request takes ~1.1 s (NER) to ~1.4 s (QA) on 2 CPU cores (AMD EPYC, fp32; docs/tracking.md).
MAX_CHARS = 20_000


def _refuse(message: str) -> MlflowException:
    return MlflowException(message, error_code=INVALID_PARAMETER_VALUE)  # HTTP 400 when served


def check_request_size(texts: list[str]) -> None:
    """Refuse requests that would tie up the server (too many inputs, too many characters in
    one or in all) and text that is not Unicode (a lone surrogate such as "\\ud800")."""
    if len(texts) > MAX_ITEMS:
        raise _refuse(f"request has {len(texts)} inputs; at most {MAX_ITEMS} per request")
    longest = max((len(t) for t in texts), default=0)
    if longest > MAX_CHARS:
        raise _refuse(f"an input has {longest} characters; at most {MAX_CHARS} per text")
    total = sum(len(t) for t in texts)
    if total > MAX_CHARS:
        raise _refuse(f"request has {total} characters in all; at most {MAX_CHARS} per request "
                      "(send fewer inputs per request)")  # fmt: skip
    for number, text in enumerate(texts, start=1):
        if any("\ud800" <= c <= "\udfff" for c in text):
            raise _refuse(f"input {number} is not valid Unicode text (a lone surrogate)")


@contextlib.contextmanager
def refused_as_bad_request() -> Iterator[None]:
    """A request the model cannot take (longer than its positions or windows) is the client's
    error: HTTP 400 with the message, not a server error."""
    try:
        yield
    except UserError as error:
        raise _refuse(str(error)) from None


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
        with refused_as_bad_request():
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
        with refused_as_bad_request():
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
        with refused_as_bad_request():
            return translate(self.model, self.tokenizer, model_input, self.settings)


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
