"""Masked language modelling: continued multilingual MLM as an intermediate task.

BERT's recipe: 15% of the real tokens are chosen; of those, 80% become the mask token,
10% a random token, 10% stay. Masks are drawn at collate time, so each epoch sees new
ones; dev masks are seeded per example, so dev accuracy is comparable across steps.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from harness.data.examples import TextExample
from harness.specs import TaskSpec
from harness.tasks.base import IGNORE_INDEX, EncodeSettings, Feature, TaskKind

MASK_SHARE = 0.15


def feature_first_real(feature: Feature) -> int | None:
    return next((i for i, special in enumerate(feature["special"]) if not special), None)


class MaskedLM(TaskKind):
    name = "mlm"
    auto_class = "AutoModelForMaskedLM"
    primary_metric = "accuracy"

    def __init__(self, task: TaskSpec, labels: Sequence[str] = ()):
        super().__init__(task, labels)
        # training masks follow the run's seed (``set_seed`` seeds ``random`` before the
        # task kinds are made), so that seeds differ in their masks as in all else
        self.rng = random.Random(random.getrandbits(64))
        self.tokenizer: Any = None

    def encode(
        self, examples: Sequence[TextExample], tokenizer: Any, settings: EncodeSettings
    ) -> list[Feature]:
        self.tokenizer = tokenizer
        encoded = tokenizer([e.text for e in examples], truncation=True, max_length=settings.max_length,
                            return_special_tokens_mask=True)  # fmt: skip
        return [
            {
                "input_ids": encoded["input_ids"][i],
                "attention_mask": encoded["attention_mask"][i],
                "special": encoded["special_tokens_mask"][i],
                "example_index": i,
                "labels": True,  # the text is its own target; collate draws the masks
            }
            for i in range(len(examples))
        ]

    def _mask(self, feature: Feature, rng: random.Random) -> tuple[list[int], list[int]]:
        """Each real token is chosen with probability 0.15, independently (as BERT does)."""
        ids, labels = list(feature["input_ids"]), [IGNORE_INDEX] * len(feature["input_ids"])
        for i, special in enumerate(feature["special"]):
            if special or rng.random() >= MASK_SHARE:
                continue
            labels[i] = ids[i]
            roll = rng.random()
            if roll < 0.8:
                ids[i] = self.tokenizer.mask_token_id
            elif roll < 0.9:
                ids[i] = rng.randrange(len(self.tokenizer))
        return ids, labels

    def collate(self, features: Sequence[Feature], pad_id: int) -> dict[str, torch.Tensor]:
        width = max(len(f["input_ids"]) for f in features)
        # training draws fresh masks; dev features carry fixed ones (see ``prepare_eval``)
        masked = [f.get("fixed") or self._mask(f, self.rng) for f in features]
        if all(g == IGNORE_INDEX for _, labels in masked for g in labels):
            # a batch with nothing to predict has no loss: predict the first real token
            # (in a copy: a dev feature's fixed masks must stay as they are)
            labels = list(masked[0][1])
            masked[0] = (masked[0][0], labels)
            first = feature_first_real(features[0])
            if first is not None:
                labels[first] = features[0]["input_ids"][first]
        return {
            "input_ids": torch.tensor([ids + [pad_id] * (width - len(ids)) for ids, _ in masked]),
            "attention_mask": torch.tensor(
                [f["attention_mask"] + [0] * (width - len(f["attention_mask"])) for f in features]
            ),
            "labels": torch.tensor(
                [labels + [IGNORE_INDEX] * (width - len(labels)) for _, labels in masked]
            ),
        }

    def prepare_eval(self, features: Sequence[Feature]) -> None:
        """Give evaluation features their own seeded masks, the same at every evaluation."""
        for f in features:
            f["fixed"] = self._mask(f, random.Random(f["example_index"]))

    def split_outputs(self, outputs: Any, batch: dict[str, torch.Tensor]) -> list[np.ndarray]:
        predicted = outputs.logits.argmax(dim=-1).cpu().numpy()
        return [
            row[: int(n)]
            for row, n in zip(predicted, batch["attention_mask"].sum(dim=1), strict=True)
        ]

    def decode(
        self,
        outputs: Sequence[np.ndarray],
        features: Sequence[Feature],
        examples: Sequence[TextExample],
    ) -> list[tuple[int, int]]:
        """Per example: (correctly predicted masked tokens, masked tokens)."""
        predictions = [(0, 0)] * len(examples)
        for predicted, feature in zip(outputs, features, strict=True):
            _, labels = feature["fixed"]
            scored = [
                (p == g) for p, g in zip(predicted, labels, strict=False) if g != IGNORE_INDEX
            ]
            predictions[feature["example_index"]] = (sum(scored), len(scored))
        return predictions

    def score(
        self,
        predictions: Sequence[tuple[int, int]],
        examples: Sequence[TextExample],
        lang: str | None,
    ) -> dict[str, float]:
        correct = sum(c for c, _ in predictions)
        total = sum(n for _, n in predictions)
        return {"accuracy": 100.0 * correct / max(1, total)}
