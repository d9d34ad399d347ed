"""SQuAD v1.1 JSON (also the layout of XQuAD, MLQA and TyDiQA-GoldP files)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.data.examples import Answer, QAExample
from harness.errors import DataError


def read_squad(path: Path) -> list[QAExample]:
    """``data[].paragraphs[].qas[]`` -> one QAExample per question, in file order.

    Every answer must sit at its ``answer_start`` in the context: a shifted offset
    (e.g. counted in bytes) would silently train on the wrong span.
    """
    doc = load_json(path)
    examples: list[QAExample] = []
    for i, article in enumerate(_get(path, doc, "data", list, "")):
        for j, para in enumerate(_get(path, article, "paragraphs", list, f"data[{i}]")):
            where = f"data[{i}].paragraphs[{j}]"
            context = _get(path, para, "context", str, where)
            for k, qa in enumerate(_get(path, para, "qas", list, where)):
                at = f"{where}.qas[{k}]"
                qid = str(_get(path, qa, "id", (str, int), at))
                answers = []
                for m, ans in enumerate(_get(path, qa, "answers", list, at)):
                    text = _get(path, ans, "text", str, f"{at}.answers[{m}]")
                    start = _get(path, ans, "answer_start", int, f"{at}.answers[{m}]")
                    if context[start : start + len(text)] != text:
                        raise DataError(
                            str(path),
                            f"{at}.answers[{m}] (question {qid}): "
                            f"{text!r} is not at offset {start} of the context",
                        )
                    answers.append(Answer(text, start))
                examples.append(
                    QAExample(qid, _get(path, qa, "question", str, at), context, tuple(answers))
                )
    return examples


def load_json(path: Path) -> Any:
    """The parsed file; malformed JSON is reported with its line."""
    try:
        with open(path, "rb") as fh:
            return json.load(fh)
    except json.JSONDecodeError as exc:
        raise DataError(
            str(path), f"malformed JSON: {exc.msg} (column {exc.colno})", exc.lineno
        ) from None
    except UnicodeDecodeError as exc:
        raise DataError(str(path), f"not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise DataError(str(path), f"cannot read: {exc.strerror or exc}") from None


def _get(path: Path, obj: Any, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    """``obj[key]`` checked against ``kind``, or a DataError naming the JSON path."""
    at = f"{where}.{key}" if where else key
    if not isinstance(obj, dict) or key not in obj:
        raise DataError(str(path), f"{at}: missing (expected SQuAD v1.1 layout)")
    value = obj[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise DataError(str(path), f"{at}: expected {names}, got {type(value).__name__}")
    return value
