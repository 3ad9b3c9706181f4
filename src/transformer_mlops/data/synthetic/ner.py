"""English NER sentences with IOB2 tags over PER, ORG, LOC, MISC, from templates and gazetteers.

Templates are pre-tokenised (tokens separated by spaces, punctuation split off as in CoNLL);
a slot `{PER}`, `{ORG}`, `{LOC}`, `{MISC}` (or `{PER2}`, `{LOC2}` for a second entity of the
same type) is filled with a possibly multi-token entity. Hard cases are built in: names shared
between types (AMBIGUOUS), lower-case look-alikes that are not entities (DISTRACTORS in the
templates), and capitalised sentence-initial words that are not entities.
"""

from __future__ import annotations

import random
import re
from functools import lru_cache

from faker import Faker

from transformer_mlops.data.synthetic.gazetteers import (
    AMBIGUOUS,
    LOCATIONS,
    MISCELLANEOUS,
    ORGANIZATIONS,
)

LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
ENTITY_TYPES = ["PER", "ORG", "LOC", "MISC"]

TEMPLATES = [
    "{PER} works for {ORG} in {LOC} .",
    "{PER} , a spokesman for {ORG} , said the deal was signed in {LOC} .",
    "{ORG} shares rose 3 percent in {LOC} on Monday .",
    "Yesterday {PER} flew from {LOC} to {LOC2} .",
    "The {MISC} delegation met {PER} at the {ORG} headquarters .",
    "{PER} told reporters in {LOC} that {ORG} would cut jobs .",
    "According to {ORG} , the {MISC} economy grew by 2 percent .",
    "Officials in {LOC} said {PER} had resigned .",
    "{ORG} beat {ORG2} 2-1 in {LOC} on Saturday .",
    "Shares of {ORG} fell after {PER} sold his stake .",
    "{PER} ate an apple while waiting at {LOC} airport .",
    "Police in {LOC} arrested two men on Tuesday .",
    "{PER} and {PER2} won the {MISC} in {LOC} .",
    "The {MISC} film was shown in {LOC} last week .",
    "Analysts at {ORG} expect rates to rise in {LOC} .",
    "Meanwhile , {PER} visited {LOC} for talks with {ORG} .",
    "{ORG} said it would open a new office in {LOC} next year .",
    "In {LOC} , {PER} signed a contract with {ORG} .",
    "Born in {LOC} , {PER} joined {ORG} in 1998 .",
    "{PER} , who speaks fluent {MISC} , moved to {LOC} .",
    "The turkey was served cold at the dinner in {LOC} .",
    "Markets in {LOC} were closed for {MISC} .",
    "{PER} criticised {ORG} for its policy on {MISC} migrants .",
    "Later , {ORG} confirmed that {PER} would lead the team .",
    "Rain delayed the {MISC} final in {LOC} .",
    "{PER} bought a jaguar and drove it to {LOC} .",
    "The {ORG} board will meet in {LOC} on Friday .",
    '{PER} said : " We are proud of {ORG} . "',
    "Trade between {LOC} and {LOC2} rose sharply .",
    "{PER} scored twice as {ORG} won the {MISC} .",
    "Her china cabinet was sold at auction in {LOC} .",
    "{ORG} hired {PER} as chief executive .",
    "Reports from {LOC} say {PER} is in hospital .",
    "Thousands of {MISC} fans travelled to {LOC} .",
    "{PER} met {PER2} in {LOC} to discuss the {MISC} .",
    "The mercury rose above 40 degrees in {LOC} .",
    "{ORG} and {ORG2} agreed to merge .",
    "Investors sold {ORG} stock ahead of the {MISC} .",
    "Last year {PER} left {ORG} for a rival in {LOC} .",
    "Nobody in {LOC} expected {PER} to win .",
    "{PER} is a {MISC} writer based in {LOC} .",
    "The shell of the old factory still stands outside {LOC} .",
    "Troops from {LOC} crossed into {LOC2} overnight .",
    "{ORG} reported a loss of 2 billion dollars .",
    "Speaking in {LOC} , {PER} praised {ORG} .",
    "Tourists in {LOC} queued for hours to see the {MISC} .",
    "{PER} , 54 , has run {ORG} since 2010 .",
    "Doctors at {ORG} treated {PER} for a minor injury .",
    "The may flowers bloomed early in {LOC} this year .",
    "{PER} will travel to {LOC} with a {MISC} team .",
    "Sources close to {ORG} said {PER} would step down .",
    "Both {PER} and {ORG} declined to comment .",
    "Fans in {LOC} celebrated as {ORG} won the title .",
    "{PER} wrote a book about the {MISC} .",
    "Oil prices rose after {ORG} cut output .",
    "{LOC} and {LOC2} signed a {MISC} trade pact .",
    "Reading the report , {PER} frowned .",
    "{PER} was reading in the garden in {LOC} .",
    "{PER} paid the bill at a cafe in {LOC} .",
    "Mr. {PER_LAST} said {ORG} had done nothing wrong .",
    "Judge {PER} ruled against {ORG} in {LOC} .",
    "A {MISC} tourist was injured in {LOC} .",
    "Cook the rice , then call {PER} in {LOC} .",
]


