"""Multiple choice: HellaSwag, CommonsenseQA, Cosmos QA.

Every choice is paired with the example's context and scored by the same one-output
head; a question goes with each choice (``context`` / ``question choice``, as in
jiant and transformers' SWAG example), so a long context loses its tail, never the
question; the softmax runs over the choices, so the number of choices fixes the
label set ("0" .. "n-1") and no classification head needs sizing. A feature is one
example: its keys hold one token list per choice.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from harness.data.examples import ChoiceExample
from harness.metrics.classification import classification_scores
from harness.specs import TaskSpec
from harness.tasks.base import EncodeSettings, Feature, TaskKind


class MultipleChoice(TaskKind):
    name = "multiple_choice"
    auto_class = "AutoModelForMultipleChoice"

    @classmethod
    def label_set(cls, task: TaskSpec, train_examples: Sequence[Any]) -> tuple[str, ...]:
        """The choice indices: the label is which choice is right."""
        return tuple(str(i) for i in range(task.num_choices))

    def model_kwargs(self) -> dict[str, Any]:
        """Nothing: the multiple-choice head has one output whatever the number of choices."""
        return {}

    def length(self, feature: Feature) -> int:
        """The longest choice, which the whole feature pads to."""
        return max(map(len, feature["input_ids"]))

    def encode(
        self, examples: Sequence[ChoiceExample], tokenizer: Any, settings: EncodeSettings
    ) -> list[Feature]:
        n = len(self.labels)
        for example in examples:
            if len(example.choices) != n:
                raise ValueError(
                    f"{self.task.name} has {n} choices per example, got {len(example.choices)}"
                )
        pairs = [_pairs(e, settings.prefix) for e in examples]
        # untruncated: one call applies one strategy to every pair, and the fast tokenizer
        # fails the whole call when only_first cannot fit one; _kept_positions cuts per pair
        encoded = tokenizer(
            [first for first, seconds in pairs for _ in seconds],
            [second for _, seconds in pairs for second in seconds],
            verbose=False,
        )
        keys = [key for key in self.sequence_keys if key in encoded]
        features = []
        for i, example in enumerate(examples):
            rows = range(i * n, (i + 1) * n)
            kept = [_kept_positions(encoded.sequence_ids(j), settings.max_length) for j in rows]
            feature: Feature = {
                key: [
                    [encoded[key][j][p] for p in keep] for j, keep in zip(rows, kept, strict=True)
                ]
                for key in keys
            }
            feature["example_index"] = i
            if example.label is not None:
                feature["labels"] = self.label_index[example.label]
            features.append(feature)
        return features

    def collate(self, features: Sequence[Feature], pad_id: int) -> dict[str, torch.Tensor]:
        """Every choice of every feature padded to the batch's longest choice:
        ``[batch, choices, width]`` inputs and ``[batch]`` labels."""
        choices = [
            {key: feature[key][c] for key in self.sequence_keys if key in feature}
            for feature in features
            for c in range(len(feature["input_ids"]))
        ]
        batch = {
            key: value.view(len(features), -1, value.shape[-1])
            for key, value in super().collate(choices, pad_id).items()
        }
        if "labels" in features[0]:
            batch["labels"] = torch.tensor([f["labels"] for f in features])
        return batch

    def score(
        self, predictions: Sequence[str], examples: Sequence[ChoiceExample], lang: str | None
    ) -> dict[str, float]:
        return classification_scores(predictions, [e.label for e in examples])


def _pairs(example: ChoiceExample, prefix: str) -> tuple[str, list[str]]:
    """The first segment and, per choice, the second: the context, then the question
    with each choice; with only a question (CommonsenseQA) or only a context
    (HellaSwag), that one, then the choices."""
    context, question = example.context.strip(), example.question.strip()
    if context and question:
        return prefix + context, [f"{question} {choice}" for choice in example.choices]
    return prefix + (context or question), list(example.choices)


def _kept_positions(sequence_ids: Sequence[int | None], max_length: int) -> list[int]:
    """Token positions of one (context, choice) pair that fit ``max_length``.

    The first segment loses its tail (``only_first``) so the second, the choice being
    scored (with its question), stays whole; only when the choice alone leaves no room for the first
    segment are both cut, the longer more (``longest_first``). Special tokens always stay.
    """
    excess = len(sequence_ids) - max_length
    if excess <= 0:
        return list(range(len(sequence_ids)))
    first, second = sequence_ids.count(0), sequence_ids.count(1)
    if first > excess:
        keep = (first - excess, second)
    else:
        room = first + second - excess
        shorter = min(first, second, room // 2)
        keep = (shorter, room - shorter) if first <= second else (room - shorter, shorter)
    seen = [0, 0]
    kept = []
    for position, segment in enumerate(sequence_ids):
        if segment is None or seen[segment] < keep[segment]:
            kept.append(position)
        if segment is not None:
            seen[segment] += 1
    return kept
