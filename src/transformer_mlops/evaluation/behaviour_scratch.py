"""Behavioural checks of the default (synthetic dates) scratch model on what people type:
hand-written dates in common day-first forms, ISO dates (passed through), dates that do not
exist and text that is no date (both declined with `no date`). They report pass rates and
never fail the stage. Real-data seq2seq (e.g. English-French) has no such checks: the report
says so (`applies: false`)."""

from __future__ import annotations

from typing import Any

from transformer_mlops.config import ScratchInference
from transformer_mlops.inference.scratch import NO_DATE, translate

MAX_FAILURES = 10  # failing examples kept per check

CHECKS: dict[str, list[tuple[str, str]]] = {
    "day-first written forms": [
        ("1 January 2000", "2000-01-01"), ("7 July 1969", "1969-07-07"),
        ("25 December 2019", "2019-12-25"), ("3 March 1987", "1987-03-03"),
        ("9 Nov 1989", "1989-11-09"), ("the 4th of july, 1776", "1776-07-04"),
        ("1st of May 2021", "2021-05-01"), ("14/02/2024", "2024-02-14"),
        ("9/11/2001", "2001-11-09"), ("01.02.2003", "2003-02-01"), ("5.6.78", "1978-06-05"),
        ("31-12-1999", "1999-12-31"), ("Friday, 13 October 2023", "2023-10-13"),
        ("2 august 1934", "1934-08-02"), ("June 6, 1944", "1944-06-06"),
        ("20/07/69", "1969-07-20"),
    ],
    "ISO dates pass through": [
        ("1987-03-03", "1987-03-03"), ("2000-01-01", "2000-01-01"), ("2024-02-29", "2024-02-29"),
        ("1969-07-20", "1969-07-20"), ("2100-12-31", "2100-12-31"), ("1815-06-18", "1815-06-18"),
    ],
    "dates that do not exist are declined": [
        ("31 February 2020", NO_DATE), ("30/02/2001", NO_DATE), ("29 February 2019", NO_DATE),
        ("32.01.2000", NO_DATE), ("2019-02-29", NO_DATE), ("31 April 1999", NO_DATE),
        ("15/13/2010", NO_DATE), ("September 31, 1985", NO_DATE),
    ],
    "text that is no date is declined": [
        ("yesterday", NO_DATE), ("next tuesday", NO_DATE), ("hello world", NO_DATE),
        ("10:30", NO_DATE), ("12345", NO_DATE), ("in three weeks", NO_DATE),
        ("March 2020", NO_DATE), ("the day after tomorrow", NO_DATE), ("TBD", NO_DATE),
        ("see you soon", NO_DATE), ("the 32nd", NO_DATE),
    ],
}  # fmt: skip


def run_checks(model, tokenizer, settings: ScratchInference = ScratchInference()) -> dict[str, Any]:
    """Every check's pass rate and failing examples: {"checks": [...], "overall_pass_rate"}."""
    inputs = [text for cases in CHECKS.values() for text, _ in cases]
    outputs = translate(model, tokenizer, inputs, settings)
    checks, start = [], 0
    for name, cases in CHECKS.items():
        got, start = outputs[start : start + len(cases)], start + len(cases)
        failures = [{"input": text, "expected": want, "got": out}
                    for (text, want), out in zip(cases, got, strict=True) if out != want]  # fmt: skip
        checks.append({"check": name, "cases": len(cases),
                       "pass_rate": round(1 - len(failures) / len(cases), 4),
                       "failures": failures[:MAX_FAILURES]})  # fmt: skip
    total = sum(c["cases"] for c in checks)
    overall = sum(c["pass_rate"] * c["cases"] for c in checks) / total
    return {"applies": True, "checks": checks, "overall_pass_rate": round(overall, 4)}


def not_applicable(source: str) -> dict[str, Any]:
    return {"applies": False, "reason": f"seq2seq.data.source is {source}: the date checks apply "
            "to the synthetic dates task", "checks": []}  # fmt: skip
