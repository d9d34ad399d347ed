"""Sentence vectors do not depend on how the sentences were batched."""

from __future__ import annotations

from pathlib import Path

import numpy as np

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
