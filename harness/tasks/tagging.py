"""Token tagging: UD-POS, PAN-X, CCG supertags.

The label goes on the first sub-word of each word. A sentence longer than the model's
window is cut, at word boundaries, into several features, so every gold token gets a
predicted tag in every script (XTREME's evaluator needs exactly one tag per token).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from harness.data.examples import TaggedSentence
from harness.metrics.tagging import tagging_scores
from harness.specs import TaskSpec
from harness.tasks.base import IGNORE_INDEX, EncodeSettings, Feature, TaskKind


class Tagging(TaskKind):
    name = "tagging"
    auto_class = "AutoModelForTokenClassification"
    primary_metric = "f1"

    def primary(self, metrics: dict[str, float]) -> float:
        """seqeval F1 for UD-POS and PAN-X; CCG supertagging reports token accuracy."""
        return metrics["token_accuracy" if self.task.metric == "token_accuracy" else "f1"]

    @classmethod
    def label_set(cls, task: TaskSpec, train_examples: Sequence[Any]) -> tuple[str, ...]:
        """The registry's tags, or (CCG: over a thousand supertags) those seen in training."""
        if task.labels:
            return task.labels
        return tuple(sorted({tag for sentence in train_examples for tag in sentence.tags or ()}))

    def encode(
        self, examples: Sequence[TaggedSentence], tokenizer: Any, settings: EncodeSettings
    ) -> list[Feature]:
        prefix = settings.prefix.split()
        sentences = [prefix + list(e.tokens) for e in examples]
        encoded = tokenizer(sentences, is_split_into_words=True, add_special_tokens=False)
        # a word the tokenizer turns into nothing (a zero-width character in PAN-X) is
        # read as the unknown token, as XTREME's scripts do, so the model still tags it
        unread = False
        for i, words in enumerate(sentences):
            present = set(encoded.word_ids(i)) - {None}
            if len(present) < len(words):
                sentences[i] = [
                    w if j in present else tokenizer.unk_token for j, w in enumerate(words)
                ]
                unread = True
        if unread:
            encoded = tokenizer(sentences, is_split_into_words=True, add_special_tokens=False)
        room = settings.max_length - 2  # [CLS] ... [SEP]
        features: list[Feature] = []
        for i, example in enumerate(examples):
            ids = encoded["input_ids"][i]
            # word index per sub-word, relative to the sentence (prefix words are negative)
            words = [None if w is None else w - len(prefix) for w in encoded.word_ids(i)]
            for start, end in _windows(words, room):
                firsts = [
                    w if w is not None and w >= 0 and (j == 0 or words[j - 1] != w) else None
                    for j, w in zip(range(start, end), words[start:end], strict=True)
                ]
                feature: Feature = {
                    "input_ids": [tokenizer.cls_token_id, *ids[start:end], tokenizer.sep_token_id],
                    "attention_mask": [1] * (end - start + 2),
                    "example_index": i,
                    "word_index": [None, *firsts, None],
                }
                if example.tags is not None:
                    # a tag the label set lacks (one unseen in training, where the
                    # registry lists none) adds no loss; it still scores as missed
                    feature["labels"] = [
                        IGNORE_INDEX
                        if w is None
                        else self.label_index.get(example.tags[w], IGNORE_INDEX)
                        for w in feature["word_index"]
                    ]
                features.append(feature)
        return features

    def collate_labels(self, labels: list[Any], width: int) -> torch.Tensor:
        return torch.tensor([row + [IGNORE_INDEX] * (width - len(row)) for row in labels])

    def split_outputs(self, outputs: Any, batch: dict[str, torch.Tensor]) -> list[np.ndarray]:
        logits = outputs.logits.float().cpu().numpy()
        lengths = batch["attention_mask"].sum(dim=1).tolist()
        return [row[:n] for row, n in zip(logits, lengths, strict=True)]

    def decode(
        self,
        outputs: Sequence[np.ndarray],
        features: Sequence[Feature],
        examples: Sequence[TaggedSentence],
    ) -> list[list[str]]:
        # every word has a sub-word (``encode``); should one still have none, it gets the
        # first label, so alignment with the gold tokens always holds
        predictions = [[self.labels[0]] * len(e.tokens) for e in examples]
        for logits, feature in zip(outputs, features, strict=True):
            tags = predictions[feature["example_index"]]
            for position, word in enumerate(feature["word_index"]):
                if word is not None:
                    tags[word] = self.labels[int(np.argmax(logits[position]))]
        return predictions

    def score(
        self,
        predictions: Sequence[Sequence[str]],
        examples: Sequence[TaggedSentence],
        lang: str | None,
    ) -> dict[str, float]:
        return tagging_scores(predictions, [e.tags or () for e in examples])


def _windows(words: Sequence[int | None], room: int) -> list[tuple[int, int]]:
    """Sub-word spans of at most ``room`` that never split a word (unless one word exceeds it)."""
    spans = []
    start, n = 0, len(words)
    while start < n or not spans:
        end = min(start + room, n)
        if end < n:
            cut = end
            while cut > start and words[cut] == words[cut - 1]:
                cut -= 1
            end = cut if cut > start else end
        spans.append((start, end))
        start = end
        if start >= n:
            break
    return spans
