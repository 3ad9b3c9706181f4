"""Readers for standard data formats: CoNLL columns, SQuAD v1.1 JSON, bAbI text, TSV pairs.

Each reader returns prepared-shape records (see `schema.FIELDS`) plus a `group` (document,
article or story) used to carve missing splits without splitting a group. Malformed input
raises DataError naming the file and line (or JSON path) and what was expected.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

from transformer_mlops.errors import DataError

log = logging.getLogger(__name__)
BOM = "\ufeff"


def read_text(path: str | Path) -> str:
    """Read a UTF-8 text file, with a clear error for a missing or non-UTF-8 file. A leading
    byte-order mark (Windows editors write one) is removed with a warning: kept, it would glue
    itself to the first token (a CoNLL `-DOCSTART-` line would become a training sentence)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise DataError(
            f"{path}:{line}: not valid UTF-8 (byte 0x{data[error.start]:02x} at offset "
            f"{error.start}); expected a UTF-8 text file"
        ) from None
    if text.startswith(BOM):
        log.warning("%s: starts with a UTF-8 byte-order mark; removed it", path)
        text = text[len(BOM) :]
    return text


def read_conll(path: str | Path, tag_column: int = -1) -> list[dict]:
    """CoNLL column file: one token per line, blank (or whitespace-only) lines between sentences.

    `-DOCSTART-` lines start a new document (the group) and are skipped; in a file without
    them (e.g. WNUT-17) each sentence is its own group. All lines of a file must have the same
    number of columns.
    """
    records: list[dict] = []
    tokens: list[str] = []
    tags: list[str] = []
    document, n_columns = 0, None

    def flush() -> None:
        if tokens:
            records.append({"tokens": list(tokens), "tags": list(tags), "group": f"doc{document}"})
            tokens.clear()
            tags.clear()

    for number, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            flush()
            continue
        columns = line.split()
        if columns[0] == "-DOCSTART-":
            flush()
            document += 1
            continue
        if n_columns is None:
            n_columns = len(columns)
            if n_columns < 2:
                raise DataError(
                    f"{path}:{number}: expected at least 2 columns (token ... tag), got 1: {line!r}"
                )
            if not -n_columns <= tag_column < n_columns or tag_column % n_columns == 0:
                raise DataError(
                    f"{path}: tag_column {tag_column} does not name a tag column in a "
                    f"{n_columns}-column file"
                )
        elif len(columns) != n_columns:
            raise DataError(
                f"{path}:{number}: expected {n_columns} columns like the lines before, "
                f"got {len(columns)}: {line!r}"
            )
        tokens.append(columns[0])
        tags.append(columns[tag_column])
    flush()
    if document == 0:  # no documents marked: carve by sentence
        for index, record in enumerate(records):
            record["group"] = f"sentence{index}"
    return records


def read_tsv_pairs(path: str | Path, source_column: int = 0, target_column: int = 1) -> list[dict]:
    """Tab-separated sentence pairs (e.g. `English<TAB>French`), one pair per line."""
    records = []
    needed = max(source_column, target_column) + 1
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        columns = line.split("\t")
        if len(columns) < needed:
            raise DataError(
                f"{path}:{number}: expected at least {needed} tab-separated columns "
                f"(source in column {source_column}, target in column {target_column}), "
                f"got {len(columns)}: {line[:80]!r}"
            )
        records.append(
            {
                "source": columns[source_column].strip(),
                "target": columns[target_column].strip(),
                "group": columns[source_column].strip(),  # same source -> same split
            }
        )
    return records


JSON_TYPES = {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
              int: "a number", float: "a number", type(None): "null"}  # fmt: skip


def _expect(value: Any, kind: type | tuple[type, ...], path: Path, where: str, what: str) -> Any:
    """`value` if it is of `kind`; else DataError naming the JSON path, expected and found."""
    if isinstance(value, kind) and not isinstance(value, bool):  # JSON true is no number or id
        return value
    found = JSON_TYPES.get(type(value), type(value).__name__)
    raise DataError(f"{path}: {where}: expected {what}, found {found}; expected SQuAD v1.1 JSON")


def read_squad(path: str | Path) -> list[dict]:
    """SQuAD v1.1 JSON: data[].paragraphs[].qas[] with answers (text, answer_start). A value of
    the wrong shape raises DataError naming its JSON path (`data[3].paragraphs[0].qas[2].question`)."""
    path = Path(path)
    try:
        root = json.loads(read_text(path))
    except json.JSONDecodeError as error:
        raise DataError(
            f"{path}:{error.lineno}:{error.colno}: invalid JSON ({error.msg}); "
            "expected SQuAD v1.1 JSON"
        ) from None
    except RecursionError:
        raise DataError(f"{path}: JSON nested too deeply to read; expected SQuAD v1.1 JSON "
                        "(data[].paragraphs[].qas[])") from None  # fmt: skip
    _expect(root, dict, path, "the top level", "an object with a 'data' list")
    articles = _expect(root.get("data"), list, path, "data", "a list of articles")
    records = []
    for a, article in enumerate(articles):
        _expect(article, dict, path, f"data[{a}]", "an article object with 'paragraphs'")
        title = str(article.get("title", f"article{a}"))
        paragraphs = _expect(
            article.get("paragraphs"), list, path, f"data[{a}].paragraphs", "a list"
        )
        for p, paragraph in enumerate(paragraphs):
            where = f"data[{a}].paragraphs[{p}]"
            _expect(paragraph, dict, path, where, "an object with 'context' and 'qas'")
            context = _expect(paragraph.get("context"), str, path, f"{where}.context", "a string")
            questions = _expect(paragraph.get("qas"), list, path, f"{where}.qas", "a list")
            for q, qa in enumerate(questions):
                records.append(_squad_question(qa, context, title, path, f"{where}.qas[{q}]"))
    return records


