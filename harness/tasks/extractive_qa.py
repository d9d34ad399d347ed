"""Extractive QA: XQuAD, MLQA, TyDiQA-GoldP, SQuAD.

Windows follow XTREME's ``run_squad`` (the original BERT recipe): the question, capped
at 64 tokens, is repeated in every window, and a new window starts every ``doc_stride``
context tokens (every window's room for context where that is less, as in ``run_squad``:
no context token is ever skipped). (Hugging Face's newer ``run_qa`` calls the *overlap*
between windows its stride; with XTREME's 384/128 that would cut far fewer, less
overlapping windows.) A
training window whose context does not hold the whole gold answer points at the first
token, as the standard recipe does. Decoding scores start + end logit over each window's
n-best starts and ends, and keeps the best span of all of an example's windows; as in
``run_squad``, a span may start only in the window where its first token has the most
context around it (overlapping windows hold a token twice, once near an edge).
"""

from __future__ import annotations

import warnings
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from harness.data.examples import QAExample, has_gold
from harness.errors import ConfigError
from harness.metrics.qa import mlqa_scores, squad_scores
from harness.specs import TaskSpec
from harness.tasks.base import IGNORE_INDEX, EncodeSettings, Feature, TaskKind

MAX_QUESTION_TOKENS = 64  # XTREME's max_query_length
N_BEST = 20  # starts and ends considered per window, as in XTREME
METRICS = ("squad", "mlqa")

Offsets = list[tuple[int, int] | None]  # per token: its characters in the context, None off it


@dataclass(frozen=True)
class QAPrediction:
    """One answer; it keeps its question id, which the stored predictions and the
    leaderboard format (``{id: answer}``) need."""

    id: str
    text: str


