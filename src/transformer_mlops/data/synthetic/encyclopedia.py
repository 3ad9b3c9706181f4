"""Encyclopedia-style paragraphs (towns, companies, people, rivers, countries) as extractive QA.

Stories teach the model to track who went where; these teach it to read a factual paragraph:
several facts per paragraph, each a short question away ("When was Velmora founded?"), beside
distractors of the same type (the town's founding year next to its charter year and its mayor's
first year in office), so the answer has to come from the words around it, not its shape. Names
of places, firms and rivers are invented from syllables, so the model cannot answer from what it
memorised in pretraining; people come from Faker (several locales, seeded).
"""

from __future__ import annotations

import random
import string
from functools import lru_cache

from faker import Faker

from transformer_mlops.data.synthetic.gazetteers import LOCATIONS

KIND = "encyclopedic"

_ONSETS = ["b", "br", "d", "dr", "f", "g", "gr", "h", "k", "kr", "l", "m", "n", "p", "r", "s",
           "st", "t", "tr", "v", "w", "z", "ch", "th", "sh"]  # fmt: skip
_VOWELS = ["a", "e", "i", "o", "u", "ai", "ei", "ou", "ia"]
_CODAS = ["", "", "n", "r", "l", "s", "m", "nd", "rn", "st", "th"]
CITIES = LOCATIONS[: LOCATIONS.index("France")]  # the gazetteer lists cities, then countries
COUNTRIES = LOCATIONS[LOCATIONS.index("France") : LOCATIONS.index("Texas")]
INDUSTRIES = ["software", "food", "shipping", "steel", "textile", "insurance", "mining", "toy",
              "solar energy", "publishing", "pharmaceutical", "furniture"]  # fmt: skip
FIRM_SUFFIXES = ["Systems", "Foods", "Motors", "Labs", "Energy", "Group", "Holdings", "Works",
                 "Logistics", "Industries", "Media", "Pharma"]  # fmt: skip
PROFESSIONS = ["novelist", "painter", "architect", "physicist", "composer", "chemist",
               "film director", "mathematician", "sculptor", "economist", "poet", "engineer"]  # fmt: skip
SUBJECTS = ["law", "medicine", "physics", "history", "music", "chemistry", "philosophy",
            "architecture", "mathematics", "economics"]  # fmt: skip
PRIZES = ["Golden Quill Prize", "Aurora Medal", "Halvorsen Award", "Silver Compass Prize",
          "Meridian Prize", "Northlight Award"]  # fmt: skip
NATIONALITIES = ["French", "German", "Spanish", "Italian", "Dutch", "Swedish", "Polish",
                 "Brazilian", "Canadian", "Japanese", "Kenyan", "Indian", "Australian", "Irish"]  # fmt: skip
WORKS = {"novelist": "novel", "poet": "collection", "composer": "symphony", "film director": "film",
         "painter": "exhibition"}  # fmt: skip
REGIONS = ["southern Europe", "northern Europe", "East Africa", "West Africa", "South America",
           "Central America", "Central Asia", "South-East Asia", "the South Pacific", "the Caribbean"]  # fmt: skip
CURRENCIES = ["dollar", "franc", "crown", "mark", "peso", "dinar", "lira", "shilling", "rupee"]
SEAS = ["North Sea", "Baltic Sea", "Black Sea", "Adriatic Sea", "Caspian Sea", "Aegean Sea",
        "Irish Sea", "Sea of Marmara", "Ligurian Sea"]  # fmt: skip


def _word(rng: random.Random, syllables: int) -> str:
    return "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS)
                   for _ in range(syllables)).capitalize()  # fmt: skip


def _place(rng: random.Random) -> str:
    return _word(rng, rng.choice([2, 2, 3])) + rng.choice(
        ["", "", "", "burg", "ton", "ford", "ville"]
    )


def _city(rng: random.Random) -> str:
    """An invented place or a real city, half the time each."""
    return rng.choice([_place(rng), rng.choice(CITIES)])


