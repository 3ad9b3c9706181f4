from __future__ import annotations

import datetime as dt
import random
import re

import pytest

from transformer_mlops.config import SyntheticConfig
from transformer_mlops.data.schema import content_key, label_set
from transformer_mlops.data.synthetic import dates, encyclopedia, generate, ner, stories
from transformer_mlops.data.validation import iob2_transitions

SIZES = SyntheticConfig(train=300, validation=50, test=50)


@pytest.mark.parametrize("task", ["seq2seq", "ner", "qa"])
def test_generation_is_deterministic_and_unique(task):
    first, second = generate(task, SIZES, seed=5), generate(task, SIZES, seed=5)
    assert first == second
    assert {split: len(rows) for split, rows in first.items()} == {
        "train": 300,
        "validation": 50,
        "test": 50,
    }
    keys = [content_key(task, r) for rows in first.values() for r in rows]
    assert len(keys) == len(set(keys)), "an example occurs twice (leak across splits)"
    assert generate(task, SIZES, seed=6) != first


def test_at_least_15_date_formats_each_used():
    assert len(dates.FORMATS) >= 15
    rng = random.Random(0)
    used = {dates.sample(rng)["format"] for _ in range(3000)}
    assert used == set(dates.FORMATS) | {"impossible_date", "not_a_date"}


def test_every_date_input_determines_its_output():
    rng = random.Random(1)
    target_of: dict[str, str] = {}
    for _ in range(20000):
        example = dates.sample(rng)
        assert target_of.setdefault(example["source"], example["target"]) == example["target"]


def test_examples_from_the_issue_and_stated_rules():
    day = dt.date(1987, 3, 3)
    assert dates.render(day, "weekday_month_day_year") == "tuesday, march 3 1987"
    assert dates.render(day, "day_mon_year") == "3 Mar 1987"
    assert dates.render(day, "dd/mm/yy") == "03/03/87"
    assert dates.render(day, "the_ordinal_of_month_year") == "the 3rd of march, 1987"
    # numeric forms are day first
    assert dates.render(dt.date(1987, 4, 3), "dd/mm/yy") == "03/04/87"
    # two-digit years only inside the stated window
    with pytest.raises(ValueError, match="needs a year in"):
        dates.render(dt.date(1890, 1, 1), "dd/mm/yy")
    assert [dates.ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 31)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "23rd", "31st"]  # fmt: skip


def test_weekdays_are_true_and_years_wide():
    rng = random.Random(2)
    years = set()
    for _ in range(5000):
        example = dates.sample(rng)
        if example["target"] == dates.NO_DATE:
            continue
        date = dt.date.fromisoformat(example["target"])
        years.add(date.year)
        words = set(re.findall(r"[a-z]+", example["source"].lower()))
        named = [w for w in dates.WEEKDAYS if w in words or w[:3] in words]
        if named:
            assert named == [dates.WEEKDAYS[date.weekday()]], example
    assert min(years) < 1700 and max(years) > 2100


def test_iso_dates_pass_through_and_what_is_no_date_is_declined():
    assert dates.render(dt.date(1987, 3, 3), "yyyy-mm-dd") == "1987-03-03"
    assert dates.render(dt.date(2000, 1, 1), "ordinal_of_Month_year") == "1st of January 2000"
    rng = random.Random(4)
    declined = [e for e in (dates.sample(rng) for _ in range(4000)) if e["target"] == dates.NO_DATE]
    assert 0.08 < len(declined) / 4000 < 0.16  # about 12%: the written forms keep most of the data
    for example in declined:
        source = example["source"]
        if example["format"] == "impossible_date":  # a real-looking day that does not exist
            numbers = [int(n) for n in re.findall(r"\d+", source)]
            assert any(n > 28 for n in numbers) or any(12 < n < 20 for n in numbers), source
        else:
            assert example["format"] == "not_a_date"
            with pytest.raises(ValueError):
                dt.date.fromisoformat(source)


