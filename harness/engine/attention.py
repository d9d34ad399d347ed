"""Attention over a key length the CPU kernels handle well.

PyTorch's CPU attention (the flash kernel and the matmul path alike) is several times
slower per token when the key length falls well short of a multiple of 16, one
AVX-512 vector of float32: on one core, 15 keys cost 3.1 us per token and layer and
16 keys 0.7 us. Sorted inference batches of short sentences hit such lengths in most
layers' attention. Keys and values padded with masked positions give the same result
(a masked key gets no weight), so where a batch is 8 or more keys short of the next
multiple of 16, attention runs on padded keys; the copy costs less than it saves
(measured per key length from 4 to 120, one core; with it, fp32 encoding in
``python -m bench`` went from 0.71 to 0.73 of the roofline).

This works through transformers' attention interface: a model that implements it
(BERT, XLM-R, ...) runs with ``sdpa`` as before, but its keys aligned; any other model
is left as it is.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F

ALIGNED_SDPA = "harness_aligned_sdpa"
KEY_MULTIPLE = 16


def aligned_key_length(length: int) -> int:
    """The key length attention runs on: ``length``, or the next multiple of
    KEY_MULTIPLE where ``length`` is at least half a multiple short of it."""
    if length % KEY_MULTIPLE >= KEY_MULTIPLE // 2:
        return length + (-length % KEY_MULTIPLE)
    return length


def _aligned_mask(*, kv_length: int, **kwargs: Any) -> torch.Tensor | None:
    """sdpa's boolean mask, widened with masked key positions to the aligned length (the
    mask is built once per forward; each layer then pads its keys to match it)."""
    from transformers.masking_utils import sdpa_mask

    aligned = aligned_key_length(kv_length)
    if aligned == kv_length:
        return sdpa_mask(kv_length=kv_length, **kwargs)
    never_skip = {"allow_is_bidirectional_skip": False, "allow_is_causal_skip": False}
    mask = sdpa_mask(kv_length=kv_length, **(kwargs | never_skip))
    return F.pad(mask, (0, aligned - kv_length), value=False)


def _aligned_sdpa(
    module: Any,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    if attention_mask is not None and attention_mask.shape[-1] > key.shape[-2]:
        missing = attention_mask.shape[-1] - key.shape[-2]
        key = F.pad(key, (0, 0, 0, missing))
        value = F.pad(value, (0, 0, 0, missing))
    return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)


@functools.cache
def _register() -> None:
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface

    AttentionInterface.register(ALIGNED_SDPA, _aligned_sdpa)
    AttentionMaskInterface.register(ALIGNED_SDPA, _aligned_mask)


@contextlib.contextmanager
def aligned_attention(model: Any, device: torch.device | str) -> Iterator[None]:
    """Within: ``model``'s sdpa attention runs on aligned keys, if it is on a CPU and
    implements transformers' attention interface; otherwise nothing changes."""
    config = getattr(model, "config", None)
    current = getattr(config, "_attn_implementation", None)
    supported = getattr(model, "_can_set_attn_implementation", lambda: False)()
    if torch.device(device).type != "cpu" or current != "sdpa" or not supported:
        yield
        return
    _register()
    model.set_attn_implementation(ALIGNED_SDPA)
    try:
        yield
    finally:
        model.set_attn_implementation(current)
