"""Inference streams change who runs a batch, never what comes out or in which order."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from test_embed import SENTENCES

from harness.engine.streams import MAX_STREAMS, run_batches, stream_count
from harness.errors import ConfigError
from harness.models.embed import EmbedSettings, embed_sentences
from harness.models.encoder import load_model, load_tokenizer
from harness.specs import ModelSpec


def test_the_device_default_is_one_stream_per_thread_on_a_cpu_only() -> None:
    threads = torch.get_num_threads()
    assert stream_count(0, "cpu") == max(1, min(MAX_STREAMS, threads))
    assert stream_count(0, torch.device("cuda", 0)) == 1
    assert stream_count(0, "cpu", processes=2) == 1  # processes already share the cores
    assert stream_count(3, "cuda") == 3
    with pytest.raises(ConfigError, match="eval_streams"):
        stream_count(-1, "cpu")


def test_results_come_back_in_batch_order_each_stream_in_its_context() -> None:
    entered: list[str] = []

    class Context:
        def __enter__(self) -> None:
            entered.append(threading.current_thread().name)

        def __exit__(self, *exc: object) -> None:
            return None

    def step(batch: list[int]) -> list[int]:
        return [i * 10 for i in batch]

    batches = [[i, i + 1] for i in range(0, 40, 2)]
    threads = torch.get_num_threads()
    for streams in (1, 3):
        out = run_batches(step, batches, streams, Context)
        assert out == [[i * 10 for i in batch] for batch in batches]
    assert len(entered) == 1 + 3  # once on the caller, then once per stream
    assert all(name.startswith("harness-stream") for name in entered[1:])
    assert torch.get_num_threads() == threads  # restored for the caller


def test_a_failing_batch_stops_the_streams_and_raises() -> None:
    done: list[int] = []

    def step(batch: list[int]) -> int:
        if batch[0] == 3:
            raise ValueError("batch 3 failed")
        done.append(batch[0])
        return batch[0]

    threads = torch.get_num_threads()
    with pytest.raises(ValueError, match="batch 3 failed"):
        run_batches(step, [[i] for i in range(1000)], 2, torch.inference_mode)
    assert len(done) < 999  # the other stream stopped early
    assert torch.get_num_threads() == threads


def test_vectors_are_identical_on_one_stream_or_several(tiny_model: Path) -> None:
    spec = ModelSpec(name="tiny", source="local", path=str(tiny_model))
    model, tokenizer = load_model(spec, "AutoModel"), load_tokenizer(spec)
    settings = EmbedSettings(batch_size=2)
    vectors = [
        embed_sentences(model, tokenizer, SENTENCES * 3, settings, streams) for streams in (1, 2, 3)
    ]
    assert not torch.is_inference_mode_enabled()
    for other in vectors[1:]:
        assert np.array_equal(other, vectors[0])


def test_the_threads_are_shared_out_among_the_streams() -> None:
    threads = torch.get_num_threads()
    seen: dict[str, int] = {}
    barrier = threading.Barrier(2)

    def step(batch: list[int]) -> None:
        seen[threading.current_thread().name] = torch.get_num_threads()
        barrier.wait(timeout=10)  # each stream runs one batch, both at once

    torch.set_num_threads(5)
    try:
        run_batches(step, [[0], [1]], 2, torch.inference_mode)
        assert sorted(seen.values()) == [2, 3]
        assert torch.get_num_threads() == 5
    finally:
        torch.set_num_threads(threads)