def _squad_question(qa, context: str, title: str, path: Path, where: str) -> dict:
    _expect(qa, dict, path, where, "an object with 'id', 'question' and 'answers'")
    qid = _expect(qa.get("id"), (str, int), path, f"{where}.id", "a string")
    question = _expect(qa.get("question"), str, path, f"{where}.question", "a string")
    answers = _expect(qa.get("answers"), list, path, f"{where}.answers", "a list")
    texts, starts = [], []
    for n, answer in enumerate(answers):
        at = f"{where}.answers[{n}]"
        _expect(answer, dict, path, at, "an object with 'text' and 'answer_start'")
        texts.append(_expect(answer.get("text"), str, path, f"{at}.text", "a string"))
        starts.append(_expect(answer.get("answer_start"), int, path, f"{at}.answer_start",
                              "a whole number (a character offset)"))  # fmt: skip
    return {
        "id": str(qid),
        "kind": "squad",
        "context": context,
        "question": question,
        "answers": {"text": texts, "answer_start": starts},
        "group": title,
    }


_BABI_LINE = re.compile(r"^(\d+) (.*)$")
MAX_STORY_LINES = 1000  # the longest story of bAbI tasks 1-3 (in task 3) has 233 lines


def read_babi(path: str | Path) -> tuple[list[dict], int]:
    """bAbI text (`ID text`, questions as `ID question<TAB>answer<TAB>supporting IDs`).

    The context of a question is its story so far (statements only); its supporting facts
    become `evidence` spans. Questions whose answer does not occur in the context cannot be
    extractive; they are skipped and counted.
    Returns (records, skipped).
    """
    path = Path(path)
    kind = re.sub(r"^qa\d+_", "", path.stem).removesuffix("_train").removesuffix("_test")
    records: list[dict] = []
    skipped = 0
    story: list[tuple[int, str, int]] = []  # (line id, sentence, offset in context)
    length, stories, story_line, previous_id = 0, 0, 0, 0
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        match = _BABI_LINE.match(line)
        if not match:
            raise DataError(f"{path}:{number}: expected 'ID text' with a numeric ID, got {line!r}")
        line_id, text = int(match.group(1)), match.group(2)
        if line_id == 1:
            story, length, stories, story_line = [], 0, stories + 1, number
        elif line_id != previous_id + 1:
            raise DataError(f"{path}:{number}: expected line ID {previous_id + 1} (or 1 to start a "
                            f"new story), got {line_id}: bAbI numbers each story's lines 1, 2, 3, ...")  # fmt: skip
        elif line_id > MAX_STORY_LINES:
            raise DataError(f"{path}:{number}: the story that starts at line {story_line} has over "
                            f"{MAX_STORY_LINES} lines: its line IDs never restart at 1, so stories "
                            "merge (each bAbI story starts again at ID 1)")  # fmt: skip
        previous_id = line_id
        if "\t" not in text:
            offset = length + (1 if story else 0)
            story.append((line_id, text.strip(), offset))
            length = offset + len(text.strip())
            continue
        parts = text.split("\t")
        if len(parts) < 2 or not parts[1].strip():
            raise DataError(f"{path}:{number}: question line without an answer: {line!r}")
        question, answer = parts[0].strip(), parts[1].strip()
        supporting_ids = parts[2].split() if len(parts) > 2 else []
        if not all(s.isdigit() for s in supporting_ids):
            raise DataError(f"{path}:{number}: supporting fact IDs must be line numbers, got "
                            f"{parts[2].strip()!r}")  # fmt: skip
        supporting = [int(s) for s in supporting_ids]
        start = _locate(story, answer, supporting)
        if start is None:
            skipped += 1
            continue
        spans = {line_id: [offset, offset + len(sentence)] for line_id, sentence, offset in story}
        records.append(
            {
                "id": f"{path.stem}-{number}",
                "kind": kind,
                "context": " ".join(sentence for _, sentence, _ in story),
                "question": question,
                "answers": {"text": [answer], "answer_start": [start]},
                "evidence": [spans[i] for i in sorted(set(supporting)) if i in spans],
                "group": f"{path.stem}-story{stories}",
            }
        )
    return records, skipped


def _locate(story: list[tuple[int, str, int]], answer: str, supporting: list[int]) -> int | None:
    """Offset of `answer` as a word in the last supporting fact that has it, else its last mention."""
    pattern = re.compile(rf"\b{re.escape(answer)}\b")
    by_id = {line_id: (sentence, offset) for line_id, sentence, offset in story}
    candidates = [by_id[i] for i in reversed(supporting) if i in by_id]
    candidates += [(sentence, offset) for _, sentence, offset in reversed(story)]
    for sentence, offset in candidates:
        hits = list(pattern.finditer(sentence))
        if hits:
            return offset + hits[-1].start()
    return None
