"""What a task kind is: features in, model head, decoding, metric.

Each kind (pair classification, tagging, extractive QA, multiple choice) is one
subclass, shared by intermediate tasks and XTREME targets alike; the training and
prediction engines only ever see ``Feature`` dicts and call these hooks, so there is
no per-kind branching anywhere else.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from harness.data.examples import has_gold
from harness.specs import TaskSpec

Feature = dict[str, Any]  # token ids and friends for one model input, unpadded
IGNORE_INDEX = -100


@dataclass(frozen=True)
class EncodeSettings:
    """Everything tokenisation depends on; part of the cache key and of the results."""

    max_length: int
    prefix: str = ""  # e.g. e5's "query: ", prepended to the first text of each input
    doc_stride: int = 128


class TaskKind(ABC):
    name: ClassVar[str]
    auto_class: ClassVar[str]  # the transformers AutoModelFor* class that carries the head
    # keys that collate pads with the pad id (other int keys pad with IGNORE_INDEX or 0)
    sequence_keys: ClassVar[tuple[str, ...]] = ("input_ids", "attention_mask", "token_type_ids")
    # what collate adds for training only; prediction drops them
    target_keys: ClassVar[tuple[str, ...]] = ("labels",)

    primary_metric: ClassVar[str] = "accuracy"

    def __init__(self, task: TaskSpec, labels: Sequence[str] = ()):
        self.task = task
        self.labels = tuple(labels or task.labels)
        self.label_index = {label: i for i, label in enumerate(self.labels)}

    @classmethod
    def label_set(cls, task: TaskSpec, train_examples: Sequence[Any]) -> tuple[str, ...]:
        """The label set the head is sized for; the registry's unless a kind learns it from data."""
        return task.labels

    def selection_metric(self) -> str:
        """What model selection on English dev optimises (part of the fine-tuning cache key)."""
        return self.task.metric

    def decoding(self) -> dict[str, Any]:
        """The settings that turn model outputs into predictions (part of the fine-tuning
        cache key: they decide the predictions, and the dev state selection picks)."""
        return {}

    def primary(self, metrics: dict[str, float]) -> float:
        """The one number per language that the task score averages."""
        return metrics[self.primary_metric]

    def model_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``from_pretrained`` that size the head."""
        if not self.labels:
            return {}
        return {
            "num_labels": len(self.labels),
            "id2label": dict(enumerate(self.labels)),
            "label2id": dict(self.label_index),
        }

    def length(self, feature: Feature) -> int:
        """The width ``feature`` pads to; batching groups features of similar length by it."""
        return len(feature["input_ids"])

    @abstractmethod
    def encode(
        self, examples: Sequence[Any], tokenizer: Any, settings: EncodeSettings
    ) -> list[Feature]:
        """Tokenise examples; every feature carries ``example_index`` and, with gold, ``labels``."""

    def prepare_eval(self, features: Sequence[Feature]) -> None:
        """Fix whatever is random in a feature (MLM masks) before features are evaluated;
        most kinds have nothing random."""
        return None

    def collate(self, features: Sequence[Feature], pad_id: int) -> dict[str, torch.Tensor]:
        """Pad a batch to its own longest input (never to a fixed maximum)."""
        width = max(len(f["input_ids"]) for f in features)
        batch: dict[str, torch.Tensor] = {}
        for key in self.sequence_keys:
            if key not in features[0]:
                continue
            fill = pad_id if key == "input_ids" else 0
            batch[key] = torch.tensor([f[key] + [fill] * (width - len(f[key])) for f in features])
        if "labels" in features[0]:
            batch["labels"] = self.collate_labels([f["labels"] for f in features], width)
        return batch

    def collate_labels(self, labels: list[Any], width: int) -> torch.Tensor:
        return torch.tensor(labels)

    def split_outputs(self, outputs: Any, batch: dict[str, torch.Tensor]) -> list[Any]:
        """Per-feature numpy outputs of one batch, trimmed to each feature's real length."""
        return list(outputs.logits.float().cpu().numpy())

    def decode(
        self, outputs: Sequence[Any], features: Sequence[Feature], examples: Sequence[Any]
    ) -> list[Any]:
        """One prediction per example from the per-feature outputs. The default suits
        kinds with one feature and one row of label scores per example (pair
        classification, multiple choice): the highest-scoring label."""
        predictions: list[str] = [""] * len(examples)
        for scores, feature in zip(outputs, features, strict=True):
            predictions[feature["example_index"]] = self.labels[int(np.argmax(scores))]
        return predictions

    @abstractmethod
    def score(
        self, predictions: Sequence[Any], examples: Sequence[Any], lang: str | None
    ) -> dict[str, float]:
        """Metrics (percentages) of predictions against the examples' gold (``lang`` for
        language-aware metrics such as MLQA's; None on English dev during model selection)."""

    def has_gold(self, examples: Sequence[Any]) -> bool:
        return all(map(has_gold, examples))

    def serialise(self, prediction: Any) -> Any:
        """A JSON-able form of one prediction, for the stored per-example predictions."""
        return prediction

    def deserialise(self, row: Any) -> Any:
        """The prediction back from its stored form (cached predictions are rescored)."""
        return row
