"""Behavioural checks of a trained QA model (CheckList style): they report, never fail a stage.

Each case is a context of independent sentences (so their order does not change the answer),
a question with a templated paraphrase, and the gold answer.
- minimum functionality: the gold answer is found in the plain case;
- invariance to an unrelated sentence added before or after the context;
- invariance to the question's paraphrase;
- the answer moves with the text: when the sentences are reordered the predicted span is the
  same text at its new character offset.
"""

from __future__ import annotations

from typing import Any

from transformer_mlops.config import QaInference
from transformer_mlops.features.squad_metric import normalize_answer
from transformer_mlops.inference.qa import answer

# (question, paraphrase) templates over a subject.
TEMPLATES = {
    "born": ("Where was {s} born?", "In which city was {s} born?"),
    "founded": ("When was {s} founded?", "In what year was {s} founded?"),
    "capital": ("What is the capital of {s}?", "Which city is the capital of {s}?"),
    "where": ("Where is {s}?", "In which place is {s}?"),
}

# (sentences, template, subject, answer)
CASES = [
    (["Ada Lovelace was born in London.", "She worked with Charles Babbage on the Analytical Engine.",
      "She wrote the first published computer program."], "born", "Ada Lovelace", "London"),
    (["The Nairobi Rowing Club was founded in 1923.", "It has about four hundred members.",
      "Its boathouse stands beside the lake."], "founded", "the Nairobi Rowing Club", "1923"),
    (["Portugal is a country in southern Europe.", "The capital of Portugal is Lisbon.",
      "Its official language is Portuguese."], "capital", "Portugal", "Lisbon"),
    (["Haruki Murakami was born in Kyoto.", "He ran a jazz bar before he wrote novels.",
      "His books have been translated into fifty languages."], "born", "Haruki Murakami", "Kyoto"),
    (["Kenya lies on the equator.", "The capital of Kenya is Nairobi.",
      "Mount Kenya is its highest mountain."], "capital", "Kenya", "Nairobi"),
    (["Mary went to the kitchen.", "John travelled to the garden.", "Sandra moved to the office."],
     "where", "Mary", "kitchen"),
    (["Daniel journeyed to the hallway.", "Sandra went to the bedroom.", "Fred moved to the cellar."],
     "where", "Sandra", "bedroom"),
    (["The Siemens company was founded in 1847.", "It is based in Munich.",
      "It makes trains and medical scanners."], "founded", "the Siemens company", "1847"),
]  # fmt: skip
DISTRACTORS = ["The weather was mild that spring.", "Many visitors enjoy the local food."]
MAX_FAILURES = 10  # failing examples kept per check


def _same(a: str, b: str) -> bool:
    return normalize_answer(a) == normalize_answer(b)


def _check(name: str, cases: list[dict]) -> dict[str, Any]:
    """cases: {"input", "expected", "got", "passed"}."""
    failures = [
        {k: v for k, v in case.items() if k != "passed"} for case in cases if not case["passed"]
    ]
    return {"check": name, "cases": len(cases), "pass_rate": round(1 - len(failures) / len(cases), 4),
            "failures": failures[:MAX_FAILURES]}  # fmt: skip


def _reordered(sentences: list[str]) -> list[list[int]]:
    """Two other orders of the sentences: rotated by one, and reversed."""
    n = len(sentences)
    return [[*range(1, n), 0], list(reversed(range(n)))]


def _starts(sentences: list[str]) -> list[int]:
    """Character offset of each sentence in ' '.join(sentences)."""
    offsets, at = [], 0
    for sentence in sentences:
        offsets.append(at)
        at += len(sentence) + 1
    return offsets


def run_checks(model, tokenizer, settings: QaInference = QaInference()) -> dict[str, Any]:
    """All checks, asked with the task's inference `settings`; returns {"checks": [...],
    "overall_pass_rate": ...}."""

    def ask(pairs: list[tuple[str, str]]) -> list[dict]:
        return answer(model, tokenizer, [q for q, _ in pairs], [c for _, c in pairs], settings)

    plain = [(TEMPLATES[t][0].format(s=s), " ".join(sents)) for sents, t, s, _ in CASES]
    base = ask(plain)
    minimum = [
        {"input": q, "expected": gold, "got": got["answer"], "passed": _same(got["answer"], gold)}
        for (q, _), (*_, gold), got in zip(plain, CASES, base, strict=True)
    ]

    distractor_inputs, distractor_base = [], []
    for (question, context), got in zip(plain, base, strict=True):
        for extra in DISTRACTORS:
            distractor_inputs += [
                (question, f"{extra} {context}"),
                (question, f"{context} {extra}"),
            ]
            distractor_base += [got, got]
    distractor = [
        {
            "input": f"{q} | {c}",
            "expected": b["answer"],
            "got": g["answer"],
            "passed": _same(g["answer"], b["answer"]),
        }
        for (q, c), b, g in zip(
            distractor_inputs, distractor_base, ask(distractor_inputs), strict=True
        )
    ]

    paraphrased = [(TEMPLATES[t][1].format(s=s), " ".join(sents)) for sents, t, s, _ in CASES]
    paraphrase = [
        {
            "input": q,
            "expected": b["answer"],
            "got": g["answer"],
            "passed": _same(g["answer"], b["answer"]),
        }
        for (q, _), b, g in zip(paraphrased, base, ask(paraphrased), strict=True)
    ]

    # Reordering: locate the base answer's sentence, predict where it must land.
    moved_inputs, expected_spans = [], []
    for (question, _), (sentences, *_), got in zip(plain, CASES, base, strict=True):
        starts = _starts(sentences)
        home = max(i for i, start in enumerate(starts) if start <= got["start"])
        for order in _reordered(sentences):
            new_starts = _starts([sentences[i] for i in order])
            shift = new_starts[order.index(home)] - starts[home]
            moved_inputs.append((question, " ".join(sentences[i] for i in order)))
            expected_spans.append((got["answer"], got["start"] + shift, got["end"] + shift))
    reorder = [
        {
            "input": f"{q} | {c}",
            "expected": list(e),
            "got": [g["answer"], g["start"], g["end"]],
            "passed": (g["answer"], g["start"], g["end"]) == e,
        }
        for (q, c), e, g in zip(moved_inputs, expected_spans, ask(moved_inputs), strict=True)
    ]

    checks = [
        _check("minimum_functionality: the gold answer of plain cases", minimum),
        _check("invariance: an unrelated sentence added", distractor),
        _check("invariance: the question paraphrased", paraphrase),
        _check("equivariance: the span moves with reordered sentences", reorder),
    ]
    overall = sum(c["pass_rate"] * c["cases"] for c in checks) / sum(c["cases"] for c in checks)
    return {"checks": checks, "overall_pass_rate": round(overall, 4)}