def test_the_behaviour_checks_expect_the_generators_no_date():
    from transformer_mlops.evaluation import behaviour_scratch

    assert behaviour_scratch.NO_DATE == dates.NO_DATE  # imported from inference.scratch
    for cases in behaviour_scratch.CHECKS.values():  # every expected answer is one the
        for text, expected in cases:  # generator's rules give (ISO, or no date)
            assert expected == dates.NO_DATE or re.fullmatch(r"\d{4}-\d{2}-\d{2}", expected), text


def test_ner_templates_tags_and_hard_cases():
    assert len(ner.TEMPLATES) >= 50
    allowed = set(iob2_transitions(label_set(ner.ENTITY_TYPES)))
    rng = random.Random(3)
    types_of: dict[str, set[str]] = {}
    multi_token = 0
    for _ in range(3000):
        example = ner.sample(rng)
        tokens, tags = example["tokens"], example["tags"]
        assert len(tokens) == len(tags) and all(tokens)
        assert all(f"{p}>{t}" in allowed for p, t in zip(["O", *tags], tags, strict=False))
        multi_token += any(t.startswith("I-") for t in tags)
        for token, tag in zip(tokens, tags, strict=True):
            if tag.startswith("B-"):
                types_of.setdefault(token, set()).add(tag[2:])
    assert multi_token > 500
    ambiguous = [name for name, types in types_of.items() if len(types) > 1]
    assert {"Jordan", "Ford"} <= set(ambiguous)


def test_ner_distractors_and_initial_capitals_are_not_entities():
    rng = random.Random(4)
    for index, template in enumerate(ner.TEMPLATES):
        tokens, tags = ner.fill(template, rng)
        if template.startswith(("Yesterday", "Reading", "Officials", "Meanwhile")):
            assert tags[0] == "O", (index, tokens)
        for token, tag in zip(tokens, tags, strict=True):
            if token in ("apple", "turkey", "jaguar", "china", "mercury"):
                assert tag == "O"


def _replay(context: str) -> dict[str, str]:
    """Independent reading of a story: where each person is, and each object's place."""
    place, holder, dropped = {}, {}, {}
    for sentence in context.split(". "):
        words = sentence.rstrip(".").split()
        person, rest = words[0], " ".join(words[1:])
        if rest.split(" the ")[0] in stories.MOVE_VERBS:
            place[person] = words[-1]
        elif rest.split(" the ")[0] in stories.TAKE_VERBS:
            holder[words[-1]] = person
            dropped.pop(words[-1], None)
        else:
            dropped[words[-1]] = place[person]
            holder.pop(words[-1], None)
    objects = {o: place[p] for o, p in holder.items()} | dropped
    return place | objects


def test_story_answers_are_correct_and_extractive():
    rng = random.Random(5)
    kinds, first_questions = set(), []
    for _ in range(400):
        examples = stories.story(rng)
        sentences = [example["context"].count(". ") + 1 for example in examples]
        assert sentences == sorted(set(sentences))  # asked along the way, as in bAbI
        first_questions.append(sentences[0])
        for example in examples:
            kinds.add(example["kind"])
            text, start = example["answers"]["text"][0], example["answers"]["answer_start"][0]
            assert example["context"][start : start + len(text)] == text
            subject = re.sub(r"^(Where is|Where can|In which room is) (the )?| now\?$|\?$| be found\?$", "",
                             example["question"])  # fmt: skip
            assert _replay(example["context"])[subject] == text, example
    assert min(first_questions) == 2 and first_questions.count(2) > 100  # bAbI's first question
    assert kinds == {"single-supporting-fact", "two-supporting-facts"}


