"""Date normalisation: human-readable dates in many written forms -> ISO `YYYY-MM-DD`, and
`no date` for anything that is not one.

Every input determines its output, so a perfect model is possible:
- numeric forms are always day first (`03/04/87` is 3 April), never month first;
- two-digit years mean 1950-2049 (`49` -> 2049, `50` -> 1950), and the generator only
  writes a two-digit year for dates in that window;
- weekdays are always the true weekday of the date;
- an ISO date is passed through unchanged;
- a date that does not exist (`31 February 2020`, `29/02/2019`, month 13) and text that names no
  single day (`yesterday`, `March 2020`, `10:30`, a number) give `no date`: a model that always
  answers with a date would invent one for them.
"""

from __future__ import annotations

import calendar
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
    "yyyy-mm-dd": (lambda d: f"{d.year}-{d.month:02d}-{d.day:02d}", False),  # ISO: passed through
    "dd/mm/yyyy": (lambda d: f"{d.day:02d}/{d.month:02d}/{d.year}", False),
    "d-m-yyyy": (lambda d: f"{d.day}-{d.month}-{d.year}", False),
    "day_month_year": (lambda d: f"{d.day} {_month(d)} {d.year}", False),
    "ordinal_of_Month_year": (lambda d: f"{ordinal(d.day)} of {_month(d).title()} {d.year}", False),
    "Weekday,_day_Month_year": (
        lambda d: f"{_weekday(d).title()}, {d.day} {_month(d).title()} {d.year}", False),
}  # fmt: skip
NO_DATE = "no date"
# Forms that write any (day, month, year), so they can also write a day that does not exist;
# the numeric ones can also write a month over 12.
NUMERIC = ["dd/mm/yy", "dd.mm.yyyy", "d/m/yyyy", "yyyy/mm/dd", "d.m.yy", "dd-mm-yyyy", "yyyy-mm-dd",
           "dd/mm/yyyy", "d-m-yyyy"]  # fmt: skip
IN_WORDS = ["day_mon_year", "the_ordinal_of_month_year", "Month_day,_year", "day_Month_year",
            "ordinal_Month_year", "dd-MON-yyyy", "day_month_year", "ordinal_of_Month_year"]  # fmt: skip


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


class _Day:
    """A (day, month, year) that need not exist, for the forms' renderers."""

    def __init__(self, day: int, month: int, year: int):
        self.day, self.month, self.year = day, month, year


def _impossible(rng: random.Random) -> dict[str, str]:
    """A real-looking date that does not exist: day past the month's end (29 February of a
    common year included) or, in numeric forms, a month over 12."""
    fmt = rng.choice(NUMERIC + IN_WORDS)
    low, high = TWO_DIGIT_WINDOW if FORMATS[fmt][1] else (MIN_YEAR, MAX_YEAR)
    year, month = rng.randint(low, high), rng.randint(1, 12)
    if month != 2 and rng.random() < 0.3:  # a third in February, as for the real month ends
        month = 2
    last = calendar.monthrange(year, month)[1]
    day = rng.randint(last + 1, 31) if last < 31 and rng.random() < 0.8 else rng.randint(32, 39)
    if fmt in NUMERIC and rng.random() < 0.4:  # month 13-19 (day first: 05/13/2001 is no date)
        day, month = rng.randint(1, 28), rng.randint(13, 19)
    return {
        "source": FORMATS[fmt][0](_Day(day, month, year)),
        "target": NO_DATE,
        "format": "impossible_date",
    }


RELATIVE = ["today", "tomorrow", "yesterday", "the day after tomorrow", "the day before yesterday",
            "tonight", "now", "soon", "later", "never", "someday", "recently", "next week",
            "last week", "this week", "next month", "last month", "next year", "last year",
            "this weekend", "at the weekend", "asap", "tbd", "tba", "n/a", "unknown", "none",
            "no date", "pending", "every day", "daily", "weekly", "every monday"]  # fmt: skip
UNITS = ["day", "week", "month", "year", "hour", "minute"]
NUMBER_WORDS = [
    "two",
    "three",
    "four",
    "five",
    "six",
    "ten",
    "twelve",
    "twenty",
    "a few",
    "several",
]
WORDS = ["meeting", "invoice", "report", "delivery", "the project", "lunch", "call me", "deadline",
         "hello", "thanks", "see you", "on time", "late", "morning", "evening", "price", "total",
         "order", "room", "floor", "the office", "free", "closed", "open", "sunny", "cold"]  # fmt: skip