@lru_cache(maxsize=4)
def _people(seed: int) -> tuple[tuple[str, str], ...]:
    """(name, pronoun) pairs, seeded: a pool to draw from without touching Faker per example."""
    fake = Faker(["en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT"])
    fake.seed_instance(seed)
    women = [(f"{fake.first_name_female()} {fake.last_name()}", "she") for _ in range(1500)]
    men = [(f"{fake.first_name_male()} {fake.last_name()}", "he") for _ in range(1500)]
    return tuple(women + men)


def _year(rng: random.Random, low: int, high: int) -> str:
    return str(rng.randint(low, high))


def _number(rng: random.Random, low: int, high: int) -> str:
    return f"{rng.randint(low, high):,}"


class _Paragraph:
    """Sentences with the character span of each named fact, joined by single spaces."""

    def __init__(self) -> None:
        self.sentences: list[tuple[str, dict[str, tuple[int, int]]]] = []

    def add(self, template: str, **values: str) -> None:
        """Append `template` filled with `values`; remember where each value landed."""
        text, spans = "", {}
        for literal, field, _, _ in string.Formatter().parse(template):
            text += literal
            if field is not None:
                spans[field] = (len(text), len(text) + len(values[field]))
                text += values[field]
        self.sentences.append((text[0].upper() + text[1:], spans))

    def shuffle_tail(self, rng: random.Random) -> None:
        """Keep the opening sentence, shuffle the rest: facts come in any order."""
        head, tail = self.sentences[:1], self.sentences[1:]
        rng.shuffle(tail)
        self.sentences = head + tail

    def context_and_spans(self) -> tuple[str, dict[str, tuple[int, int]]]:
        context, spans = "", {}
        for text, local in self.sentences:
            start = len(context) + (1 if context else 0)
            context = f"{context} {text}" if context else text
            for field, (a, b) in local.items():
                spans.setdefault(field, (start + a, start + b))
        return context, spans


def _town(
    rng: random.Random, people: tuple[tuple[str, str], ...]
) -> tuple[_Paragraph, dict[str, list[str]]]:
    town, river, country = _place(rng), _word(rng, 2), rng.choice(COUNTRIES)
    founder, mayor = rng.choice(people)[0], rng.choice(people)[0]
    founded, charter = _year(rng, 900, 1500), _year(rng, 1510, 1800)
    census, mayor_since = _year(rng, 1990, 2021), _year(rng, 2005, 2024)
    p = _Paragraph()
    p.add(rng.choice(["{town} is a town in {country} on the river {river}.",
                      "{town} is a city in the north of {country}, on the banks of the {river}.",
                      "{town} is a market town in {country}, where the {river} meets the sea."]),
          town=town, country=country, river=river)  # fmt: skip
    p.add(rng.choice(["It was founded in {founded} by {founder}.", "{founder} founded the town in {founded}.",
                      "The town was founded by {founder} in {founded}."]), founded=founded, founder=founder)  # fmt: skip
    landmark = rng.choice(["charter", "bridge"])  # the question below asks about the same one
    p.add({"charter": "It received a market charter in {charter}.",
           "bridge": "Its stone bridge was built in {charter}."}[landmark], charter=charter)  # fmt: skip
    p.add(rng.choice(["The population was {population} at the {census} census.",
                      "At the census of {census} it had {population} inhabitants."]),
          population=_number(rng, 2000, 900000), census=census)  # fmt: skip
    p.add(rng.choice(["The current mayor, {mayor}, took office in {mayor_since}.",
                      "{mayor} has been mayor since {mayor_since}."]), mayor=mayor, mayor_since=mayor_since)  # fmt: skip
    questions = {
        "founded": [f"When was {town} founded?", f"In what year was {town} founded?"],
        "founder": [f"Who founded {town}?", f"Who was the founder of {town}?"],
        "river": [f"On which river is {town}?", f"Which river flows through {town}?"],
        "country": [f"In which country is {town}?", f"Where is {town}?"],
        "population": [f"What was the population of {town} at the {census} census?",
                       f"How many people lived in {town} in {census}?"],
        "mayor": [f"Who is the mayor of {town}?"],
        "mayor_since": [f"When did {mayor} become mayor?", f"Since when has {mayor} been mayor of {town}?"],
        "charter": [{"charter": f"When did {town} receive its market charter?",
                     "bridge": f"When was the stone bridge of {town} built?"}[landmark]],
    }  # fmt: skip
    return p, questions


