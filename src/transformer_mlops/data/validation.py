"""Great Expectations suites per task: run them on the prepared splits, report readably.

Each check runs on a pandas frame derived from the prepared JSON lines: one row per example
(`rows`), per token (`tokens`, NER), per gold answer (`answers`, QA), and all splits together
(`all`, for ids and cross-split leakage). Derived columns (lengths, the previous tag, the
context slice at `answer_start`) turn every rule into a stock GX expectation, so the Data Docs
show each rule with its offending values.
"""

from __future__ import annotations

import copy
import logging
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from transformer_mlops.config import SPLITS, DataConfig
from transformer_mlops.data.schema import content_key, label_set
from transformer_mlops.errors import ValidationFailed
from transformer_mlops.io import replace_dir, staging_dir, write_json

MAX_EXAMPLES = 5  # offending rows shown per failed check
NOT_BLANK = r"\S"  # a text with at least one non-whitespace character
INDEX_COLUMNS = {"tokens": ["id", "position"]}  # what identifies an offending row, per frame
logging.getLogger("great_expectations").setLevel(logging.WARNING)  # its INFO is internal chatter


@dataclass(frozen=True)
class Check:
    """One expectation on one frame, with the sentence a person reads when it fails."""

    frame: str
    description: str
    expectation: Any  # a great_expectations.expectations.Expectation


def iob2_transitions(labels: list[str]) -> list[str]:
    """Allowed `previous>tag` transitions: I-X only after B-X or I-X; a sentence starts after O."""
    return [
        f"{prev}>{tag}"
        for prev in labels
        for tag in labels
        if not tag.startswith("I-") or prev in (f"B-{tag[2:]}", tag)
    ]


# ---------------------------------------------------------------------------------- frames


def frames(task: str, splits: dict[str, list[dict]]) -> dict[str, pd.DataFrame]:
    """The frames the checks run on, keyed `<split>/<frame>` and `all`."""
    out: dict[str, pd.DataFrame] = {}
    for split, records in splits.items():
        rows = pd.DataFrame(records) if records else pd.DataFrame({"id": pd.Series(dtype=str)})
        if task == "ner" and records:
            rows["n_tokens"] = rows["tokens"].map(len)
            rows["n_tags"] = rows["tags"].map(len)
            out[f"{split}/tokens"] = pd.DataFrame(_token_rows(records))
        if task == "qa" and records:
            rows["n_answers"] = rows["answers"].map(lambda a: len(a["text"]))
            out[f"{split}/answers"] = pd.DataFrame(_answer_rows(records))
            if any("evidence" in r for r in records):
                out[f"{split}/evidence"] = pd.DataFrame(_evidence_rows(records))
        out[f"{split}/rows"] = rows.drop(columns=["tokens", "tags", "answers", "evidence"],
                                         errors="ignore")  # fmt: skip
    combined = []
    for split, records in splits.items():
        seen: set[str] = set()
        for record in records:
            key = content_key(task, record)
            if key not in seen:  # duplicates inside one split are fine; across splits are not
                seen.add(key)
                combined.append({"id": record["id"], "split": split, "key": key})
    out["all"] = pd.DataFrame(combined, columns=["id", "split", "key"])
    return out


def _token_rows(records: list[dict]) -> Iterator[dict]:
    for record in records:
        prev = "O"
        for position, (token, tag) in enumerate(
            zip(record["tokens"], record["tags"], strict=False)
        ):
            yield {"id": record["id"], "position": position, "token": token, "tag": tag,
                   "transition": f"{prev}>{tag}"}  # fmt: skip
            prev = tag


def _answer_rows(records: list[dict]) -> Iterator[dict]:
    for record in records:
        context = record["context"]
        answers = record["answers"]
        for text, start in zip(answers["text"], answers["answer_start"], strict=False):
            yield {
                "id": record["id"],
                "answer_text": text,
                "answer_start": start,
                "answer_end": start + len(text),
                "context_len": len(context),
                "context_slice": context[start : start + len(text)] if start >= 0 else "",
            }


def _evidence_rows(records: list[dict]) -> Iterator[dict]:
    for record in records:
        for span in record.get("evidence") or []:
            pair = isinstance(span, list | tuple) and len(span) == 2  # else it fails start >= 0
            start, end = span if pair else (-1, -1)
            yield {"id": record["id"], "evidence_start": start, "evidence_end": end,
                   "context_len": len(record["context"])}  # fmt: skip


# ---------------------------------------------------------------------------------- suites


