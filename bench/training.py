"""Training speed against fixed padding (PAWS-X English pairs through e5-small).

Both arms run the same step (forward, backward, fused AdamW) on the same examples;
only the batches differ: ours are shuffled then length-grouped within pools and padded
per batch (``training_batches``), the reference pads every input to 128 tokens as the
XTREME scripts do.
"""

from __future__ import annotations

import random
from typing import Any

import torch

from bench.measure import Figure, compare
from bench.prediction import pad_to, prepared
from harness.engine.batching import training_batches

BATCH = 16
STEPS = 6
WIDTH = 128


def _steps(
    model: Any,
    kind: Any,
    features: list[Any],
    batches: list[list[int]],
    pad: int,
    width: int | None,
    optimiser: Any,
) -> None:
    model.train()
    for indices in batches[:STEPS]:
        batch = kind.collate([features[i] for i in indices], pad)
        if width is not None:
            batch = pad_to(batch, width, pad)
        model(**batch).loss.backward()
        optimiser.step()
        optimiser.zero_grad()


def run(spec: Any, tokenizer: Any, repeat: int) -> list[Figure]:
    model, kind, features = prepared("pawsx", "en", "dev", WIDTH, 2000, spec, tokenizer)
    pad = tokenizer.pad_token_id
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-5, fused=True)
    lengths = [kind.length(f) for f in features]
    rng = random.Random(0)
    ours = training_batches(lengths, BATCH, rng)
    shuffled = list(range(len(features)))
    rng.shuffle(shuffled)
    fixed = [shuffled[i : i + BATCH] for i in range(0, len(shuffled), BATCH)]
    figure = compare(
        "training",
        f"e5-small pawsx en, batch {BATCH}, vs fixed padding to {WIDTH}",
        lambda: _steps(model, kind, features, ours, pad, None, optimiser),
        lambda: _steps(model, kind, features, fixed, pad, WIDTH, optimiser),
        "fixed padding",
        repeat,
        work=STEPS * BATCH,
        unit="examples/s",
    )
    figure.notes = {"steps": STEPS, "batch": BATCH}
    return [figure]
