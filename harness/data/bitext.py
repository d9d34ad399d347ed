"""Retrieval corpora: Tatoeba's aligned line files and BUCC's id-keyed sentence files."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from harness.data.examples import Bitext, MiningCorpus
from harness.data.textio import iter_lines
from harness.errors import DataError

TATOEBA_FILES = ("source", "target")
BUCC_FILES = ("source", "target", "gold")


def read_tatoeba(paths: Mapping[str, Path]) -> Bitext:
    """Line i of ``source`` translates line i of ``target`` (the LASER layout).

    Lines are kept verbatim (no stripping, blank lines included) because alignment is
    by position: dropping one line would pair every later sentence with the wrong one.
    """
    source = tuple(line for _, line in iter_lines(paths["source"]))
    target = tuple(line for _, line in iter_lines(paths["target"]))
    if len(source) != len(target):
        raise DataError(
            f"{paths['source']}, {paths['target']}",
            f"not aligned: {len(source)} source lines but {len(target)} target lines",
        )
    return Bitext(source, target)


def read_bucc(paths: Mapping[str, Path]) -> MiningCorpus:
    """``id TAB sentence`` files for both sides; the optional gold file lists
    ``src_id TAB trg_id`` pairs, which must name sentences of the two files."""
    source = _read_sentences(paths["source"])
    target = _read_sentences(paths["target"])
    gold = _read_gold(paths["gold"], source, target) if "gold" in paths else None
    return MiningCorpus(source, target, gold, tuple(str(p) for p in paths.values()))


def _read_sentences(path: Path) -> dict[str, str]:
    sentences: dict[str, str] = {}
    for lineno, line in iter_lines(path):
        if not line:
            continue
        sid, tab, text = line.partition("\t")
        if not tab or not sid:
            raise DataError(str(path), "expected 'id TAB sentence'", lineno)
        if sid in sentences:
            raise DataError(str(path), f"duplicate sentence id {sid!r}", lineno)
        sentences[sid] = text
    return sentences


def _read_gold(
    path: Path, source: Mapping[str, str], target: Mapping[str, str]
) -> frozenset[tuple[str, str]]:
    pairs: set[tuple[str, str]] = set()
    for lineno, line in iter_lines(path):
        if not line:
            continue
        cols = line.split("\t")
        if len(cols) != 2:
            raise DataError(
                str(path), f"expected 'src_id TAB trg_id', got {len(cols)} columns", lineno
            )
        src, trg = cols
        if src not in source or trg not in target:
            unknown, side = (src, "source") if src not in source else (trg, "target")
            raise DataError(
                str(path), f"gold pair names {unknown!r}, which is not in the {side} file", lineno
            )
        pairs.add((src, trg))
    return frozenset(pairs)
