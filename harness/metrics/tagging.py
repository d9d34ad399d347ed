"""Token tagging scores (UD-POS, PAN-X, CCG): seqeval chunk P/R/F1 and token accuracy, in percent.

seqeval is used itself, in its default mode with micro averaging, because XTREME's
published udpos and panx numbers come from it. On IOB2 NER tags that is entity-level
scoring. On bare UPOS tags its default mode reads each tag's first letter as the chunk
prefix and the rest as the type (NOUN -> prefix N, type OUN), so a run of identical
tags is one chunk (NOUN NOUN), while tags starting with S (SCONJ, SYM), being read as
IOBES "single", never merge. That is why udpos "F1" is not token accuracy, and why
token accuracy is reported beside it.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

from seqeval.metrics.sequence_labeling import precision_recall_fscore_support


def _check_aligned(predictions: Sequence[Sequence[str]], golds: Sequence[Sequence[str]]) -> None:
    """One predicted tag per gold token, sentence by sentence (first sub-word labels a word)."""
    if len(predictions) != len(golds):
        raise ValueError(f"{len(predictions)} predicted sentences for {len(golds)} gold sentences")
    for i, (pred, gold) in enumerate(zip(predictions, golds, strict=True)):
        if len(pred) != len(gold):
            raise ValueError(
                f"sentence {i}: {len(pred)} predicted tags for {len(gold)} gold tokens"
            )
    if not any(golds):
        raise ValueError("no gold tokens to score")


def tagging_scores(
    predictions: Sequence[Sequence[str]], golds: Sequence[Sequence[str]]
) -> dict[str, float]:
    """``precision``, ``recall``, ``f1`` (seqeval default mode, micro) and ``token_accuracy``.

    Raises ValueError naming the first sentence whose predicted tag count differs
    from its gold token count, since seqeval would silently misalign the rest.
    """
    _check_aligned(predictions, golds)
    gold_lists = [list(s) for s in golds]
    pred_lists = [list(s) for s in predictions]
    with warnings.catch_warnings():
        # seqeval warns once per bare POS tag; that chunking is the intended behaviour.
        warnings.filterwarnings("ignore", message=".* seems not to be NE tag", category=UserWarning)
        precision, recall, f1, _ = precision_recall_fscore_support(
            gold_lists, pred_lists, average="micro"
        )
    tokens = sum(len(s) for s in golds)
    correct = sum(
        p == g
        for pred, gold in zip(predictions, golds, strict=True)
        for p, g in zip(pred, gold, strict=True)
    )
    return {
        "precision": 100.0 * float(precision),
        "recall": 100.0 * float(recall),
        "f1": 100.0 * float(f1),
        "token_accuracy": 100.0 * correct / tokens,
    }
