"""XTREME's tab-separated layouts: sentence pairs and token-per-line tagging files."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from harness.data.examples import PairExample, TaggedSentence
from harness.data.textio import iter_lines, unknown_label, with_final_blank
from harness.errors import DataError


def read_pair_tsv(path: Path, labels: Sequence[str]) -> list[PairExample]:
    """``text_a TAB text_b [TAB label]`` per line; blank lines are skipped.

    The first line fixes the column count for the whole file: 3 columns are labelled,
    2 are not (XTREME strips the labels from its test files), so labels come out None.
    """
    allowed = frozenset(labels)
    examples: list[PairExample] = []
    width = 0
    for lineno, line in iter_lines(path):
        if not line:
            continue
        cols = line.split("\t")
        width = _columns(
            path,
            lineno,
            cols,
            width,
            (2, 3),
            "2 tab-separated columns (text_a, text_b) or 3 (text_a, text_b, label)",
        )
        if width == 2:
            examples.append(PairExample(cols[0], cols[1]))
            continue
        label = cols[2].strip()
        if label not in allowed:
            raise DataError(str(path), unknown_label(label, labels), lineno)
        examples.append(PairExample(cols[0], cols[1], label))
    return examples


def read_tagged_tsv(path: Path, labels: Sequence[str]) -> list[TaggedSentence]:
    """``token TAB tag`` per line, or ``token`` alone (unlabelled test files, tags None);
    sentences end at blank lines. The first token line fixes the column count.

    An empty label set (e.g. CCG supertags) accepts any non-empty tag.
    """
    allowed = frozenset(labels)
    sentences: list[TaggedSentence] = []
    tokens: list[str] = []
    tags: list[str] = []
    width = 0
    for lineno, line in with_final_blank(iter_lines(path)):
        if not line or line.isspace():
            if tokens:
                sentences.append(TaggedSentence(tuple(tokens), tuple(tags) if tags else None))
                tokens, tags = [], []
            continue
        cols = line.split("\t")
        width = _columns(path, lineno, cols, width, (1, 2), "token TAB tag or a token alone")
        token = cols[0]
        if not token or token.isspace():
            raise DataError(str(path), "empty token", lineno)
        tokens.append(token)
        if width == 2:
            tag = cols[1]
            if not tag or (allowed and tag not in allowed):
                raise DataError(
                    str(path), unknown_label(tag, labels) if allowed else "empty tag", lineno
                )
            tags.append(tag)
    return sentences


def _columns(
    path: Path, lineno: int, cols: list[str], width: int, allowed: tuple[int, ...], expected: str
) -> int:
    """The file's column count: the first data line fixes it, every later line must match."""
    if width and len(cols) != width:
        raise DataError(
            str(path),
            f"expected {width} tab-separated columns like the first line, got {len(cols)}",
            lineno,
        )
    if not width and len(cols) not in allowed:
        raise DataError(str(path), f"expected {expected}, got {len(cols)} columns", lineno)
    return len(cols)