@lru_cache(maxsize=8)
def _people(seed: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Thousands of first and last names from several locales (deterministic for a seed)."""
    fake = Faker(["en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT"])
    fake.seed_instance(seed)
    first = sorted({fake.first_name() for _ in range(4000)})
    last = sorted({fake.last_name() for _ in range(4000)})
    return tuple(first), tuple(last)


@lru_cache(maxsize=8)
def _companies(seed: int) -> tuple[str, ...]:
    fake = Faker("en_US")
    fake.seed_instance(seed)
    return tuple(sorted({fake.company() for _ in range(1500)}))


def _ambiguous(entity_type: str) -> list[str]:
    return sorted(name for name, types in AMBIGUOUS.items() if entity_type in types)


def _entity(rng: random.Random, entity_type: str, seed: int) -> str:
    """A surface form of the given type; sometimes one that is also a name of another type."""
    if rng.random() < 0.08 and _ambiguous(entity_type):
        return rng.choice(_ambiguous(entity_type))
    if entity_type == "PER":
        first, last = _people(seed)
        shape = rng.random()
        if shape < 0.65:
            return f"{rng.choice(first)} {rng.choice(last)}"
        if shape < 0.8:
            return rng.choice(last)
        if shape < 0.9:
            return f"{rng.choice(first)} {rng.choice(first)} {rng.choice(last)}"
        return rng.choice(first)
    if entity_type == "ORG":
        return rng.choice(ORGANIZATIONS) if rng.random() < 0.6 else rng.choice(_companies(seed))
    if entity_type == "LOC":
        return rng.choice(LOCATIONS)
    return rng.choice(MISCELLANEOUS)


_SLOT = re.compile(r"^\{(PER|ORG|LOC|MISC)(2|_LAST)?\}$")


def fill(template: str, rng: random.Random, seed: int = 0) -> tuple[list[str], list[str]]:
    """Fill a template's slots; returns (tokens, IOB2 tags)."""
    tokens: list[str] = []
    tags: list[str] = []
    used: set[str] = set()
    for word in template.split():
        match = _SLOT.match(word)
        if not match:
            tokens.append(word)
            tags.append("O")
            continue
        entity_type, variant = match.groups()
        if variant == "_LAST":
            value = rng.choice(_people(seed)[1])
        else:
            value = _entity(rng, entity_type, seed)
            while value in used:  # two slots of one type get different entities
                value = _entity(rng, entity_type, seed)
        used.add(value)
        for position, piece in enumerate(value.split()):
            tokens.append(piece)
            tags.append(f"{'B' if position == 0 else 'I'}-{entity_type}")
    return tokens, tags


def sample(rng: random.Random, seed: int = 0, lowercase_rate: float = 0.05) -> dict:
    """One sentence: tokens, IOB2 tags and the template it came from."""
    index = rng.randrange(len(TEMPLATES))
    tokens, tags = fill(TEMPLATES[index], rng, seed)
    if rng.random() < lowercase_rate:  # some lower-cased text, as in forums and chat
        tokens = [token.lower() for token in tokens]
    return {"tokens": tokens, "tags": tags, "template": index}
