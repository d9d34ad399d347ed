"""Sentence vectors do not depend on how the sentences were batched, nor on whether the
layers above the pooled one ran."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn
from transformers import AutoConfig, AutoModel

from harness.models.depth import first_layers
from harness.models.embed import EmbedSettings, embed_sentences
from harness.models.encoder import load_model, load_tokenizer
from harness.specs import ModelSpec

SENTENCES = [
    "the cat sat on the mat .",
    "der Hund läuft",
    "le chat",
    "a big red house is small and the garden around it is even smaller .",
    "ja",
    "un deux trois quatre cinq six",
]


def test_vectors_are_the_same_in_input_order_however_batched(tiny_model: Path) -> None:
    spec = ModelSpec(name="tiny", source="local", path=str(tiny_model))
    model, tokenizer = load_model(spec, "AutoModel"), load_tokenizer(spec)
    one_by_one = embed_sentences(model, tokenizer, SENTENCES, EmbedSettings(batch_size=1))
    budgets = [
        embed_sentences(model, tokenizer, SENTENCES, EmbedSettings(max_tokens=tokens))
        for tokens in (None, 1, 24)
    ]
    assert one_by_one.shape == (len(SENTENCES), model.config.hidden_size)
    for vectors in budgets:
        assert np.allclose(vectors, one_by_one, atol=1e-5)
    # each row is its own sentence's vector: no two sentences share one
    assert len({tuple(np.round(row, 4)) for row in one_by_one}) == len(SENTENCES)


@pytest.fixture(scope="module")
def four_layers(tiny_model: Path) -> tuple[nn.Module, Any]:
    """The tiny model's architecture at four layers (random weights), and its tokenizer."""
    spec = ModelSpec(name="tiny", source="local", path=str(tiny_model))
    config = AutoConfig.from_pretrained(tiny_model, num_hidden_layers=4)
    torch.manual_seed(0)
    return AutoModel.from_config(config).eval(), load_tokenizer(spec)


def _layers_run(model: nn.Module) -> tuple[list[int], list[Any]]:
    """A counter of forward calls per layer, and the hooks that keep it."""
    calls = [0] * len(model.encoder.layer)

    def counter(index: int) -> Any:
        return lambda *_: calls.__setitem__(index, calls[index] + 1)

    hooks = [layer.register_forward_hook(counter(i)) for i, layer in enumerate(model.encoder.layer)]
    return calls, hooks


@pytest.mark.parametrize("layer", [0, 1, 2, -3, 3, 4, -1])
def test_a_lower_layer_runs_only_the_layers_below_it(
    four_layers: tuple[nn.Module, Any], layer: int
) -> None:
    model, tokenizer = four_layers
    settings = EmbedSettings(layer=layer, batch_size=2)
    whole = embed_sentences(model, tokenizer, SENTENCES, settings, all_layers=True)
    calls, hooks = _layers_run(model)
    try:
        cut = embed_sentences(model, tokenizer, SENTENCES, settings)
    finally:
        for hook in hooks:
            hook.remove()
    assert np.allclose(cut, whole, atol=1e-6)
    batches = len(SENTENCES) // 2
    needed = max(layer % 5, 1)
    assert calls == [batches] * needed + [0] * (4 - needed)
    assert len(model.encoder.layer) == 4  # the whole stack is back


def test_an_encoder_with_more_than_its_layers_runs_whole(
    four_layers: tuple[nn.Module, Any],
) -> None:
    model, _ = four_layers
    with first_layers(model, 1):
        assert len(model.encoder.layer) == 1
    model.encoder.final_norm = nn.LayerNorm(model.config.hidden_size)
    try:
        with first_layers(model, 1):
            assert len(model.encoder.layer) == 4
    finally:
        del model.encoder.final_norm


def test_the_stack_is_restored_after_an_error(four_layers: tuple[nn.Module, Any]) -> None:
    model, _ = four_layers
    with pytest.raises(RuntimeError), first_layers(model, 2):
        assert len(model.encoder.layer) == 2
        raise RuntimeError("interrupted")
    assert len(model.encoder.layer) == 4
