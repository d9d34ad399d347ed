"""What bfloat16 costs on Tatoeba: accuracy (xx -> en) in the 36 languages, float32
against bfloat16, with the same model, settings and search."""

from __future__ import annotations

import statistics
import time
from typing import Any

from bench.measure import SHARED_DATA, Figure
from harness.data import read_split
from harness.engine.batching import token_budget
from harness.engine.streams import stream_count
from harness.metrics.retrieval import tatoeba_scores
from harness.models.embed import EmbedSettings, embed_sentences
from harness.registry import load_registry


def run(model: Any, tokenizer: Any, pairs: int | None = None) -> list[Figure]:
    task = load_registry().target("tatoeba")
    accuracy: dict[str, dict[str, float]] = {"no": {}, "bf16": {}}
    elapsed = dict.fromkeys(accuracy, 0.0)
    device = next(model.parameters()).device
    # as harness eval runs
    budget = token_budget(0, device, model.config.hidden_size)
    streams = stream_count(0, device)
    for lang in task.languages:
        bitext = read_split(task, "test", lang, SHARED_DATA / "xtreme").examples
        source, target = list(bitext.source[:pairs]), list(bitext.target[:pairs])
        for precision in accuracy:
            settings = EmbedSettings(prefix="query: ", precision=precision, max_tokens=budget)
            started = time.perf_counter()
            vectors = embed_sentences(model, tokenizer, source + target, settings, streams)
            elapsed[precision] += time.perf_counter() - started
            result = tatoeba_scores(vectors[: len(source)], vectors[len(source) :])
            accuracy[precision][lang] = result.accuracy
    full, reduced = accuracy["no"], accuracy["bf16"]
    deltas = [reduced[lang] - full[lang] for lang in full]
    mean_full, mean_reduced = statistics.mean(full.values()), statistics.mean(reduced.values())
    return [
        Figure("accuracy", "Tatoeba xx->en mean accuracy, bf16 vs fp32", "accuracy (%)",
               {"mean": mean_reduced, "min": min(reduced.values()), "max": max(reduced.values())},
               "fp32", {"mean": mean_full, "min": min(full.values()), "max": max(full.values())},
               None,
               {"mean_difference": mean_reduced - mean_full, "largest_drop": min(deltas),
                "largest_gain": max(deltas), "languages": len(full), "pairs_per_language": pairs or "all",
                "encoding_seconds": elapsed, "per_language": {"fp32": full, "bf16": reduced}}),
    ]  # fmt: skip