def _company(
    rng: random.Random, people: tuple[tuple[str, str], ...]
) -> tuple[_Paragraph, dict[str, list[str]]]:
    firm, bought = (
        f"{_word(rng, 2)} {rng.choice(FIRM_SUFFIXES)}",
        f"{_word(rng, 2)} {rng.choice(FIRM_SUFFIXES)}",
    )
    city, industry = _city(rng), rng.choice(INDUSTRIES)
    founders = f"{rng.choice(people)[0]} and {rng.choice(people)[0]}"
    chief = rng.choice(people)[0]
    founded, chief_since, acquired = (
        _year(rng, 1850, 1995),
        _year(rng, 1996, 2024),
        _year(rng, 1996, 2024),
    )
    p = _Paragraph()
    p.add(rng.choice(["{firm} is a {industry} company based in {city}.",
                      "{firm} is a {industry} company with its headquarters in {city}."]),
          firm=firm, industry=industry, city=city)  # fmt: skip
    p.add(rng.choice(["It was founded in {founded} by {founders}.", "{founders} founded it in {founded}."]),
          founded=founded, founders=founders)  # fmt: skip
    p.add(rng.choice(["{chief} has been its chief executive since {chief_since}.",
                      "Its chief executive, {chief}, was appointed in {chief_since}."]),
          chief=chief, chief_since=chief_since)  # fmt: skip
    p.add(rng.choice(["In {acquired} it bought {bought}.", "It acquired {bought} in {acquired}."]),
          acquired=acquired, bought=bought)  # fmt: skip
    p.add(rng.choice(["It employs about {staff} people.", "The company has {staff} employees."]),
          staff=_number(rng, 40, 90000))  # fmt: skip
    questions = {
        "founded": [f"When was {firm} founded?", f"In which year was {firm} founded?"],
        "founders": [f"Who founded {firm}?"],
        "chief": [f"Who is the chief executive of {firm}?", f"Who runs {firm}?"],
        "chief_since": [f"When was {chief} appointed chief executive?"],
        "city": [f"Where is {firm} based?", f"In which city is {firm} headquartered?"],
        "bought": [f"Which company did {firm} buy in {acquired}?", f"What did {firm} acquire?"],
        "acquired": [f"When did {firm} buy {bought}?"],
        "staff": [f"How many people does {firm} employ?"],
        "industry": [f"What kind of company is {firm}?"],
    }  # fmt: skip
    return p, questions


def _person(
    rng: random.Random, people: tuple[tuple[str, str], ...]
) -> tuple[_Paragraph, dict[str, list[str]]]:
    (name, pronoun), profession = rng.choice(people), rng.choice(PROFESSIONS)
    surname = name.split()[-1]
    born = f"{rng.randint(1, 28)} {rng.choice(['January', 'March', 'May', 'July', 'October', 'December'])} {_year(rng, 1900, 1990)}"
    birthplace, home, university = (
        _place(rng),
        _city(rng),
        _place(rng),
    )
    prize, prize_year, moved = rng.choice(PRIZES), _year(rng, 1950, 2024), _year(rng, 1960, 2024)
    p = _Paragraph()
    p.add(rng.choice(["{name} (born {born}) is a {nationality} {profession}.",
                      "{name}, born on {born}, is a {nationality} {profession}."]),
          name=name, born=born, nationality=rng.choice(NATIONALITIES), profession=profession)  # fmt: skip
    p.add(f"{pronoun} was born in {{birthplace}} and studied {{subject}} at the University of {{university}}.",
          birthplace=birthplace, subject=rng.choice(SUBJECTS), university=university)  # fmt: skip
    p.add(f"In {{prize_year}} {pronoun} won the {{prize}}.", prize_year=prize_year, prize=prize)
    p.add(f"{surname} has lived in {{home}} since {{moved}}.", home=home, moved=moved)
    questions = {
        "born": [f"When was {name} born?", f"What is the birth date of {name}?"],
        "birthplace": [f"Where was {name} born?", f"In which town was {surname} born?"],
        "university": [f"Where did {name} study?", f"At which university did {surname} study?"],
        "subject": [f"What did {name} study?"],
        "prize": [f"Which prize did {name} win?", f"What did {surname} win in {prize_year}?"],
        "prize_year": [f"When did {name} win the {prize}?"],
        "home": [f"Where does {name} live?", f"Where has {surname} lived since {moved}?"],
        "profession": [f"What is {name}'s profession?", f"What does {name} do?"],
    }  # fmt: skip
    work = WORKS.get(profession)
    if work:
        title, appeared = (
            " ".join(_word(rng, 2) for _ in range(rng.randint(1, 3))),
            _year(rng, 1950, 2024),
        )
        possessive = {"she": "her", "he": "his"}[pronoun]
        p.add(
            f"{possessive} first {work}, {{title}}, appeared in {{appeared}}.",
            title=title,
            appeared=appeared,
        )
        questions["title"] = [
            f"What was {name}'s first {work}?",
            f"What is the title of {surname}'s first {work}?",
        ]
        questions["appeared"] = [
            f"When did {title} appear?",
            f"When did {surname}'s first {work} appear?",
        ]
    return p, questions


