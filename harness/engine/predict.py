"""Inference over features: length-sorted batches, per-batch padding, no autograd;
and ``run_inference``, the way every inference (this, sentence vectors) runs its batches.

With several processes each takes every N-th batch and the outputs are gathered back
into feature order on every process, so all of them score (and pick the best dev
state) alike.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from harness.engine.attention import aligned_attention
from harness.engine.batching import balanced_tail, device_batch_cost, length_sorted_batches
from harness.engine.distributed import gather_lists, process_count, process_index
from harness.engine.linear import packed_linears
from harness.engine.precision import inference
from harness.engine.streams import Result, run_batches
from harness.tasks.base import Feature, TaskKind


def run_inference(
    model: Any,
    step: Callable[[list[int]], Result],
    batches: Sequence[list[int]],
    streams: int,
    precision: str,
    device: torch.device,
) -> list[Result]:
    """``step`` of each batch as every inference runs: the CPU's kernel substitutions
    (aligned attention, packed linear layers), ``streams`` at once, each stream in
    inference mode and autocast for ``precision``. The last batches run in parts
    (``batching.balanced_tail``), so there is a result for each part."""
    parts = balanced_tail(batches, streams)
    with aligned_attention(model, device), packed_linears(model, device, precision):
        return run_batches(step, parts, streams, lambda: inference(precision, device))


def predict_outputs(
    model: Any,
    kind: TaskKind,
    features: Sequence[Feature],
    pad_id: int,
    batch_size: int,
    device: torch.device | str | None = None,
    precision: str = "no",
    max_tokens: int | None = None,
    streams: int = 1,
) -> list[Any]:
    """Per-feature model outputs (numpy), in the order of ``features``; a batch holds at
    most ``batch_size`` inputs and ``max_tokens`` padded tokens (``batching.token_budget``),
    and ``streams`` batches run at once (``streams.stream_count``). ``device`` defaults to
    the model's own."""
    model.eval()
    device = torch.device(device) if device else next(model.parameters()).device
    lengths = [kind.length(f) for f in features]
    batches = length_sorted_batches(lengths, batch_size, max_tokens, device_batch_cost(device))
    mine = batches[process_index() :: process_count()]

    def predict(indices: list[int]) -> list[tuple[int, Any]]:
        batch = kind.collate([features[i] for i in indices], pad_id)
        for key in kind.target_keys:
            batch.pop(key, None)
        batch = {k: v.to(device) for k, v in batch.items()}
        return list(zip(indices, kind.split_outputs(model(**batch), batch), strict=True))

    produced = run_inference(model, predict, mine, streams, precision, device)
    outputs: list[Any] = [None] * len(features)
    for i, out in gather_lists([pair for pairs in produced for pair in pairs]):
        outputs[i] = out
    return outputs