def checks(task: str, cfg: DataConfig, labels: list[str] | None = None) -> list[Check]:
    """The suite of `task`: per-split checks (frame names without the split) and `all` checks."""
    import great_expectations.expectations as gxe

    bounds = gxe.ExpectTableRowCountToBeBetween(
        min_value=cfg.bounds.min_rows, max_value=cfg.bounds.max_rows
    )
    suite = [
        Check("rows", f"row count within [{cfg.bounds.min_rows}, {cfg.bounds.max_rows}]", bounds),
        Check("rows", "every example has an id", gxe.ExpectColumnValuesToNotBeNull(column="id")),
    ]
    if task == "seq2seq":
        for column in ("source", "target"):
            suite.append(
                Check("rows", f"no empty {column} text (blank counts as empty)",
                      gxe.ExpectColumnValuesToMatchRegex(column=column, regex=NOT_BLANK))
            )  # fmt: skip
    elif task == "ner":
        labels = labels or []
        suite += [
            Check("rows", "no sentence without tokens",
                  gxe.ExpectColumnValuesToBeBetween(column="n_tokens", min_value=1)),
            Check("rows", "tokens and tags have equal length",
                  gxe.ExpectColumnPairValuesToBeEqual(column_A="n_tokens", column_B="n_tags")),
            Check("tokens", "no empty token",
                  gxe.ExpectColumnValueLengthsToBeBetween(column="token", min_value=1)),
            Check("tokens", f"tags in the label set {labels}",
                  gxe.ExpectColumnValuesToBeInSet(column="tag", value_set=labels)),
            Check("tokens", "IOB2 well formed (I-X only after B-X or I-X)",
                  gxe.ExpectColumnValuesToBeInSet(column="transition", value_set=iob2_transitions(labels))),
        ]  # fmt: skip
    else:
        suite += [
            Check("rows", "no empty context (blank counts as empty)",
                  gxe.ExpectColumnValuesToMatchRegex(column="context", regex=NOT_BLANK)),
            Check("rows", "no empty question (blank counts as empty)",
                  gxe.ExpectColumnValuesToMatchRegex(column="question", regex=NOT_BLANK)),
            Check("rows", "every question has an answer",
                  gxe.ExpectColumnValuesToBeBetween(column="n_answers", min_value=1)),
            Check("answers", "no empty answer text (blank counts as empty)",
                  gxe.ExpectColumnValuesToMatchRegex(column="answer_text", regex=NOT_BLANK)),
            Check("answers", "answer_start is not negative",
                  gxe.ExpectColumnValuesToBeBetween(column="answer_start", min_value=0)),
            Check("answers", "answer ends inside the context",
                  gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                      column_A="context_len", column_B="answer_end", or_equal=True)),
            Check("answers", "context[answer_start:] equals the answer text",
                  gxe.ExpectColumnPairValuesToBeEqual(column_A="answer_text", column_B="context_slice")),
            # only when a source gives evidence spans (the synthetic stories do)
            Check("evidence", "evidence spans are [start, end] pairs with start >= 0",
                  gxe.ExpectColumnValuesToBeBetween(column="evidence_start", min_value=0)),
            Check("evidence", "evidence spans are not empty (end > start)",
                  gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                      column_A="evidence_end", column_B="evidence_start")),
            Check("evidence", "evidence spans end inside the context",
                  gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                      column_A="context_len", column_B="evidence_end", or_equal=True)),
        ]  # fmt: skip
    suite += [
        Check("all", "ids unique across all splits", gxe.ExpectColumnValuesToBeUnique(column="id")),
        Check("all", "no example shared between splits (train/validation/test)",
              gxe.ExpectColumnValuesToBeUnique(column="key")),
    ]  # fmt: skip
    return suite


# ---------------------------------------------------------------------------------- running


def _context(docs_dir: Path):
    """An in-memory GX context whose Data Docs site is a folder on disk."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    site = {
        "class_name": "SiteBuilder",
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        "store_backend": {
            "class_name": "TupleFilesystemStoreBackend",
            "base_directory": str(Path(docs_dir).resolve()),
        },
    }
    context.add_data_docs_site(site_name="local", site_config=site)
    return context


def _columns(expectation: Any) -> list[str]:
    """The columns an expectation reads (none for table-level ones like row count)."""
    fields = expectation.dict().items()
    return sorted(str(v) for k, v in fields if k.startswith("column") and v is not None)


def _summarise(check: Check, frame_name: str, result: Any, frame: pd.DataFrame) -> dict:
    split, _, frame_kind = frame_name.rpartition("/")
    info = result.result or {}
    summary = {
        "split": split or "all",
        "frame": frame_kind,
        "check": check.description,
        "expectation": result.expectation_config.type,
        "columns": _columns(check.expectation),
        "success": bool(result.success),
        "rows": len(frame),
        "unexpected_count": int(info.get("unexpected_count") or 0),
    }
    if "observed_value" in info:
        summary["observed_value"] = _plain(info["observed_value"])
    if not result.success:
        summary["examples"] = [
            _plain(item) for item in (info.get("unexpected_index_list") or [])[:MAX_EXAMPLES]
        ]
        if not summary["examples"] and info.get("partial_unexpected_list"):
            summary["examples"] = [
                _plain(v) for v in info["partial_unexpected_list"][:MAX_EXAMPLES]
            ]
    return summary


def _plain(value: Any) -> Any:
    """numpy scalars and tuples -> JSON types."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "item"):
        return value.item()
    return value