def _river(
    rng: random.Random, people: tuple[tuple[str, str], ...]
) -> tuple[_Paragraph, dict[str, list[str]]]:
    river, tributary, country = _word(rng, 2), _word(rng, 2), rng.choice(COUNTRIES)
    mouth, dam_town, mountains = _place(rng), _place(rng), f"{_word(rng, 2)} Mountains"
    dam_year = _year(rng, 1900, 2010)
    p = _Paragraph()
    p.add(rng.choice(["The {river} is a river in {country}, {length} long.",
                      "The {river} flows through {country} for {length}."]),
          river=river, country=country, length=f"{_number(rng, 40, 2900)} kilometres")  # fmt: skip
    p.add(rng.choice(["It rises in the {mountains} and flows into the {sea} at {mouth}.",
                      "Its source lies in the {mountains}; it reaches the {sea} at {mouth}."]),
          mountains=mountains, sea=rng.choice(SEAS), mouth=mouth)  # fmt: skip
    p.add("Its largest tributary is the {tributary}.", tributary=tributary)
    p.add("The first bridge across it opened in {bridge_year}.", bridge_year=_year(rng, 1100, 1899))
    p.add(rng.choice(["A dam was built near {dam_town} in {dam_year}.",
                      "In {dam_year} a dam was completed near {dam_town}."]), dam_town=dam_town, dam_year=dam_year)  # fmt: skip
    questions = {
        "length": [f"How long is the {river}?", f"What is the length of the {river}?"],
        "mountains": [f"Where does the {river} rise?", f"Where is the source of the {river}?"],
        "sea": [f"Into which sea does the {river} flow?"],
        "mouth": [f"Where does the {river} reach the sea?", f"At which town does the {river} meet the sea?"],
        "tributary": [f"What is the largest tributary of the {river}?"],
        "dam_year": [f"When was the dam near {dam_town} built?"],
        "dam_town": [f"Where was a dam built on the {river}?"],
        "bridge_year": [f"When did the first bridge across the {river} open?"],
        "country": [f"In which country is the {river}?", f"Which country does the {river} flow through?"],
    }  # fmt: skip
    return p, questions


