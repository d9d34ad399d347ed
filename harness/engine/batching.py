"""Batches that waste no compute on padding.

Prediction sorts inputs by length so each batch holds inputs of similar length and is
padded only to its own longest. Training shuffles, then sorts within pools of a few
dozen batches: batches stay random across the epoch but are still tightly padded.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from harness.errors import ConfigError

# Padded tokens per inference batch on a CPU, for an encoder 384 wide: few enough that
# a layer's activations stay in the per-core cache, enough for efficient matrix
# products. Of 256 to 4096, 1024 was fastest for e5-small's retrieval encoding and for
# every prediction kind (bench/, 2 cores).
CPU_TOKEN_BUDGET = 1024
CPU_BUDGET_WIDTH = 384
# Wider encoders do best with fewer tokens: XLM-R base's shapes (768 wide, random
# weights) ran 1.05x faster at 256 or 512 than at 1024; XLM-R large's (1024 wide) 1.08x
# at 256, where 384 and 192 were 3-4% and 128 6% slower than 256 (2 cores). The default
# is 1024 scaled by (384 / width)^2 and held within these bounds: 1024, 256 and 256 at
# those three widths, the best measured at each; nothing narrower or wider was measured.
# Prediction on XLM-R base's shapes at 256 against 1024: UD-POS 1.10x, XQuAD 1.02x and
# PAWS-X 0.99x.
CPU_TOKEN_RANGE = (256, 1024)
# A forward's cost that does not grow with its padded tokens, in tokens' worth: e5-small
# on one thread ran a batch in about 5 ms plus 0.26 ms a token, and small batches run
# their matrix products less efficiently besides. Cut at 16, 32, 64 and 128, 2,000
# Tatoeba sentences encoded 1.04-1.05x faster than with each batch filled in turn; of
# 8, 16 and 32, only 32 was faster for 500 (1.03x; medians of 6-8 passes, 2 cores).
CPU_BATCH_COST = 32


def cpu_token_budget(width: int) -> int:
    """The default padded-token cap on a CPU for an encoder ``width`` wide."""
    scaled = round(CPU_TOKEN_BUDGET * (CPU_BUDGET_WIDTH / width) ** 2)
    low, high = CPU_TOKEN_RANGE
    return min(high, max(low, scaled))


def token_budget(max_tokens: int, device: Any, width: int | None) -> int | None:
    """The padded-token cap of an inference batch: ``max_tokens`` (the ``eval_max_tokens``
    setting), or for 0 the device's own: ``cpu_token_budget(width)`` on a CPU (where
    the width is not known yet, the cap of a 384-wide encoder), none on an accelerator,
    where the batch size alone bounds a batch."""
    if max_tokens < 0:
        raise ConfigError(
            f"eval_max_tokens must be 0 (the device's default) or more, got {max_tokens}"
        )
    if max_tokens:
        return max_tokens
    if not str(device).startswith("cpu"):
        return None
    return cpu_token_budget(width or CPU_BUDGET_WIDTH)


def device_batch_cost(device: Any) -> int | None:
    """What an inference batch costs beyond its padded tokens, in tokens, when batches
    are cut (``length_sorted_batches``): ``CPU_BATCH_COST`` on a CPU; none measured on
    an accelerator, where the fewest batches are cut as before."""
    return CPU_BATCH_COST if str(device).startswith("cpu") else None


def length_sorted_batches(
    lengths: Sequence[int],
    batch_size: int,
    max_tokens: int | None = None,
    batch_cost: int | None = None,
) -> list[list[int]]:
    """Indices in batches of similar length, longest first (a too-large batch fails early).

    A batch holds at most ``batch_size`` inputs and, given ``max_tokens``, at most that
    many tokens once padded to its longest (an input longer than that goes alone). Of
    the ways to cut the length-sorted inputs into such batches, the one with the fewest
    padded tokens plus ``batch_cost`` tokens a batch; with no ``batch_cost``, the fewest
    padded tokens among the cuts into the fewest batches. Filling each batch in turn
    pads more: a sorted batch of 64 still spans several lengths where lengths are
    sparse, and so 2,000 Tatoeba sentences padded 3.8% (500: 11%) where the best cut at
    ``CPU_BATCH_COST`` pads 0.7% (2.0%)."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    return [
        order[start:end]
        for start, end in _cheapest_cut(
            [lengths[i] for i in order], batch_size, max_tokens, batch_cost
        )
    ]


def _cheapest_cut(
    lengths: Sequence[int], batch_size: int, max_tokens: int | None, batch_cost: int | None
) -> list[tuple[int, int]]:
    """(start, end) of each batch in the cheapest cut of ``lengths`` (longest first).

    Dynamic programming over the end of the last batch. Among starts within one run of
    equal lengths the earliest that fits is cheapest (each input moved into the last
    batch costs that batch its width, no more than the input costs anywhere), so each
    end weighs one start per run, and the run starts are few."""
    count = len(lengths)
    # a batch's cost as (batches, tokens) pairs compared in order: no batch_cost puts
    # the number of batches first
    per_batch = (1, 0) if batch_cost is None else (0, batch_cost)
    run_start = list(range(count))
    for p in range(1, count):
        if lengths[p] == lengths[p - 1]:
            run_start[p] = run_start[p - 1]
    best: list[tuple[int, int]] = [(0, 0)] * (count + 1)
    cut = [0] * (count + 1)
    for end in range(1, count + 1):
        p, cheapest = end - 1, (count + 1, 0)  # more batches than inputs: any cut is cheaper
        while p >= 0:
            width = lengths[run_start[p]]
            fits = batch_size
            if max_tokens is not None and width > 0:  # inputs of no tokens fit any number
                fits = min(batch_size, max_tokens // width)
            start = max(run_start[p], end - max(1, fits))
            if start > p:  # no start in this run fits, nor in any longer run before it
                break
            batches, tokens = best[start]
            cost = (batches + per_batch[0], tokens + per_batch[1] + (end - start) * width)
            if cost < cheapest:
                cheapest, cut[end] = cost, start
            p = run_start[p] - 1
        best[end] = cheapest
    spans: list[tuple[int, int]] = []
    end = count
    while end:
        spans.append((cut[end], end))
        end = cut[end]
    return spans[::-1]


def balanced_tail(batches: Sequence[list[int]], streams: int) -> list[list[int]]:
    """``batches`` with the last ``streams`` of them each split into ``streams`` parts.

    Streams take batches as they come free, so they end up to a whole batch apart (a
    token-capped batch costs about the same however short its inputs), the others
    waiting for the last: encoding 2,000 Tatoeba sentences on 2 streams, the first
    stream to finish waited 128 ms of about 4.7 s. With the last batches in parts the
    streams end within 3 ms of each other, and encoding was 1.018x faster for 2,000
    sentences and 1.048x for 500 (medians of 10 interleaved passes). A part is smaller,
    so a little slower per input, but there are few of them. Fewer batches than
    streams are split alike, so that every stream has work."""
    if streams <= 1:
        return list(batches)
    balanced = list(batches[:-streams])
    for batch in batches[-streams:]:
        size, parts = len(batch), min(streams, len(batch))
        balanced += [batch[k * size // parts : (k + 1) * size // parts] for k in range(parts)]
    return balanced


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
