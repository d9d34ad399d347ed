"""Run only the layers whose output is used.

Retrieval pools one hidden layer, and the references pool an intermediate one:
XTREME's Tatoeba script layer 14 of XLM-R large's 24, its BUCC script layer 7 of 12.
The layers above the pooled one change nothing in the vectors, yet a full forward runs
them all: 10 of 24 layers, 42% of the encoding, spent for nothing. Within
``first_layers`` the encoder's stack is cut to the layers needed.

Only an encoder that is nothing but its layer stack is cut (BERT, XLM-R, ELECTRA, ...):
one with more (a final norm, say) would give other values for its new last layer, so
it keeps every layer.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from torch import nn


def _encoder(model: Any) -> nn.Module | None:
    encoder = getattr(getattr(model, "base_model", model), "encoder", None)
    return encoder if isinstance(encoder, nn.Module) else None


def _cuttable(model: Any) -> tuple[nn.Module, nn.ModuleList] | None:
    """The encoder and its list of layers, if the encoder holds nothing else."""
    encoder = _encoder(model)
    if encoder is None or next(encoder.parameters(recurse=False), None) is not None:
        return None
    children = dict(encoder.named_children())
    stack = children.get("layer")
    return (encoder, stack) if isinstance(stack, nn.ModuleList) and len(children) == 1 else None


@contextlib.contextmanager
def first_layers(model: Any, needed: int) -> Iterator[None]:
    """Within: ``model`` runs only the layers that hidden state ``needed`` (0, the
    embeddings, to the layer count) depends on, and at least one; a model whose encoder
    cannot be cut runs whole. Hidden state ``needed`` keeps its index."""
    cuttable = _cuttable(model)
    count = max(needed, 1)
    if cuttable is None or count >= len(cuttable[1]):
        yield
        return
    encoder, stack = cuttable
    encoder.layer = stack[:count]
    try:
        yield
    finally:
        encoder.layer = stack