def _country(
    rng: random.Random, people: tuple[tuple[str, str], ...]
) -> tuple[_Paragraph, dict[str, list[str]]]:
    # Real names too, each half the time: with invented countries only, "What is the capital of
    # Portugal?" got the region back (a real country had only ever been an answer, never the
    # subject asked about), while the same paragraph about an invented country was answered.
    invented = _word(rng, rng.choice([2, 2, 3])) + rng.choice(["", "", "ia", "land", "stan"])
    country = rng.choice([invented, rng.choice(COUNTRIES)])
    capital, largest = _city(rng), _city(rng)
    largest = largest if largest != capital else _place(rng)  # the capital's distractor
    language = _word(rng, 2) + rng.choice(["ish", "ian", "ese", "i"])
    president, president_since = rng.choice(people)[0], _year(rng, 1995, 2024)
    independence = rng.randint(1800, 1990)  # the constitution comes after it: a distractor year
    independence, constitution = (
        str(independence),
        str(min(2020, independence + rng.randint(1, 60))),
    )
    mountain, height = f"Mount {_word(rng, 2)}", f"{_number(rng, 900, 6900)} metres"
    p = _Paragraph()
    p.add(rng.choice(["{country} is a country in {region}.", "{country} is a small country in {region}.",
                      "{country} lies in {region}."]), country=country, region=rng.choice(REGIONS))  # fmt: skip
    p.add(rng.choice(["The capital of {country} is {capital}.", "Its capital is {capital}.",
                      "{capital} is the capital of {country}."]), country=country, capital=capital)  # fmt: skip
    p.add(rng.choice(["Its largest city is {largest}.", "{largest} is its largest city and main port."]),
          largest=largest)  # fmt: skip
    p.add(rng.choice(["Its official language is {language}.", "The official language is {language}."]),
          language=language)  # fmt: skip
    p.add(rng.choice(["{mountain} is its highest mountain, at {height}.",
                      "Its highest point is {mountain}, {height} above the sea."]), mountain=mountain, height=height)  # fmt: skip
    p.add(rng.choice(["It became independent in {independence}; its constitution dates from {constitution}.",
                      "It gained independence in {independence} and adopted its constitution in {constitution}."]),
          independence=independence, constitution=constitution)  # fmt: skip
    p.add(rng.choice(["{president} has been its president since {president_since}.",
                      "The president, {president}, took office in {president_since}."]),
          president=president, president_since=president_since)  # fmt: skip
    p.add(rng.choice(["It has about {population} inhabitants.", "Its population is about {population}."]),
          population=_number(rng, 90000, 90000000))  # fmt: skip
    p.add(
        "The currency is the {currency}.",
        currency=f"{_word(rng, 2).lower()} {rng.choice(CURRENCIES)}",
    )
    questions = {
        "capital": [f"What is the capital of {country}?", f"Which city is the capital of {country}?",
                    f"What is {country}'s capital?"],
        "largest": [f"What is the largest city of {country}?", f"Which is the largest city in {country}?"],
        "language": [f"What is the official language of {country}?", f"What language is spoken in {country}?"],
        "mountain": [f"What is the highest mountain in {country}?", f"What is the highest point of {country}?"],
        "height": [f"How high is {mountain}?"],
        "independence": [f"When did {country} become independent?"],
        "constitution": [f"When did {country} adopt its constitution?"],
        "president": [f"Who is the president of {country}?"],
        "president_since": [f"Since when has {president} been president of {country}?"],
        "region": [f"Where is {country}?", f"In which region is {country}?"],
        "currency": [f"What is the currency of {country}?"],
        "population": [f"How many people live in {country}?", f"What is the population of {country}?"],
    }  # fmt: skip
    return p, questions


TOPICS = (_town, _company, _person, _river, _country)
# Facts asked about whenever their paragraph is drawn: what people ask first about a country.
# Drawn at random among its twelve facts, a capital would be asked about 10 times in the
# default 3,600 training questions; always asked, 28 times.
ALWAYS_ASKED = ("capital",)


def paragraph(rng: random.Random, seed: int = 0, n_questions: int = 4) -> list[dict]:
    """One paragraph on a random topic with `n_questions` questions about different facts."""
    p, questions = rng.choice(TOPICS)(rng, _people(seed))
    p.shuffle_tail(rng)
    context, spans = p.context_and_spans()
    examples, first = [], [fact for fact in ALWAYS_ASKED if fact in questions]
    others = [fact for fact in sorted(questions) if fact not in first]
    for fact in first + rng.sample(others, min(n_questions, len(questions)) - len(first)):
        start, end = spans[fact]
        examples.append({"kind": KIND, "context": context, "question": rng.choice(questions[fact]),
                         "answers": {"text": [context[start:end]], "answer_start": [start]}})  # fmt: skip
    return examples
