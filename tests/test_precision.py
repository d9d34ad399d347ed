"""Reduced-precision inference: close to float32, refused where it cannot run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.profiler import ProfilerActivity, profile

from harness.engine.precision import inference, inference_precision
from harness.errors import ConfigError
from harness.models.embed import EmbedSettings, embed_sentences
from harness.models.encoder import load_model, load_tokenizer
from harness.specs import ModelSpec

SENTENCES = ["the cat sat on the mat .", "der Hund läuft", "le chat", "a big red house is small ."]


@pytest.fixture(scope="module")
def encoder(tiny_model: Path) -> tuple[object, object]:
    spec = ModelSpec(name="tiny", source="local", path=str(tiny_model))
    return load_model(spec, "AutoModel"), load_tokenizer(spec)


def test_bf16_embeddings_stay_close_to_float32(encoder: tuple[object, object]) -> None:
    model, tokenizer = encoder
    full = embed_sentences(model, tokenizer, SENTENCES, EmbedSettings())
    reduced = embed_sentences(model, tokenizer, SENTENCES, EmbedSettings(precision="bf16"))
    assert reduced.dtype == np.float32
    assert not np.array_equal(full, reduced)  # autocast really ran in bfloat16
    cosine = (full * reduced).sum(axis=1)
    assert cosine.min() > 0.99


def test_autocast_dtype_follows_the_setting() -> None:
    a = torch.ones(4, 4)
    with inference_precision("bf16", "cpu"):
        assert (a @ a).dtype == torch.bfloat16
    with inference_precision("no", "cpu"):
        assert (a @ a).dtype == torch.float32


def test_fp16_on_cpu_and_unknown_names_are_refused() -> None:
    with pytest.raises(ConfigError, match="fp16 needs a GPU"), inference_precision("fp16", "cpu"):
        pass
    with pytest.raises(ConfigError, match="'half'"), inference_precision("half", "cpu"):
        pass


def test_each_weight_is_cast_once_per_inference_not_at_every_call() -> None:
    """Autocast keeps its casts of the weights for the region, except in inference mode:
    three calls of a layer cast three inputs, one weight and one bias."""
    layer = torch.nn.Linear(8, 8)
    x = torch.randn(2, 8)
    with inference("bf16", "cpu"):
        with profile(activities=[ProfilerActivity.CPU]) as trace:
            for _ in range(3):
                out = layer(x)
        assert not torch.is_grad_enabled()
    casts = sum(e.count for e in trace.key_averages() if e.key == "aten::_to_copy")
    assert out.dtype == torch.bfloat16
    assert casts == 3 + 2
    with inference("no", "cpu"):
        assert torch.is_inference_mode_enabled()