class ExtractiveQA(TaskKind):
    name = "extractive_qa"
    auto_class = "AutoModelForQuestionAnswering"
    target_keys = ("start_positions", "end_positions")

    def __init__(self, task: TaskSpec, labels: Sequence[str] = ()):
        super().__init__(task, labels)
        if task.metric not in METRICS:
            raise ConfigError(
                f"{task.name}: extractive QA scores with {' or '.join(METRICS)}, "
                f"not {task.metric!r}"
            )
        self.max_answer_length: int = task.defaults.get("max_answer_length", 30)

    def decoding(self) -> dict[str, Any]:
        return {"max_answer_length": self.max_answer_length}

    def encode(
        self, examples: Sequence[QAExample], tokenizer: Any, settings: EncodeSettings
    ) -> list[Feature]:
        specials = tokenizer.num_special_tokens_to_add(pair=True)
        cap = min(MAX_QUESTION_TOKENS, settings.max_length - specials - 1)
        if cap < 1 or settings.doc_stride < 1:
            raise ConfigError(
                f"extractive QA needs max_length > {specials + 1} and doc_stride >= 1"
                f", got {settings.max_length} and {settings.doc_stride}"
            )
        questions, lengths = _capped_questions(
            [settings.prefix + e.question.lstrip() for e in examples], tokenizer, cap
        )
        spans = [_answer_span(e) for e in examples]
        unaligned = sum(
            1 for e, span in zip(examples, spans, strict=True) if has_gold(e) and span is None
        )
        if unaligned:
            warnings.warn(
                f"{unaligned} of {len(examples)} QA examples have no gold answer at its "
                "stated offset in the context: they are skipped for training",
                stacklevel=2,
            )

        # The tokenizer's stride is the overlap, which for a fixed step depends on the
        # question's length: one bulk call per question length.
        by_length: dict[int, list[int]] = defaultdict(list)
        for i, n in enumerate(lengths):
            by_length[n].append(i)
        features: list[Feature] = []
        for n, members in by_length.items():
            room = settings.max_length - specials - n
            encoded = tokenizer(
                [questions[i] for i in members],
                [examples[i].context for i in members],
                truncation="only_second",
                max_length=settings.max_length,
                stride=max(room - settings.doc_stride, 0),
                return_overflowing_tokens=True,
                return_offsets_mapping=True,
            )
            for j, member in enumerate(encoded["overflow_to_sample_mapping"]):
                i = members[member]
                pairs = zip(encoded["offset_mapping"][j], encoded.sequence_ids(j), strict=True)
                offsets = [o if s == 1 else None for o, s in pairs]
                feature: Feature = {k: encoded[k][j] for k in self.sequence_keys if k in encoded}
                feature["example_index"] = i
                feature["offsets"] = offsets
                if has_gold(examples[i]):
                    start, end = _token_span(offsets, spans[i])
                    feature["start_positions"], feature["end_positions"] = start, end
                features.append(feature)
        features.sort(key=lambda f: f["example_index"])  # stable: windows stay in context order
        return features

    def collate(self, features: Sequence[Feature], pad_id: int) -> dict[str, torch.Tensor]:
        """The base padding plus answer positions; offsets stay out of the model's inputs."""
        batch = super().collate(features, pad_id)
        if all("start_positions" in f for f in features):
            # the QA heads ignore positions outside the input: that is how a skipped
            # (unaligned) example gives no training signal
            width = batch["input_ids"].shape[1]
            for key in ("start_positions", "end_positions"):
                positions = [width if f[key] == IGNORE_INDEX else f[key] for f in features]
                batch[key] = torch.tensor(positions)
        return batch

    def split_outputs(
        self, outputs: Any, batch: dict[str, torch.Tensor]
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        starts = outputs.start_logits.float().cpu().numpy()
        ends = outputs.end_logits.float().cpu().numpy()
        lengths = batch["attention_mask"].sum(dim=1).tolist()
        return [(s[:n], e[:n]) for s, e, n in zip(starts, ends, lengths, strict=True)]

    def decode(
        self,
        outputs: Sequence[tuple[np.ndarray, np.ndarray]],
        features: Sequence[Feature],
        examples: Sequence[QAExample],
    ) -> list[QAPrediction]:
        best: list[tuple[float, str]] = [(-np.inf, "")] * len(examples)
        masks = _max_context(features)
        for (start_logits, end_logits), feature, mask in zip(outputs, features, masks, strict=True):
            i = feature["example_index"]
            found = _best_span(
                start_logits, end_logits, feature["offsets"], self.max_answer_length, mask
            )
            if found is not None and found[0] > best[i][0]:
                score, begin, end = found
                best[i] = (score, examples[i].context[begin:end].strip())
        return [QAPrediction(e.id, text) for e, (_, text) in zip(examples, best, strict=True)]

    def score(
        self, predictions: Sequence[QAPrediction], examples: Sequence[QAExample], lang: str | None
    ) -> dict[str, float]:
        # keyed by position: question ids are not always unique (TyDiQA-GoldP English train)
        predicted = {str(i): p.text for i, p in enumerate(predictions)}
        golds = {str(i): [a.text for a in e.answers] for i, e in enumerate(examples)}
        if self.task.metric == "mlqa" and lang is not None:
            return mlqa_scores(predicted, golds, lang)
        return squad_scores(predicted, golds)

    def selection_metric(self) -> str:
        """English dev (SQuAD, or TyDiQA-GoldP offline) is scored with SQuAD's script for
        every QA target, so XQuAD, MLQA and TyDiQA can share one fine-tuning."""
        return "squad"

    def primary(self, metrics: dict[str, float]) -> float:
        """XTREME's QA task score: the mean of exact match and F1."""
        return (metrics["exact_match"] + metrics["f1"]) / 2

    def serialise(self, prediction: QAPrediction) -> dict[str, str]:
        return {"id": prediction.id, "answer": prediction.text}

    def deserialise(self, row: dict[str, str]) -> QAPrediction:
        return QAPrediction(id=row["id"], text=row["answer"])


def _capped_questions(
    questions: list[str], tokenizer: Any, cap: int
) -> tuple[list[str], list[int]]:
    """Questions cut at a token boundary to at most ``cap`` tokens, and their token counts.

    A question that leaves no room for context would make the tokenizer fail outright.
    Re-tokenising a cut question can give other pieces, so cutting repeats until it fits.
    """
    questions = list(questions)
    lengths = [0] * len(questions)
    pending = list(range(len(questions)))
    while pending:
        encoded = tokenizer(
            [questions[i] for i in pending], add_special_tokens=False, return_offsets_mapping=True
        )
        over = []
        for i, offsets in zip(pending, encoded["offset_mapping"], strict=True):
            lengths[i] = len(offsets)
            if len(offsets) > cap:
                # cut where the first piece past the cap begins; at least one character
                # goes, so this ends even when pieces share offsets (a lone "▁" does)
                questions[i] = questions[i][: min(offsets[cap][0], len(questions[i]) - 1)]
                over.append(i)
        pending = over
    return questions, lengths


def _answer_span(example: QAExample) -> tuple[int, int] | None:
    """Characters of the first answer found at its stated offset, without surrounding
    whitespace; None when no answer is there (or there is none)."""
    for answer in example.answers:
        text, start = answer.text, answer.start
        if text.strip() and example.context[start : start + len(text)] == text:
            begin = start + len(text) - len(text.lstrip())
            return begin, begin + len(text.strip())
    return None


def _token_span(offsets: Offsets, span: tuple[int, int] | None) -> tuple[int, int]:
    """Token positions of ``span`` in one window: (0, 0) (the first token) when the window
    does not hold all of it, IGNORE_INDEX when there is no usable gold."""
    if span is None:
        return IGNORE_INDEX, IGNORE_INDEX
    context = [t for t, o in enumerate(offsets) if o is not None]
    begin, end = span
    if not context or offsets[context[0]][0] > begin or offsets[context[-1]][1] < end:
        return 0, 0
    starts = [offsets[t][0] for t in context]
    ends = [offsets[t][1] for t in context]
    # The start is the first piece ending past the answer's first character (characters
    # the tokenizer drops, such as U+200E, are in no piece), or rather the last piece
    # sharing its start: a lone "▁" carries the offsets of the piece after it.
    start = bisect_right(starts, starts[bisect_right(ends, begin)]) - 1
    stop = max(bisect_left(starts, end) - 1, start)  # the last piece starting inside it
    return context[start], context[stop]


def _max_context(features: Sequence[Feature]) -> list[np.ndarray]:
    """Per window, per token: whether this window gives the token its most context, as
    BERT's ``_check_is_max_context`` decides: the most of min(tokens left, tokens right)
    plus a hundredth of the window's context length, the first window on a tie. A
    context token is the same in two windows when its characters are."""
    best: dict[tuple[int, tuple[int, int]], tuple[float, int]] = {}
    for w, feature in enumerate(features):
        context = [o for o in feature["offsets"] if o is not None]
        for position, chars in enumerate(context):
            score = min(position, len(context) - 1 - position) + 0.01 * len(context)
            key = (feature["example_index"], chars)
            if key not in best or score > best[key][0]:
                best[key] = (score, w)
    return [
        np.array(
            [o is not None and best[(f["example_index"], o)][1] == w for o in f["offsets"]],
            dtype=bool,
        )
        for w, f in enumerate(features)
    ]


def _best_span(
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    offsets: Offsets,
    max_answer_length: int,
    max_context: np.ndarray,
) -> tuple[float, int, int] | None:
    """(start + end logit, first char, end char) of the best context span of one window
    among its n-best starts and ends; None when none of those pairs makes a valid span.
    Of the n-best starts, only those where ``max_context`` holds count."""
    context = np.array([t for t, o in enumerate(offsets) if o is not None], dtype=int)
    if not context.size:
        return None
    starts = context[np.argsort(-start_logits[context], kind="stable")[:N_BEST]]
    starts = starts[max_context[starts]]
    if not starts.size:
        return None
    ends = context[np.argsort(-end_logits[context], kind="stable")[:N_BEST]]
    length = ends[None, :] - starts[:, None] + 1
    scores = np.where(
        (length >= 1) & (length <= max_answer_length),
        start_logits[starts][:, None] + end_logits[ends][None, :],
        -np.inf,
    )
    s, e = np.unravel_index(int(np.argmax(scores)), scores.shape)
    if not np.isfinite(scores[s, e]):
        return None
    return float(scores[s, e]), offsets[starts[s]][0], offsets[ends[e]][1]
