"""Batches that waste no compute on padding.

Prediction sorts inputs by length so each batch holds inputs of similar length and is
padded only to its own longest. Training shuffles, then sorts within pools of a few
dozen batches: batches stay random across the epoch but are still tightly padded.
"""

from __future__ import annotations

import random
from collections.abc import Sequence


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices in batches of similar length, longest first (a too-large batch fails early)."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def training_batches(
    lengths: Sequence[int], batch_size: int, rng: random.Random, pool: int = 32
) -> list[list[int]]:
    """One shuffled epoch of batches, length-grouped within pools of ``pool`` batches."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    span = batch_size * pool
    batches: list[list[int]] = []
    for start in range(0, len(order), span):
        chunk = sorted(order[start : start + span], key=lambda i: lengths[i])
        batches.extend(chunk[j : j + batch_size] for j in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


def process_share(batch: Sequence[int], rank: int, processes: int) -> tuple[list[int], float]:
    """Process ``rank``'s contiguous share of a global batch, and its loss weight.

    DDP averages gradients over processes; weighting each process's mean loss by
    ``share * processes / len(batch)`` makes that average the mean over the whole batch
    even when the shares differ in size (the last batch of an epoch). A process left
    with no example still runs one (the batch's first) with weight 0, because every
    process must take part in each backward pass."""
    start, end = rank * len(batch) // processes, (rank + 1) * len(batch) // processes
    if start == end:
        return list(batch[:1]), 0.0
    return list(batch[start:end]), (end - start) * processes / len(batch)
