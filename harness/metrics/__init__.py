"""Metrics: pure functions from predictions and gold to scores, all in percent (0-100).

``METRICS`` maps the metric names used in registry YAML to the function computing
them. Inputs differ by task kind (label strings, tag sequences, answer texts by
question id, sentence vectors, mined pairs: see each function); every function returns
its scores under fixed keys ("accuracy", "f1", "exact_match", ...) that
``xtreme_score`` reads. Tatoeba also returns its predictions, and BUCC is scored from
``retrieval.mine_candidates`` output, since both feed submissions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.metrics.classification import classification_scores
from harness.metrics.qa import mlqa_scores, squad_scores
from harness.metrics.retrieval import bucc_scores, tatoeba_scores
from harness.metrics.tagging import tagging_scores

METRICS: dict[str, Callable[..., Any]] = {
    "accuracy": classification_scores,
    "seqeval_f1": tagging_scores,
    "squad": squad_scores,
    "mlqa": mlqa_scores,
    "bucc_f1": bucc_scores,
    "tatoeba_accuracy": tatoeba_scores,
}
