"""The example types every reader produces and every task kind consumes.

One type per task kind keeps readers ignorant of models and task kinds ignorant of
file formats: a reader's only job is to turn a file (or hub split) into these.
Labels are strings from the task's label set; ``None`` means the split has no gold
(e.g. XTREME test files with labels stripped).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class PairExample:
    """Sentence-pair classification (XNLI, PAWS-X, MNLI, QQP, PAWS, ANLI)."""

    text_a: str
    text_b: str
    label: str | None = None
    id: str = ""


@dataclass(frozen=True)
class TaggedSentence:
    """One sentence for token tagging (UD-POS, PAN-X, CCG); one tag per token."""

    tokens: tuple[str, ...]
    tags: tuple[str, ...] | None = None
    id: str = ""


@dataclass(frozen=True)
class Answer:
    text: str
    start: int  # character offset into the context


@dataclass(frozen=True)
class QAExample:
    """Extractive QA in SQuAD layout (XQuAD, MLQA, TyDiQA-GoldP, SQuAD)."""

    id: str
    question: str
    context: str
    answers: tuple[Answer, ...] = ()


@dataclass(frozen=True)
class ChoiceExample:
    """Multiple choice (HellaSwag, CommonsenseQA, Cosmos QA): one score per choice."""

    context: str
    question: str
    choices: tuple[str, ...]
    label: str | None = None  # the index of the right choice, as a string
    id: str = ""


@dataclass(frozen=True)
class Bitext:
    """Tatoeba: line i of ``source`` translates line i of ``target`` (English)."""

    source: tuple[str, ...]
    target: tuple[str, ...]


@dataclass(frozen=True)
class MiningCorpus:
    """BUCC: two id-keyed monolingual corpora and, where public, the gold pairs."""

    source: dict[str, str]
    target: dict[str, str]
    gold: frozenset[tuple[str, str]] | None = None
    files: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class TextExample:
    """Raw text for masked-language-model training: one line of a plain text file."""

    text: str
    id: str = ""


Example = PairExample | TaggedSentence | QAExample | ChoiceExample | TextExample


def has_gold(example: Example) -> bool:
    """Whether an example carries its answer (hub sets mark unlabelled rows, e.g. SNLI's -1)."""
    if isinstance(example, TaggedSentence):
        return example.tags is not None
    if isinstance(example, TextExample):
        return True  # raw text is its own target
    if isinstance(example, QAExample):
        # files with gold stripped (XTREME's TyDiQA-GoldP dev, its test sets) keep one
        # empty answer per question instead
        return any(a.text.strip() for a in example.answers)
    return example.label is not None
