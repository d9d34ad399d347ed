"""Sentence-pair classification: XNLI, PAWS-X, MNLI, QQP, PAWS, ANLI+."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness.data.examples import PairExample
from harness.metrics.classification import classification_scores
from harness.tasks.base import EncodeSettings, Feature, TaskKind


class PairClassification(TaskKind):
    name = "pair_classification"
    auto_class = "AutoModelForSequenceClassification"

    def encode(
        self, examples: Sequence[PairExample], tokenizer: Any, settings: EncodeSettings
    ) -> list[Feature]:
        encoded = tokenizer(
            [settings.prefix + e.text_a for e in examples],
            [e.text_b for e in examples],
            truncation="longest_first",
            max_length=settings.max_length,
        )
        features = []
        for i, example in enumerate(examples):
            feature: Feature = {key: encoded[key][i] for key in encoded}
            feature["example_index"] = i
            if example.label is not None:
                feature["labels"] = self.label_index[example.label]
            features.append(feature)
        return features

    def score(
        self, predictions: Sequence[str], examples: Sequence[PairExample], lang: str | None
    ) -> dict[str, float]:
        # QQP reports F1 of its positive (last) label beside accuracy
        positive = self.labels[-1] if self.task.metric == "accuracy_f1" else None
        return classification_scores(predictions, [e.label for e in examples], positive)