def validate_splits(
    task: str, splits: dict[str, list[dict]], cfg: DataConfig, docs_dir: str | Path
) -> dict:
    """Run the task's suite on every split; build Data Docs in the folder `docs_dir`; return
    the report."""
    import great_expectations as gx

    # GX sets its loggers' levels when imported; its INFO lines are internal chatter
    logging.getLogger("great_expectations.data_context.types.base").setLevel(logging.WARNING)

    labels = None
    if task == "ner":
        types = cfg.entity_types or sorted(
            {t[2:] for r in splits["train"] for t in r["tags"] if t != "O"}
        )
        labels = label_set(types)
    suite = checks(task, cfg, labels)
    data = frames(task, splits)
    results: list[dict] = []
    context = _context(Path(docs_dir))
    source = context.data_sources.add_pandas("prepared")
    kinds = ("rows", "tokens", "answers", "evidence")
    targets = [f"{split}/{kind}" for split in SPLITS for kind in kinds]
    for frame_name in [*targets, "all"]:
        kind = frame_name.rpartition("/")[2]
        frame_checks = [c for c in suite if c.frame == kind]
        if frame_name in data and data[frame_name].empty:  # an empty split: only its row count
            frame_checks = [c for c in frame_checks if not _columns(c.expectation)]
        if frame_name not in data or not frame_checks:
            continue
        name = f"{task}.{frame_name.replace('/', '.')}"
        gx_suite = context.suites.add(gx.ExpectationSuite(name=name))
        for check in frame_checks:
            expectation = copy.deepcopy(check.expectation)  # one instance per suite
            expectation.notes = check.description
            gx_suite.add_expectation(expectation)
        batch = source.add_dataframe_asset(name).add_batch_definition_whole_dataframe("all")
        definition = context.validation_definitions.add(
            gx.ValidationDefinition(name=name, data=batch, suite=gx_suite)
        )
        checkpoint = context.checkpoints.add(
            gx.Checkpoint(
                name=name,
                validation_definitions=[definition],
                result_format={
                    "result_format": "COMPLETE",
                    "unexpected_index_column_names": INDEX_COLUMNS.get(kind, ["id"]),
                },
            )
        )
        run = checkpoint.run(batch_parameters={"dataframe": data[frame_name]})
        outcome = next(iter(run.run_results.values()))
        by_type = {}
        for item in outcome.results:
            by_type.setdefault(item.expectation_config.type, []).append(item)
        for check in frame_checks:
            item = by_type[check.expectation.expectation_type].pop(0)
            results.append(_summarise(check, frame_name, item, data[frame_name]))
    context.build_data_docs(site_names=["local"])
    failed = [r for r in results if not r["success"]]
    return {
        "task": task,
        "success": not failed,
        "checks": len(results),
        "failed": len(failed),
        "labels": labels,
        "results": results,
    }


def format_failures(report: dict) -> str:
    """A readable account of the failed checks: split, check, columns, count, a few rows."""
    lines = [f"Data validation failed for task {report['task']!r}: "
             f"{report['failed']} of {report['checks']} checks failed."]  # fmt: skip
    for item in report["results"]:
        if item["success"]:
            continue
        where = f"[{item['split']}] {item['frame']}"
        what = f"{item['check']} ({item['expectation']}"
        what += f", column {', '.join(item['columns'])})" if item["columns"] else ")"
        if "observed_value" in item and not item["unexpected_count"]:
            count = f"observed {item['observed_value']}"
        else:
            count = f"{item['unexpected_count']} of {item['rows']} rows"
        lines.append(f"  FAILED {where}: {what}: {count}")
        for example in item.get("examples", []):
            lines.append(f"      e.g. {example}")
    return "\n".join(lines)


def failure_paths(report_path: Path, docs_dir: Path) -> tuple[Path, Path]:
    """Where a failed validation's report and Data Docs go (git-ignored, not DVC outputs)."""
    return report_path.with_suffix(".failed.json"), docs_dir.with_name(f"{docs_dir.name}.failed")


def validate(task: str, cfg: DataConfig, splits: dict[str, list[dict]], report_path: str | Path,
             docs_dir: str | Path) -> dict:  # fmt: skip
    """Check `splits` before they are written anywhere (the `prepare` stage).

    Pass: the report goes to `report_path` (the certificate later stages depend on) and the
    Data Docs to `docs_dir`. Fail: they go to `<report stem>.failed.json` and `<docs_dir>.failed`
    and ValidationFailed is raised; the last good data, report and Data Docs stay as they were.
    """
    report_path, docs_dir = Path(report_path), Path(docs_dir)
    failed_path, failed_docs = failure_paths(report_path, docs_dir)
    built = staging_dir(docs_dir)
    try:
        report = validate_splits(task, splits, cfg, built)
    except BaseException:
        shutil.rmtree(built, ignore_errors=True)
        raise
    if not report["success"]:
        replace_dir(built, failed_docs)
        write_json(failed_path, report)
        raise ValidationFailed(format_failures(report) + f"\nFull report: {failed_path}; "
                               f"Data Docs: {failed_docs}/index.html")  # fmt: skip
    replace_dir(built, docs_dir)
    write_json(report_path, report)
    failed_path.unlink(missing_ok=True)
    shutil.rmtree(failed_docs, ignore_errors=True)
    return report
