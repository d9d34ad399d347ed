"""Extractive QA scores: SQuAD v1.1 EM/F1 (XQuAD, TyDiQA-GoldP) and MLQA's variant, in percent.

Both follow their official scripts step for step, since XTREME's numbers come from
them: lowercase, drop punctuation, drop articles, split into tokens; EM compares the
token lists, F1 is token-overlap F1; each takes the max over a question's gold answers
and is averaged over the gold questions.

Missing predictions: a gold question without a prediction scores 0 on both metrics
and stays in the denominator, as in the official scripts, so a partial prediction file
lowers the score rather than being scored on a subset. Predictions for ids that are
not gold questions are ignored.

MLQA differs from SQuAD in three ways:

- articles are per language (``MLQA_ARTICLES``); hi and zh have none. Arabic's
  pattern in the script, ``\\sال^|ال``, can only ever match its second branch, so
  every "ال" is replaced by a space, even inside a word (مال -> "م "); kept for parity.
- punctuation is every Unicode category P* character plus ASCII ``string.punctuation``
  (which adds symbols such as ``$+<=>^`|~``).
- zh uses mixed segmentation: each character in U+4E00..U+9FA5 (the script's range)
  is a token of its own, other runs are split on whitespace.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

_ASCII_PUNCT = frozenset(string.punctuation)

MLQA_ARTICLES: dict[str, str | None] = {
    "en": r"\b(a|an|the)\b",
    "es": r"\b(un|una|unos|unas|el|la|los|las)\b",
    "vi": r"\b(của|là|cái|chiếc|những)\b",
    "de": r"\b(ein|eine|einen|einem|eines|einer|der|die|das|den|dem|des)\b",
    "ar": "ال",
    "hi": None,
    "zh": None,
}

# Punctuation is removed before segmentation, so only CJK characters and runs of
# other non-space characters remain to be told apart.
_MIXED_TOKEN = re.compile(r"[\u4e00-\u9fa5]|[^\s\u4e00-\u9fa5]+")


def _is_ascii_punct(ch: str) -> bool:
    return ch in _ASCII_PUNCT


def _is_unicode_punct(ch: str) -> bool:
    return ch in _ASCII_PUNCT or unicodedata.category(ch).startswith("P")


def _mixed_segmentation(text: str) -> list[str]:
    return _MIXED_TOKEN.findall(text)


@dataclass(frozen=True)
class _Normaliser:
    """The shared normalisation core; SQuAD and each MLQA language only change its parts."""

    is_punct: Callable[[str], bool]
    articles: re.Pattern[str] | None
    segment: Callable[[str], list[str]]

    def tokens(self, text: str) -> list[str]:
        text = "".join(ch for ch in text.lower() if not self.is_punct(ch))
        if self.articles is not None:
            text = self.articles.sub(" ", text)
        return self.segment(text)


_SQUAD = _Normaliser(_is_ascii_punct, re.compile(MLQA_ARTICLES["en"]), str.split)


def _mlqa_normaliser(lang: str) -> _Normaliser:
    if lang not in MLQA_ARTICLES:
        raise ValueError(
            f"MLQA has no normalisation for {lang!r}; expected one of {', '.join(MLQA_ARTICLES)}"
        )
    articles = MLQA_ARTICLES[lang]
    return _Normaliser(
        _is_unicode_punct,
        re.compile(articles) if articles is not None else None,
        _mixed_segmentation if lang == "zh" else str.split,
    )


def normalize_answer(text: str, lang: str | None = None) -> str:
    """The normalised answer the scores compare: SQuAD v1.1's when ``lang`` is None, else MLQA's."""
    normaliser = _SQUAD if lang is None else _mlqa_normaliser(lang)
    return " ".join(normaliser.tokens(text))


def _token_f1(prediction: list[str], gold: list[str]) -> float:
    same = sum((Counter(prediction) & Counter(gold)).values())
    if same == 0:
        return 0.0
    precision = same / len(prediction)
    recall = same / len(gold)
    return 2 * precision * recall / (precision + recall)


def _scores(
    predictions: Mapping[str, str], golds: Mapping[str, Sequence[str]], normaliser: _Normaliser
) -> dict[str, float]:
    if not golds:
        raise ValueError("no gold questions to score")
    exact = f1 = 0.0
    for qid, answers in golds.items():
        if not answers:
            raise ValueError(f"gold question {qid!r} has no answers")
        if qid not in predictions:
            continue  # scores 0, as in the official scripts
        predicted = normaliser.tokens(predictions[qid])
        references = [normaliser.tokens(a) for a in answers]
        exact += max(float(predicted == r) for r in references)
        f1 += max(_token_f1(predicted, r) for r in references)
    return {"exact_match": 100.0 * exact / len(golds), "f1": 100.0 * f1 / len(golds)}


def squad_scores(
    predictions: Mapping[str, str], golds: Mapping[str, Sequence[str]]
) -> dict[str, float]:
    """SQuAD v1.1 ``exact_match`` and ``f1`` over the gold questions, in percent."""
    return _scores(predictions, golds, _SQUAD)


def mlqa_scores(
    predictions: Mapping[str, str], golds: Mapping[str, Sequence[str]], lang: str
) -> dict[str, float]:
    """MLQA ``exact_match`` and ``f1`` with ``lang``'s normalisation (the context language)."""
    return _scores(predictions, golds, _mlqa_normaliser(lang))
