"""Behavioural checks of a trained QA model (CheckList style): they report, never fail a stage.

Each case is a context of independent sentences (so their order does not change the answer),
a question with a templated paraphrase, and the gold answer.
- minimum functionality: the gold answer is found in the plain case;
- invariance to an unrelated sentence added before or after the context;
- invariance to the question's paraphrase;
- the answer moves with the text: when the sentences are reordered the predicted span is the
  same text at its new character offset;
- real encyclopedic paragraphs (several facts and dates each) and a story of 180 sentences, far
  beyond what the default model trains on.
"""

from __future__ import annotations

import random
from typing import Any

from transformer_mlops.config import QaInference
from transformer_mlops.data.synthetic.stories import long_story
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

# Real encyclopedic paragraphs (facts checked by hand), several questions each, distractor dates.
ENCYCLOPEDIC = [
    ("Heidelberg is a city in the German state of Baden-Württemberg, on the river Neckar. "
     "Heidelberg University, founded in 1386, is the oldest university in Germany. The city had "
     "about 160,000 inhabitants in 2020. Its old bridge was built between 1786 and 1788.",
     [("When was Heidelberg University founded?", "1386"), ("On which river is Heidelberg?", "Neckar"),
      ("In which German state is Heidelberg?", "Baden-Württemberg")]),
    ("The Danube is the second-longest river in Europe, about 2,850 kilometres long. It rises in "
     "the Black Forest in Germany and flows into the Black Sea. It passes through ten countries, "
     "among them Austria, Hungary and Romania.",
     [("Where does the Danube rise?", "the Black Forest"), ("Into which sea does the Danube flow?", "the Black Sea")]),
    ("Marie Curie was a Polish and naturalised-French physicist and chemist. She was born in Warsaw "
     "in 1867 and moved to Paris in 1891. In 1903 she shared the Nobel Prize in Physics with Pierre "
     "Curie and Henri Becquerel, and in 1911 she won the Nobel Prize in Chemistry.",
     [("Where was Marie Curie born?", "Warsaw"), ("When did Marie Curie move to Paris?", "1891"),
      ("When did Marie Curie win the Nobel Prize in Chemistry?", "1911")]),
    ("Nokia is a Finnish telecommunications company based in Espoo. It was founded in 1865 as a "
     "pulp mill by Fredrik Idestam. Pekka Lundmark became its chief executive in 2020.",
     [("Who founded Nokia?", "Fredrik Idestam"), ("When was Nokia founded?", "1865"),
      ("Where is Nokia based?", "Espoo")]),
    ("The Eiffel Tower is a wrought-iron tower on the Champ de Mars in Paris. It was built for the "
     "World's Fair of 1889 by the company of Gustave Eiffel. It is 330 metres tall.",
     [("How tall is the Eiffel Tower?", "330 metres"), ("Where in Paris is the Eiffel Tower?", "the Champ de Mars")]),
    ("Lake Baikal is a rift lake in Siberia. It is the deepest lake in the world, with a maximum "
     "depth of 1,642 metres. The city of Irkutsk lies about 70 kilometres to its west.",
     [("What is the maximum depth of Lake Baikal?", "1,642 metres"), ("In which region is Lake Baikal?", "Siberia")]),
    ("Chinua Achebe was a Nigerian novelist and poet. He was born in Ogidi in 1930. His first "
     "novel, Things Fall Apart, appeared in 1958 and has sold more than 20 million copies.",
     [("Where was Chinua Achebe born?", "Ogidi"), ("What was Chinua Achebe's first novel?", "Things Fall Apart"),
      ("When did Things Fall Apart appear?", "1958")]),
    ("The Rijksmuseum is the national museum of the Netherlands, in Amsterdam. It was founded in "
     "The Hague in 1800 and moved to Amsterdam in 1808. Its present building, designed by Pierre "
     "Cuypers, opened in 1885.",
     [("When was the Rijksmuseum founded?", "1800"), ("Who designed the building of the Rijksmuseum?", "Pierre Cuypers"),
      ("When did the Rijksmuseum move to Amsterdam?", "1808")]),
    ("Toyota Motor Corporation is a Japanese car maker with its headquarters in Toyota City, Aichi. "
     "It was founded by Kiichiro Toyoda in 1937.",
     [("Who founded Toyota?", "Kiichiro Toyoda"), ("When was Toyota founded?", "1937")]),
    ("Mount Kilimanjaro is a dormant volcano in Tanzania. Its highest peak, Uhuru, rises 5,895 "
     "metres above sea level. It was first climbed in 1889 by Hans Meyer and Ludwig Purtscheller.",
     [("In which country is Mount Kilimanjaro?", "Tanzania"), ("When was Kilimanjaro first climbed?", "1889"),
      ("Who first climbed Kilimanjaro?", "Hans Meyer and Ludwig Purtscheller")]),
]  # fmt: skip
LONG_STORY = (180, 20261201)  # sentences, seed: a story six times longer than any trained on
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

    real = [(q, context, gold) for context, asked in ENCYCLOPEDIC for q, gold in asked]
    encyclopedic = [
        {"input": q, "expected": gold, "got": got["answer"], "passed": _same(got["answer"], gold)}
        for (q, _, gold), got in zip(real, ask([(q, c) for q, c, _ in real]), strict=True)
    ]
    sentences, seed = LONG_STORY
    story = long_story(random.Random(seed), sentences)
    long_cases = [
        {"input": f"{r['question']} ({sentences} sentences)", "expected": r["answers"]["text"][0],
         "got": got["answer"], "passed": _same(got["answer"], r["answers"]["text"][0])}
        for r, got in zip(story, ask([(r["question"], r["context"]) for r in story]), strict=True)
    ]  # fmt: skip

    checks = [
        _check("minimum_functionality: the gold answer of plain cases", minimum),
        _check("encyclopedic: real paragraphs, several facts each", encyclopedic),
        _check("long context: a story of 180 sentences", long_cases),
        _check("invariance: an unrelated sentence added", distractor),
        _check("invariance: the question paraphrased", paraphrase),
        _check("equivariance: the span moves with reordered sentences", reorder),
    ]
    overall = sum(c["pass_rate"] * c["cases"] for c in checks) / sum(c["cases"] for c in checks)
    return {"checks": checks, "overall_pass_rate": round(overall, 4)}
