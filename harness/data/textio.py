"""Line streaming and label checks shared by the line-based readers."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import chain
from pathlib import Path

from harness.data.examples import TextExample
from harness.errors import DataError


def iter_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Yield (line number, line without its line ending), streaming the file.

    Only ``\\n`` ends a line: XNLI, PAWS-X and BUCC sentences contain U+2028 and U+0085,
    which ``str.splitlines`` and universal newlines would treat as breaks and so shift
    every following line. ``\\r\\n`` endings (XNLI, PAWS-X) and a UTF-8 BOM are dropped.
    """
    try:
        with open(path, encoding="utf-8-sig", newline="\n") as fh:
            for lineno, line in enumerate(fh, 1):
                yield lineno, line.rstrip("\r\n")
    except UnicodeDecodeError as exc:
        raise DataError(str(path), f"not UTF-8 text ({exc.reason})", first_bad_line(path)) from None
    except OSError as exc:
        raise DataError(str(path), f"cannot read: {exc.strerror or exc}") from None


def first_bad_line(path: Path) -> int | None:
    """The number of the first line that is not valid UTF-8 (text decoding works in
    chunks, so the decoder's own position does not tell the line)."""
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                return lineno
    return None


def unknown_label(label: str, labels: Sequence[str]) -> str:
    """The message for a label outside the task's label set, listing the allowed ones."""
    return f"unknown label {label!r}; expected one of: {', '.join(labels)}"


def with_final_blank(lines: Iterator[tuple[int, str]]) -> Iterator[tuple[int, str]]:
    """The lines followed by one blank line, so that blank-line-separated readers
    close the last sentence in their loop even when the file lacks a final blank."""
    return chain(lines, ((0, ""),))


def read_text_lines(path: Path) -> list[TextExample]:
    """A plain text file for MLM: one example per non-blank line."""
    return [
        TextExample(line.strip(), f"{path.name}:{n}")
        for n, line in iter_lines(path)
        if line.strip()
    ]
