"""Question files given on the command line: plain text, one question a line, or JSON
Lines like `eval/dev.jsonl` (an object a line with a "question", and maybe an "id").

A file is read whole and checked before anything is asked, so a bad line costs nothing
but a message naming the file and the line (`InputFileError`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class InputFileError(ValueError):
    """A question file that cannot be read, with what is wrong and where."""


@dataclass(frozen=True)
class Question:
    text: str
    id: str | None = None


def numbered_lines(path: Path) -> list[tuple[int, str]]:
    """The file's non-blank lines with their 1-based numbers; UTF-8, with or without a
    byte-order mark (as editors on Windows save it)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputFileError(
            f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8"
        ) from None
    except OSError as exc:
        raise InputFileError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    return [(n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]


def json_object(path: Path, number: int, line: str) -> dict[str, Any]:
    """Line `number` of `path` as a JSON object that has a "question" text."""
    try:
        raw = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InputFileError(f"{path}, line {number}: not JSON ({exc.msg})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("question"), str):
        raise InputFileError(f'{path}, line {number}: no "question" text')
    return raw


def json_lines(path: Path) -> list[dict[str, Any]]:
    """Every line of a JSON Lines question set, each an object with a "question"."""
    return [json_object(path, n, line) for n, line in numbered_lines(path)]


def read_questions(path: Path) -> list[Question]:
    """The questions of a file: a line that opens with "{" is a JSON object (its
    "question" and "id"), any other line is a question as written."""
    questions = []
    for n, line in numbered_lines(path):
        if line.lstrip().startswith("{"):
            raw = json_object(path, n, line)
            ident = raw.get("id")
            questions.append(Question(raw["question"], None if ident is None else str(ident)))
        else:
            questions.append(Question(line.strip()))
    return questions
