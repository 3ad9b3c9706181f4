"""Behavioural checks of a trained NER model (CheckList style): they report, never fail a stage.

- minimum functionality: "X works for Y in Z." finds X/PER, Y/ORG, Z/LOC exactly;
- invariance: swapping a person's name for another keeps the type and the span;
- robustness: lower-cased input, and a capitalised non-entity word at the sentence start,
  keep the entities (compared by type and lower-cased text).
"""

from __future__ import annotations

from itertools import product
from typing import Any

from transformer_mlops.config import NerInference
from transformer_mlops.inference.ner import predict_spans

# Names and places unlike the training gazetteers on purpose.
PEOPLE = [
    "Ada Lovelace",
    "Keanu Reeves",
    "Wangari Maathai",
    "Haruki Murakami",
    "Chidi Okafor",
    "Ingrid Bergman",
]
COMPANIES = ["Siemens", "Toyota", "Deutsche Bank", "Netflix"]
CITIES = ["Lisbon", "Nairobi", "Osaka", "Buenos Aires"]
MAX_FAILURES = 10  # failing examples kept per check


def _found(spans: list[dict]) -> list[tuple[str, str]]:
    return sorted((s["type"], s["text"]) for s in spans)


def _check(name: str, cases: list[tuple[str, Any, Any]]) -> dict[str, Any]:
    """cases: (input, expected, got); a case passes when expected == got."""
    failures = [
        {"input": text, "expected": expected, "got": got}
        for text, expected, got in cases
        if expected != got
    ]
    return {"check": name, "cases": len(cases), "pass_rate": round(1 - len(failures) / len(cases), 4),
            "failures": failures[:MAX_FAILURES]}  # fmt: skip


def run_checks(model, tokenizer, settings: NerInference = NerInference()) -> dict[str, Any]:
    """All checks, predicted with the task's inference `settings`; returns {"checks": [...],
    "overall_pass_rate": ...}."""

    def predict(texts: list[str]) -> list[list[dict]]:
        return predict_spans(model, tokenizer, texts, settings)

    # minimum functionality
    mft = [
        (f"{p} works for {c} in {city}.", p, c, city)
        for p, c, city in product(PEOPLE[:3], COMPANIES, CITIES[:2])
    ]
    got = predict([t for t, *_ in mft])
    minimum = [
        (t, sorted([("PER", p), ("ORG", c), ("LOC", city)]), _found(g))
        for (t, p, c, city), g in zip(mft, got, strict=True)
    ]

    # invariance: the same sentence with another person's name
    template = "Yesterday {} met the board of Toyota in Osaka."
    texts = [template.format(p) for p in PEOPLE]
    got = predict(texts)
    invariance = []
    for text, person, spans in zip(texts, PEOPLE, got, strict=True):
        start = text.index(person)
        expected = [("PER", person, start, start + len(person))]
        have = [
            (s["type"], s["text"], s["start"], s["end"])
            for s in spans
            if s["type"] == "PER" or s["text"] == person
        ]
        invariance.append((text, expected, have))

    # robustness: lower case, and a capitalised sentence-initial non-entity
    base = [
        f"{p} joined {c} in {city}."
        for p, c, city in zip(PEOPLE, COMPANIES * 2, CITIES * 2, strict=False)
    ]
    variants = [t.lower() for t in base] + [f"Reportedly {t}" for t in base]
    base_spans, variant_spans = predict(base), predict(variants)
    lowered = [(v, [(k, x.lower()) for k, x in _found(b)], [(k, x.lower()) for k, x in _found(s)])
               for v, b, s in zip(variants[: len(base)], base_spans, variant_spans[: len(base)], strict=True)]  # fmt: skip
    initial = [(v, _found(b), _found(s))
               for v, b, s in zip(variants[len(base):], base_spans, variant_spans[len(base):], strict=True)]  # fmt: skip

    checks = [
        _check("minimum_functionality: X works for Y in Z", minimum),
        _check("invariance: swap a person's name", invariance),
        _check("robustness: lower-cased input", lowered),
        _check("robustness: capitalised sentence-initial word", initial),
    ]
    total = sum(c["cases"] for c in checks)
    passed = sum(round(c["pass_rate"] * c["cases"]) for c in checks)
    return {"checks": checks, "overall_pass_rate": round(passed / total, 4)}
