"""Sentence vectors for retrieval: one hidden layer of the encoder, pooled, L2-normalised.

Which layer and which pooling decide retrieval scores (the references disagree), so
both are explicit settings recorded with every result. ``layer`` indexes
``hidden_states`` as transformers returns them: 0 is the embedding output, -1 the last
layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from harness.engine.batching import length_sorted_batches
from harness.engine.precision import inference_precision
from harness.errors import ConfigError


@dataclass(frozen=True)
class EmbedSettings:
    layer: int = -1
    pooling: str = "mean"  # mean over real tokens, or "first" (the [CLS]/<s> token)
    prefix: str = ""
    max_length: int = 256
    batch_size: int = 64
    precision: str = "no"  # no (float32), bf16 or fp16 (GPU): autocast while encoding


def embed_sentences(
    model: Any, tokenizer: Any, sentences: Sequence[str], settings: EmbedSettings
) -> np.ndarray:
    """float32 array (len(sentences), hidden), rows L2-normalised, in input order."""
    if not sentences:
        return np.zeros((0, model.config.hidden_size), dtype=np.float32)
    layers = model.config.num_hidden_layers
    if not -(layers + 1) <= settings.layer <= layers:
        raise ConfigError(
            f"layer {settings.layer} out of range: the model has hidden states 0..{layers}"
        )
    encoded = tokenizer(
        [settings.prefix + s for s in sentences], truncation=True, max_length=settings.max_length
    )
    ids = encoded["input_ids"]
    out = np.zeros((len(sentences), model.config.hidden_size), dtype=np.float32)
    device = next(model.parameters()).device
    want_all = settings.layer not in (-1, layers)
    model.eval()
    with torch.inference_mode(), inference_precision(settings.precision, device):
        for batch in length_sorted_batches([len(x) for x in ids], settings.batch_size):
            width = max(len(ids[i]) for i in batch)
            input_ids = torch.full((len(batch), width), tokenizer.pad_token_id, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, i in enumerate(batch):
                input_ids[row, : len(ids[i])] = torch.tensor(ids[i])
                mask[row, : len(ids[i])] = 1
            result = model(
                input_ids=input_ids.to(device),
                attention_mask=mask.to(device),
                output_hidden_states=want_all,
            )
            hidden = (
                result.hidden_states[settings.layer] if want_all else result.last_hidden_state
            ).float()
            if settings.pooling == "first":
                pooled = hidden[:, 0]
            else:
                weights = mask.to(device).unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * weights).sum(dim=1) / weights.sum(dim=1)
            pooled = torch.nn.functional.normalize(pooled, dim=-1)
            out[batch] = pooled.cpu().numpy()
    return out


def embed_unique(
    model: Any, tokenizer: Any, sentences: Sequence[str], settings: EmbedSettings
) -> tuple[np.ndarray, list[int]]:
    """Embed each distinct sentence once; returns the vectors and each input's row."""
    rows: dict[str, int] = {}
    index = [rows.setdefault(s, len(rows)) for s in sentences]
    return embed_sentences(model, tokenizer, list(rows), settings), index
