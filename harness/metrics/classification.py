"""Sentence-level classification scores (XNLI, PAWS-X, the intermediate tasks), in percent.

Predictions and gold are label strings from the task's label set, one per example, in
the same order; comparing strings (not indices) keeps the metric independent of how a
head numbers its classes.
"""

from __future__ import annotations

from collections.abc import Sequence


def _check(predictions: Sequence[str], golds: Sequence[str]) -> None:
    if len(predictions) != len(golds):
        raise ValueError(f"{len(predictions)} predictions for {len(golds)} gold labels")
    if not golds:
        raise ValueError("no gold labels to score")


def accuracy(predictions: Sequence[str], golds: Sequence[str]) -> float:
    """Share of examples whose predicted label equals the gold label, in percent."""
    _check(predictions, golds)
    return 100.0 * sum(p == g for p, g in zip(predictions, golds, strict=True)) / len(golds)


def binary_f1(predictions: Sequence[str], golds: Sequence[str], positive: str) -> float:
    """F1 of the ``positive`` class (QQP reports it beside accuracy), in percent.

    0 when there is no true positive, including when neither side has a positive.
    """
    _check(predictions, golds)
    pairs = list(zip(predictions, golds, strict=True))
    tp = sum(p == positive and g == positive for p, g in pairs)
    if tp == 0:
        return 0.0
    predicted = sum(p == positive for p in predictions)
    actual = sum(g == positive for g in golds)
    return 100.0 * 2 * tp / (predicted + actual)


def classification_scores(
    predictions: Sequence[str], golds: Sequence[str], positive: str | None = None
) -> dict[str, float]:
    """``{"accuracy"}``, plus ``"f1"`` of the ``positive`` label for binary tasks when given."""
    scores = {"accuracy": accuracy(predictions, golds)}
    if positive is not None:
        scores["f1"] = binary_f1(predictions, golds, positive)
    return scores
