"""CoNLL-U treebanks (raw UD releases) as tagging sentences."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from harness.data.examples import TaggedSentence
from harness.data.textio import iter_lines, unknown_label, with_final_blank
from harness.errors import DataError

COLUMNS = ("id", "form", "lemma", "upos", "xpos", "feats", "head", "deprel", "deps", "misc")


def read_conllu(
    path: Path, labels: Sequence[str], fields: Mapping[str, str]
) -> list[TaggedSentence]:
    """One sentence per block; tokens from ``fields["tokens"]`` (default ``form``), tags
    from ``fields["tags"]`` (default ``upos``; e.g. ``xpos`` for treebank tags).

    Multi-word token ranges (``1-2``) and empty nodes (``8.1``) are skipped, so that
    tokens are the syntactic words the tags belong to, as in XTREME's UD-POS files.
    ``# sent_id`` comments become example ids.
    """
    token_col = _column(path, fields, "tokens", "form")
    tag_col = _column(path, fields, "tags", "upos")
    allowed = frozenset(labels)
    sentences: list[TaggedSentence] = []
    tokens: list[str] = []
    tags: list[str] = []
    sent_id = ""
    for lineno, line in with_final_blank(iter_lines(path)):
        if not line or line.isspace():
            if tokens:
                sentences.append(TaggedSentence(tuple(tokens), tuple(tags), sent_id))
                tokens, tags = [], []
            sent_id = ""
            continue
        if line[0] == "#":
            if line.startswith("# sent_id"):
                sent_id = line.partition("=")[2].strip()
            continue
        cols = line.split("\t")
        if len(cols) != len(COLUMNS):
            raise DataError(
                str(path),
                f"expected {len(COLUMNS)} tab-separated CoNLL-U columns, got {len(cols)}",
                lineno,
            )
        word_id = cols[0]
        if "-" in word_id or "." in word_id:
            continue
        tag = cols[tag_col]
        if allowed and tag not in allowed:
            raise DataError(str(path), unknown_label(tag, labels), lineno)
        tokens.append(cols[token_col])
        tags.append(tag)
    return sentences


def _column(path: Path, fields: Mapping[str, str], attr: str, default: str) -> int:
    name = fields.get(attr, default)
    if name not in COLUMNS:
        raise DataError(
            str(path),
            f"fields.{attr}: {name!r} is not a CoNLL-U column; "
            f"expected one of: {', '.join(COLUMNS)}",
        )
    return COLUMNS.index(name)
