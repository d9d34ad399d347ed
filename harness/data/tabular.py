"""jsonl and csv files: one record per line (or CSV row), mapped through ``fields``."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from harness.data.fields import FieldError, RecordMapper
from harness.data.textio import first_bad_line, iter_lines
from harness.errors import DataError


def read_records(path: Path, fmt: str, mapper: RecordMapper) -> list[Any]:
    """Every record of a ``jsonl`` or ``csv`` file as an example, in file order."""
    rows = iter_jsonl(path) if fmt == "jsonl" else iter_csv(path)
    return map_records(rows, mapper, str(path))


def map_records(
    rows: Iterable[tuple[int, dict[str, Any]]], mapper: RecordMapper, where: str, unit: str = "line"
) -> list[Any]:
    """Map numbered records; a FieldError becomes a DataError at ``where`` and the
    record's line (files) or row (hub datasets, ``unit="row"``)."""
    examples = []
    number = 0
    try:
        for number, record in rows:  # noqa: B007 (number is read in the handler)
            examples.append(mapper(record))
    except FieldError as exc:
        if unit == "line":
            raise DataError(where, str(exc), number) from None
        raise DataError(where, f"{unit} {number}: {exc}") from None
    return examples


def iter_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) per non-blank line; each line must be one JSON object."""
    for lineno, line in iter_lines(path):
        if not line or line.isspace():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(
                str(path), f"malformed JSON: {exc.msg} (column {exc.colno})", lineno
            ) from None
        if not isinstance(record, dict):
            raise DataError(
                str(path), f"expected a JSON object, got {type(record).__name__}", lineno
            )
        yield lineno, record


def iter_csv(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(first line number, row as a dict keyed by the header) per CSV record.

    Quoted fields may span lines (Cosmos QA contexts), so the line reported is the
    one the record starts on. Every row must have the header's column count.
    """
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None:
                raise DataError(str(path), "empty CSV file (expected a header row)")
            end = reader.line_num
            for row in reader:
                start, end = end + 1, reader.line_num
                if not row:
                    continue
                if len(row) != len(header):
                    raise DataError(
                        str(path),
                        f"expected {len(header)} columns as in the header, got {len(row)}",
                        start,
                    )
                yield start, dict(zip(header, row, strict=True))
    except csv.Error as exc:
        raise DataError(str(path), f"malformed CSV: {exc}", reader.line_num) from None
    except UnicodeDecodeError as exc:
        raise DataError(str(path), f"not UTF-8 text ({exc.reason})", first_bad_line(path)) from None
    except OSError as exc:
        raise DataError(str(path), f"cannot read: {exc.strerror or exc}") from None
