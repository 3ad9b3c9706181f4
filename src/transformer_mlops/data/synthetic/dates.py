"""Date normalisation: human-readable dates in many written forms -> ISO `YYYY-MM-DD`.

Every input determines its output, so a perfect model is possible:
- numeric forms are always day first (`03/04/87` is 3 April), never month first;
- two-digit years mean 1950-2049 (`49` -> 2049, `50` -> 1950), and the generator only
  writes a two-digit year for dates in that window;
- weekdays are always the true weekday of the date.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable

MONTHS = [
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
]  # fmt: skip
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
ORDINAL_WORDS = [
    "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth",
    "tenth", "eleventh", "twelfth", "thirteenth", "fourteenth", "fifteenth", "sixteenth",
    "seventeenth", "eighteenth", "nineteenth", "twentieth", "twenty-first", "twenty-second",
    "twenty-third", "twenty-fourth", "twenty-fifth", "twenty-sixth", "twenty-seventh",
    "twenty-eighth", "twenty-ninth", "thirtieth", "thirty-first",
]  # fmt: skip

MIN_YEAR, MAX_YEAR = 1600, 2199  # full-year forms
TWO_DIGIT_WINDOW = (1950, 2049)  # the stated rule for two-digit years


def ordinal(day: int) -> str:
    """3 -> '3rd', 11 -> '11th', 22 -> '22nd'."""
    suffix = "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def _month(d: dt.date) -> str:
    return MONTHS[d.month - 1]


def _mon(d: dt.date) -> str:
    return MONTHS[d.month - 1][:3]


def _weekday(d: dt.date) -> str:
    return WEEKDAYS[d.weekday()]


def _yy(d: dt.date) -> str:
    return f"{d.year % 100:02d}"


# name -> (renderer, uses a two-digit year). Casing varies on purpose: real text does.
FORMATS: dict[str, tuple[Callable[[dt.date], str], bool]] = {
    "weekday_month_day_year": (lambda d: f"{_weekday(d)}, {_month(d)} {d.day} {d.year}", False),
    "day_mon_year": (lambda d: f"{d.day} {_mon(d).title()} {d.year}", False),
    "dd/mm/yy": (lambda d: f"{d.day:02d}/{d.month:02d}/{_yy(d)}", True),
    "the_ordinal_of_month_year": (lambda d: f"the {ordinal(d.day)} of {_month(d)}, {d.year}", False),
    "Month_day,_year": (lambda d: f"{_month(d).title()} {d.day}, {d.year}", False),
    "day_Month_year": (lambda d: f"{d.day} {_month(d).title()} {d.year}", False),
    "mon_day_year": (lambda d: f"{_mon(d)} {d.day} {d.year}", False),
    "dd.mm.yyyy": (lambda d: f"{d.day:02d}.{d.month:02d}.{d.year}", False),
    "d/m/yyyy": (lambda d: f"{d.day}/{d.month}/{d.year}", False),
    "yyyy/mm/dd": (lambda d: f"{d.year}/{d.month:02d}/{d.day:02d}", False),
    "Wkd_day_Mon_year": (lambda d: f"{_weekday(d)[:3].title()} {d.day} {_mon(d).title()} {d.year}", False),
    "Month_ordinal,_year": (lambda d: f"{_month(d).title()} {ordinal(d.day)}, {d.year}", False),
    "ordinal_Month_year": (lambda d: f"{ordinal(d.day)} {_month(d).title()} {d.year}", False),
    "month_the_ordinal_word,_year": (
        lambda d: f"{_month(d)} the {ORDINAL_WORDS[d.day - 1]}, {d.year}", False),
    "dd-MON-yyyy": (lambda d: f"{d.day:02d}-{_mon(d).upper()}-{d.year}", False),
    "MONTH_day,_year": (lambda d: f"{_month(d).upper()} {d.day}, {d.year}", False),
    "d.m.yy": (lambda d: f"{d.day}.{d.month}.{_yy(d)}", True),
    "yyyymmdd": (lambda d: f"{d.year}{d.month:02d}{d.day:02d}", False),
    "Weekday_the_ordinal_of_Month_year": (
        lambda d: f"{_weekday(d).title()} the {ordinal(d.day)} of {_month(d).title()} {d.year}", False),
    "mon_day_'yy": (lambda d: f"{_mon(d)} {d.day} '{_yy(d)}", True),
    "dd-mm-yyyy": (lambda d: f"{d.day:02d}-{d.month:02d}-{d.year}", False),
}  # fmt: skip


def render(date: dt.date, fmt: str) -> str:
    """Write `date` in the named format."""
    renderer, two_digit = FORMATS[fmt]
    if two_digit and not TWO_DIGIT_WINDOW[0] <= date.year <= TWO_DIGIT_WINDOW[1]:
        raise ValueError(f"format {fmt!r} needs a year in {TWO_DIGIT_WINDOW}, got {date.year}")
    return renderer(date)


def _random_date(rng: random.Random, low: int, high: int) -> dt.date:
    first = dt.date(low, 1, 1).toordinal()
    last = dt.date(high, 12, 31).toordinal()
    return dt.date.fromordinal(rng.randint(first, last))


def sample(rng: random.Random) -> dict[str, str]:
    """One example: a random date in a random format, with its ISO target."""
    fmt = rng.choice(sorted(FORMATS))
    low, high = TWO_DIGIT_WINDOW if FORMATS[fmt][1] else (MIN_YEAR, MAX_YEAR)
    date = _random_date(rng, low, high)
    return {"source": render(date, fmt), "target": date.isoformat(), "format": fmt}
