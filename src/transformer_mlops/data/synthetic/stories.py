"""bAbI-style stories (people move between places, pick up and drop objects) as extractive QA.

Two kinds of question, as in bAbI tasks 1 and 2:
- single-supporting-fact: "Where is Mary?" -> the place of Mary's last move;
- two-supporting-facts: "Where is the football?" -> the place of whoever holds it (or held it
  when it was dropped): one fact says who has the object, another where that person went.
The answer span points into the supporting sentence that names the place. Each question also
lists its `evidence`: the character spans of every sentence about the person the answer follows
(the asked person; for an object, whoever last took or dropped it). Training can use them as
auxiliary supervision (bAbI's "strong supervision"); evaluation never sees them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

PEOPLE = [
    "Mary", "John", "Daniel", "Sandra", "Fred", "Julie", "Bill", "Emily", "Jeff", "Greg",
    "Lily", "Brian", "Anna", "Peter", "Sophie", "Oliver", "Grace", "Henry", "Chloe", "Lucas",
    "Nora", "Omar", "Priya", "Kenji", "Ines", "Marco", "Elena", "Tom", "Yara", "Sam",
]  # fmt: skip
PLACES = [
    "kitchen", "garden", "hallway", "bathroom", "bedroom", "office", "cellar", "garage",
    "attic", "library", "park", "school", "cinema", "balcony", "studio",
]  # fmt: skip
OBJECTS = [
    "football", "apple", "milk", "book", "umbrella", "key", "guitar", "laptop", "hat",
    "basket", "lamp", "camera",
]  # fmt: skip

MOVE_VERBS = ["went to", "journeyed to", "travelled to", "moved to", "went back to", "walked to"]
TAKE_VERBS = ["picked up", "got", "grabbed", "took"]
DROP_VERBS = ["dropped", "discarded", "put down", "left"]

QUESTIONS = {
    "single-supporting-fact": ["Where is {x}?", "Where is {x} now?", "In which room is {x}?"],
    "two-supporting-facts": ["Where is the {x}?", "Where is the {x} now?", "Where can the {x} be found?"],
}  # fmt: skip
KINDS = tuple(QUESTIONS)


@dataclass
class _World:
    """Who is where, who holds what, and the sentence/offset that last stated each fact."""

    cast: list[str]
    sentences: list[str] = field(default_factory=list)
    spans: list[tuple[str, int, int]] = field(
        default_factory=list
    )  # (actor, start, end) per sentence
    place: dict[str, tuple[str, int]] = field(
        default_factory=dict
    )  # person -> (place, char offset)
    holder: dict[str, str] = field(default_factory=dict)  # object -> person
    dropped_at: dict[str, tuple[str, int]] = field(
        default_factory=dict
    )  # object -> (place, offset)
    last_handler: dict[str, str] = field(default_factory=dict)  # object -> who last took/dropped it
    length: int = 0  # characters of context so far, sentences joined by single spaces

    def say(self, actor: str, sentence: str, answer_word: str | None = None) -> int:
        """Append `actor`'s sentence; return the context offset of `answer_word` in it (or -1)."""
        start = self.length + (1 if self.sentences else 0)
        self.sentences.append(sentence)
        self.spans.append((actor, start, start + len(sentence)))
        self.length = start + len(sentence)
        return start + sentence.rindex(answer_word) if answer_word else -1

    def evidence(self, person: str) -> list[list[int]]:
        """[start, end) character spans of the sentences about `person` so far."""
        return [[start, end] for actor, start, end in self.spans if actor == person]


def _act(rng: random.Random, world: _World) -> None:
    person = rng.choice(world.cast)
    held = [obj for obj, who in world.holder.items() if who == person]
    free = [obj for obj in OBJECTS if obj not in world.holder]
    choice = rng.random()
    if person in world.place and held and choice < 0.2:
        obj = rng.choice(held)
        world.say(person, f"{person} {rng.choice(DROP_VERBS)} the {obj}.")
        world.last_handler[obj] = person
        del world.holder[obj]
        world.dropped_at[obj] = world.place[person]
    elif person in world.place and free and choice < 0.4:
        obj = rng.choice(free)
        world.say(person, f"{person} {rng.choice(TAKE_VERBS)} the {obj}.")
        world.last_handler[obj] = person
        world.holder[obj] = person
        world.dropped_at.pop(obj, None)
    else:
        place = rng.choice(PLACES)
        offset = world.say(person, f"{person} {rng.choice(MOVE_VERBS)} the {place}.", place)
        world.place[person] = (place, offset)


def _question(rng: random.Random, world: _World, kind: str) -> tuple[str, str, int, str] | None:
    """(question, answer, answer_start, person the answer follows) for a question of `kind`
    that the story answers."""
    template = rng.choice(QUESTIONS[kind])
    if kind == "single-supporting-fact":
        if not world.place:
            return None
        person = rng.choice(sorted(world.place))
        place, offset = world.place[person]
        return template.format(x=person), place, offset, person
    known = sorted(o for o in world.holder if world.holder[o] in world.place) + sorted(
        world.dropped_at
    )
    if not known:
        return None
    obj = rng.choice(known)
    place, offset = world.dropped_at.get(obj) or world.place[world.holder[obj]]
    return template.format(x=obj), place, offset, world.last_handler[obj]


def story(rng: random.Random, n_questions: int = 5) -> list[dict]:
    """One story with up to `n_questions` questions asked along the way, at bAbI's cadence: the
    first after two statements, then one every one to three statements (so contexts run from
    two sentences, where the answer is a plain lookup, to twenty and more)."""
    world = _World(cast=rng.sample(PEOPLE, rng.randint(2, 6)))
    examples = []
    for _ in range(2):
        _act(rng, world)
    while len(examples) < n_questions and len(world.sentences) < 30:
        kind = rng.choice(KINDS)
        asked = _question(rng, world, kind)
        if asked is not None:
            question, answer, start, person = asked
            examples.append(
                {
                    "kind": kind,
                    "context": " ".join(world.sentences),
                    "question": question,
                    "answers": {"text": [answer], "answer_start": [start]},
                    "evidence": world.evidence(person),
                }
            )
        for _ in range(rng.randint(1, 3)):
            _act(rng, world)
    return examples


def long_story(rng: random.Random, sentences: int) -> list[dict]:
    """One story of `sentences` statements by six people, with "Where is X?" asked of each at its
    end: contexts many windows long (a behaviour check, not training data)."""
    world = _World(cast=rng.sample(PEOPLE, 6))
    while len(world.sentences) < sentences:
        _act(rng, world)
    context = " ".join(world.sentences)
    return [
        {"kind": "single-supporting-fact", "context": context, "question": f"Where is {person}?",
         "answers": {"text": [place], "answer_start": [offset]}, "evidence": world.evidence(person)}
        for person, (place, offset) in sorted(world.place.items())
    ]  # fmt: skip
