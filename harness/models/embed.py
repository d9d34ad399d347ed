"""Sentence vectors for retrieval: one hidden layer of the encoder, pooled, L2-normalised.

Which layer and which pooling decide retrieval scores (the references disagree), so
both are explicit settings recorded with every result. ``layer`` indexes
``hidden_states`` as transformers returns them: 0 is the embedding output, -1 the last
layer.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from harness.cache import ContentCache, model_identity
from harness.engine.batching import device_batch_cost, length_sorted_batches
from harness.engine.distributed import (
    gather_lists,
    process_count,
    process_device,
    process_index,
)
from harness.engine.predict import run_inference
from harness.errors import ConfigError
from harness.models.depth import first_layers
from harness.models.encoder import load_model, load_tokenizer, model_location
from harness.specs import ModelSpec


@dataclass(frozen=True)
class EmbedSettings:
    layer: int = -1
    pooling: str = "mean"  # mean over real tokens, or "first" (the [CLS]/<s> token)
    prefix: str = ""
    max_length: int = 256
    batch_size: int = 64
    max_tokens: int | None = None  # padded tokens per batch (engine.batching.token_budget)
    precision: str = "no"  # no (float32), bf16 or fp16 (GPU): autocast while encoding


def padded_batch(
    ids: Sequence[Sequence[int]], rows: Sequence[int], pad_id: int, width: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Input ids and attention mask of ``rows``, padded to ``width`` (default: the
    longest of them)."""
    width = width or max(len(ids[i]) for i in rows)
    # filled in numpy: a torch call per row cost 10x more, a visible share on a GPU
    input_ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for row, i in enumerate(rows):
        input_ids[row, : len(ids[i])] = ids[i]
        mask[row, : len(ids[i])] = 1
    return torch.from_numpy(input_ids), torch.from_numpy(mask)


def embed_sentences(
    model: Any,
    tokenizer: Any,
    sentences: Sequence[str],
    settings: EmbedSettings,
    streams: int = 1,
    all_layers: bool = False,
) -> np.ndarray:
    """float32 array (len(sentences), hidden), rows L2-normalised, in input order.

    ``streams`` batches are encoded at once (``engine.streams``), and the layers above
    the pooled one are skipped (``depth.first_layers``) unless ``all_layers``; the
    vectors depend on neither, so they are no settings of theirs."""
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
    layer = settings.layer % (layers + 1)  # the hidden state's index counted from 0
    want_all = layer != layers
    model.eval()

    def encode(batch: list[int]) -> tuple[list[int], np.ndarray]:
        input_ids, mask = padded_batch(ids, batch, tokenizer.pad_token_id)
        result = model(
            input_ids=input_ids.to(device),
            attention_mask=mask.to(device),
            output_hidden_states=want_all,
        )
        hidden = (result.hidden_states[layer] if want_all else result.last_hidden_state).float()
        if settings.pooling == "first":
            pooled = hidden[:, 0]
        else:
            weights = mask.to(device).unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * weights).sum(dim=1) / weights.sum(dim=1)
        return batch, torch.nn.functional.normalize(pooled, dim=-1).cpu().numpy()

    # with several processes each encodes every N-th batch; the rows are gathered
    batches = length_sorted_batches(
        [len(x) for x in ids], settings.batch_size, settings.max_tokens, device_batch_cost(device)
    )
    mine = batches[process_index() :: process_count()]
    depth = contextlib.nullcontext() if all_layers else first_layers(model, layer)
    with depth:
        produced = run_inference(model, encode, mine, streams, settings.precision, device)
    for batch, vectors in gather_lists(produced):
        out[batch] = vectors
    return out


class Embedder:
    """Sentence vectors of one model under one setting, each distinct sentence encoded
    once and the vectors kept on disk: a rerun (another seed, another output folder)
    reads them back without loading the model. The key covers the model's identity,
    every setting and the sentences themselves, so nothing stale is ever served."""

    def __init__(
        self, spec: ModelSpec, settings: EmbedSettings, cache: ContentCache, streams: int = 1
    ):
        self.spec = spec
        self.settings = settings
        self.streams = streams
        self.cache = cache
        self._encoder: tuple[Any, Any] | None = None
        self._model_identity: dict[str, Any] | None = None

    def _loaded(self) -> tuple[Any, Any]:
        if self._encoder is None:
            model = load_model(self.spec, "AutoModel").to(process_device())
            self._encoder = (model, load_tokenizer(self.spec))
        return self._encoder

    def _identity(self) -> dict[str, Any]:
        """The model's identity, read once (it stats the checkpoint's files)."""
        if self._model_identity is None:
            self._model_identity = model_identity(self.spec, model_location(self.spec))
        return self._model_identity

    def embed_unique(self, sentences: Sequence[str]) -> tuple[np.ndarray, list[int]]:
        """The vectors of the distinct sentences and each input's row among them."""
        rows: dict[str, int] = {}
        index = [rows.setdefault(s, len(rows)) for s in sentences]
        distinct = list(rows)
        digest = hashlib.sha256("\n".join(distinct).encode("utf-8")).hexdigest()
        key = self.cache.key(
            {
                "model": self._identity(),
                "settings": asdict(self.settings),
                "sentences": [len(distinct), digest],
            }
        )
        vectors = self.cache.load_array(key)
        if vectors is None:
            vectors = embed_sentences(*self._loaded(), distinct, self.settings, self.streams)
            self.cache.save_array(key, vectors)
        return vectors, index
