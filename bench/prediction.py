"""Prediction speed per trained-task kind against the XTREME scripts' fixed padding.

Ours: ``predict_outputs`` as ``harness eval`` runs it (length-sorted batches, each
padded to its own longest, under the token cap, on the default streams).
Reference: batches in input order, every input padded to the task's fixed maximum
length (128 for classification and tagging, 384 for QA, as the XTREME scripts do).
The heads are freshly initialised: speed does not depend on what they learned.
"""

from __future__ import annotations

import random
from typing import Any

import torch
import torch.nn.functional as F

from bench.measure import SHARED_DATA, Figure, compare
from harness.data import read_split
from harness.engine.batching import token_budget
from harness.engine.predict import predict_outputs
from harness.engine.streams import stream_count
from harness.models.encoder import load_model
from harness.registry import load_registry
from harness.tasks import task_kind
from harness.tasks.base import EncodeSettings, TaskKind

CASES = (  # task, language, split, fixed length, examples
    ("pawsx", "de", "test", 128, 512),
    ("udpos", "en", "test", 128, 512),
    ("xquad", "en", "test", 384, 96),
)
BATCH = 32


def pad_to(batch: dict[str, torch.Tensor], width: int, pad_id: int) -> dict[str, torch.Tensor]:
    """A collated batch padded on to ``width`` tokens, the fixed-length approach."""
    return {
        key: value
        if value.dim() < 2
        else F.pad(value, (0, width - value.shape[1]), value=pad_id if key == "input_ids" else 0)
        for key, value in batch.items()
    }


def fixed_padding(model: Any, kind: TaskKind, features: list[Any], pad_id: int, width: int) -> None:
    with torch.inference_mode():
        for start in range(0, len(features), BATCH):
            batch = kind.collate(features[start : start + BATCH], pad_id)
            for key in kind.target_keys:
                batch.pop(key, None)
            model(**pad_to(batch, width, pad_id))


def prepared(
    task_name: str, lang: str, split: str, width: int, count: int, spec: Any, tokenizer: Any
) -> tuple[Any, TaskKind, list[Any]]:
    task = load_registry().target(task_name)
    examples = list(read_split(task, split, lang, SHARED_DATA / "xtreme").examples)
    examples = random.Random(0).sample(examples, min(count, len(examples)))
    kind = task_kind(task, examples)
    features = kind.encode(
        examples, tokenizer, EncodeSettings(max_length=width, prefix=spec.input_prefix)
    )
    kind.prepare_eval(features)
    model = load_model(spec, kind.auto_class, **kind.model_kwargs()).eval()
    return model, kind, features


def run(spec: Any, tokenizer: Any, repeat: int) -> list[Figure]:
    figures = []
    pad = tokenizer.pad_token_id
    streams = stream_count(0, "cpu")  # as harness eval runs here
    for task_name, lang, split, width, count in CASES:
        model, kind, features = prepared(task_name, lang, split, width, count, spec, tokenizer)
        cap = token_budget(0, "cpu", model.config.hidden_size)
        figure = compare(
            "prediction",
            f"{kind.__class__.__name__} ({task_name} {lang}) vs fixed padding to {width}",
            lambda m=model, k=kind, f=features, c=cap: predict_outputs(
                m, k, f, pad, BATCH, max_tokens=c, streams=streams
            ),
            lambda m=model, k=kind, f=features, w=width: fixed_padding(m, k, f, pad, w),
            "fixed padding, input order",
            repeat,
            work=len(features),
            unit="inputs/s",
        )
        figure.notes = {
            "inputs": len(features),
            "real_tokens": sum(kind.length(f) for f in features),
        }
        figures.append(figure)
    return figures
