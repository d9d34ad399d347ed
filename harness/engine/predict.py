"""Inference over features: length-sorted batches, per-batch padding, no autograd."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from harness.engine.batching import length_sorted_batches
from harness.engine.precision import inference_precision
from harness.tasks.base import Feature, TaskKind


def predict_outputs(
    model: Any,
    kind: TaskKind,
    features: Sequence[Feature],
    pad_id: int,
    batch_size: int,
    device: torch.device | str = "cpu",
    precision: str = "no",
) -> list[Any]:
    """Per-feature model outputs (numpy), in the order of ``features``."""
    outputs: list[Any] = [None] * len(features)
    model.eval()
    device = torch.device(device)
    lengths = [kind.length(f) for f in features]
    with torch.inference_mode(), inference_precision(precision, device):
        for indices in length_sorted_batches(lengths, batch_size):
            batch = kind.collate([features[i] for i in indices], pad_id)
            for key in kind.target_keys:
                batch.pop(key, None)
            batch = {k: v.to(device) for k, v in batch.items()}
            for i, out in zip(indices, kind.split_outputs(model(**batch), batch), strict=True):
                outputs[i] = out
    return outputs