def _not_a_date(rng: random.Random) -> dict[str, str]:
    """Text that names no single day: relative words, periods, times, months or years alone,
    numbers, other words."""
    kind = rng.randrange(9)
    if kind == 0:
        text = rng.choice(RELATIVE)
    elif kind == 1:
        n = rng.choice([str(rng.randint(2, 30)), rng.choice(NUMBER_WORDS)])
        unit = rng.choice(UNITS) + "s"
        text = rng.choice(
            [f"{n} {unit} ago", f"in {n} {unit}", f"{n} {unit} from now", f"for {n} {unit}"]
        )
    elif kind == 2:
        text = f"{rng.choice(['next', 'last', 'this', 'on'])} {rng.choice(WEEKDAYS)}"
    elif kind == 3:
        hour, minute = rng.randint(0, 23), rng.choice([0, 5, 15, 30, 45, rng.randint(0, 59)])
        text = rng.choice([f"{hour}:{minute:02d}", f"{hour % 12 or 12} {rng.choice(['am', 'pm'])}",
                           f"{hour:02d}:{minute:02d}:00", f"at {hour % 12 or 12}:{minute:02d}"])  # fmt: skip
    elif kind == 4:  # a month or a year alone: no day
        month, year = rng.choice(MONTHS), rng.randint(MIN_YEAR, MAX_YEAR)
        text = rng.choice([f"{month.title()} {year}", f"{month} {year}", f"{year}", f"in {month}",
                           f"{month.title()}", f"q{rng.randint(1, 4)} {year}", f"{year}s",
                           f"{rng.randint(1, 12):02d}/{year}"])  # fmt: skip
    elif kind == 5:  # a day of a month without its year, or a weekday alone
        text = rng.choice([f"{rng.randint(1, 28)} {rng.choice(MONTHS).title()}",
                           f"{rng.choice(MONTHS)} {ordinal(rng.randint(1, 28))}",
                           rng.choice(WEEKDAYS).title()])  # fmt: skip
    elif kind == 6:
        text = rng.choice([str(rng.randint(0, 99999)), f"{rng.randint(0, 999)}.{rng.randint(0, 99)}",
                           f"{rng.randint(100, 999)}-{rng.randint(1000, 9999)}",
                           f"#{rng.randint(1, 9999)}", f"{rng.randint(1, 100)}%"])  # fmt: skip
    elif kind == 7:
        text = " ".join(rng.sample(WORDS, rng.randint(1, 3)))
    else:
        text = f"{rng.choice(WORDS)} {rng.choice(RELATIVE)}"
    if rng.random() < 0.3:
        text = text.title() if rng.random() < 0.5 else text.upper()
    return {"source": text, "target": NO_DATE, "format": "not_a_date"}


# Share of the examples that are not dates: enough that the model learns to decline, few enough
# that the written forms keep most of the data.
IMPOSSIBLE_SHARE, NOT_A_DATE_SHARE = 0.08, 0.05
# Share of the real dates that fall on their month's last day (29 February of leap years too):
# beside the impossible ones just past it, they teach where each month ends.
MONTH_END_SHARE = 0.15


def _month_end(rng: random.Random, low: int, high: int) -> dt.date:
    year, month = rng.randint(low, high), rng.randint(1, 12)
    if rng.random() < 0.3:  # February gets a third: its end moves with the leap years
        month = 2
    return dt.date(year, month, calendar.monthrange(year, month)[1])


def sample(rng: random.Random) -> dict[str, str]:
    """One example: a random date in a random format, with its ISO target; sometimes a date
    that does not exist or text that is no date, with the target `no date`."""
    draw = rng.random()
    if draw < IMPOSSIBLE_SHARE:
        return _impossible(rng)
    if draw < IMPOSSIBLE_SHARE + NOT_A_DATE_SHARE:
        return _not_a_date(rng)
    fmt = rng.choice(sorted(FORMATS))
    low, high = TWO_DIGIT_WINDOW if FORMATS[fmt][1] else (MIN_YEAR, MAX_YEAR)
    date = (
        _month_end(rng, low, high)
        if rng.random() < MONTH_END_SHARE
        else _random_date(rng, low, high)
    )
    return {"source": render(date, fmt), "target": date.isoformat(), "format": fmt}