def test_story_evidence_is_every_sentence_about_the_person_the_answer_follows():
    rng = random.Random(11)
    for _ in range(200):
        for example in stories.story(rng):
            context, start = example["context"], example["answers"]["answer_start"][0]
            evidence = [context[s:e] for s, e in example["evidence"]]
            subject = re.sub(r"^(Where is|Where can|In which room is) (the )?| now\?$|\?$| be found\?$", "",
                             example["question"])  # fmt: skip
            sentences = [s if s.endswith(".") else s + "." for s in context.split(". ")]
            if example["kind"] == "single-supporting-fact":
                person = subject
            else:  # whoever last took or dropped the object
                person = [s for s in sentences if s.endswith(f" the {subject}.")][-1].split()[0]
            assert evidence == [s for s in sentences if s.split()[0] == person], example
            # the answer lies in one of them
            assert any(s <= start < e for s, e in example["evidence"]), example


def test_encyclopedic_paragraphs_hold_several_facts_with_distractors_of_their_type():
    rng, topics = random.Random(7), set()
    for _ in range(300):
        examples = encyclopedia.paragraph(rng, seed=3)
        context = examples[0]["context"]
        assert len(examples) == 4 and len({e["question"] for e in examples}) == 4
        assert (
            len(re.findall(r"\b1[0-9]{3}\b|\b20[0-2][0-9]\b", context)) >= 2
        )  # more than one year
        topics.add(context.split()[1])
        for example in examples:
            assert example["kind"] == "encyclopedic" and example["context"] == context
            text, start = example["answers"]["text"][0], example["answers"]["answer_start"][0]
            assert text and context[start : start + len(text)] == text
            assert text not in example["question"], example  # never answered by the question
    assert len(topics) > 20


def test_qa_mixes_stories_and_paragraphs_and_a_long_story_is_answerable():
    kinds = {r["kind"] for rows in generate("qa", SyntheticConfig(train=600, validation=50, test=50), 2).values()
             for r in rows}  # fmt: skip
    assert kinds == {"single-supporting-fact", "two-supporting-facts", "encyclopedic"}
    examples = stories.long_story(random.Random(1), 180)
    assert examples and examples[0]["context"].count(". ") + 1 >= 180
    for example in examples:
        person = example["question"].removeprefix("Where is ").removesuffix("?")
        assert _replay(example["context"])[person] == example["answers"]["text"][0]


def test_outputs_naming_no_real_day_are_declined_only_where_the_settings_say():
    from transformer_mlops.config import ScratchInference
    from transformer_mlops.inference.scratch import checked

    on, off = ScratchInference(decline_impossible_dates=True), ScratchInference()
    for output in ("2020-02-31", "2019-02-29", "2010-13-15", "1999-04-31", "2000-00-10"):
        assert checked(output, on) == dates.NO_DATE and checked(output, off) == output
    for output in ("2020-02-29", "1999-12-31", "no date", "le 31 février", "2020-02-31 !"):
        assert checked(output, on) == output  # real days and other text pass unchanged


def test_each_encyclopedic_question_asks_about_the_sentence_that_answers_it():
    rng = random.Random(13)
    for _ in range(400):
        for example in encyclopedia.paragraph(rng, seed=3):
            context, start = example["context"], example["answers"]["answer_start"][0]
            sentence = context[context.rfind(". ", 0, start) + 1 : context.find(".", start + 1)]
            for word in ("charter", "bridge", "dam", "tributary", "mayor", "census"):
                if re.search(rf"\b{word}\b", example["question"]):
                    assert re.search(rf"\b{word}\b", sentence), example


def test_country_paragraphs_ask_for_the_capital_beside_a_largest_city():
    rng, asked = random.Random(3), 0
    for _ in range(1500):
        for example in encyclopedia.paragraph(rng, seed=3):
            if not example["question"].startswith(
                ("What is the capital", "Which city is the capital")
            ):
                continue
            asked += 1
            context, answer = example["context"], example["answers"]["text"][0]
            sentence = next(s for s in context.split(". ") if answer in s)
            assert "capital" in sentence and "largest city" in context, example
            largest = re.search(r"(\w+) is its largest city|largest city is (\w+)", context)
            assert answer not in largest.groups(), example  # the distractor is another city
    assert asked > 10
