"""Encoding speed on the retrieval path (Tatoeba sentences through e5-small).

Ours: ``embed_sentences`` (length-sorted batches padded per batch, inference mode).
References: every input padded to 512 tokens (the fixed-padding approach, XTREME's
``max_seq_length`` for retrieval taken as every input's length); XTREME's own retrieval
scripts, which pad each batch of 100 sentences, in input order, to its longest
(``prepare_batch`` with ``use_local_max_length``, 512 only a cap); and the roofline: the
machine's measured matrix-multiply rate divided by the model's FLOPs per real token. Pooling a
lower hidden state, as the references do, is compared with a forward through every
layer, and a wider encoder (XLM-R base's shapes) at its CPU token cap with e5-small's.
"""

from __future__ import annotations

import random
from functools import partial
from typing import Any

import torch

from bench.measure import SHARED_DATA, Figure, compare, seconds
from harness.engine.batching import CPU_TOKEN_BUDGET, token_budget
from harness.engine.streams import stream_count
from harness.models.embed import EmbedSettings, embed_sentences, padded_batch

FIXED_LENGTH = 512  # XTREME's max_seq_length for BUCC and Tatoeba
XTREME_BATCH = 100  # the batch size of XTREME's retrieval scripts (run_tatoeba.sh, run_bucc2018.sh)
LANGUAGES = ("deu", "fra", "cmn", "ara", "hin", "rus", "jpn", "swh")


def tatoeba_sentences(count: int, seed: int = 0) -> list[str]:
    """A seeded sample mixing several scripts, both sides of each pair."""
    folder = SHARED_DATA / "xtreme" / "tatoeba"
    pool: list[str] = []
    for code in LANGUAGES:
        for side in (code, "eng"):
            path = folder / f"tatoeba.{code}-eng.{side}"
            pool += [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    return random.Random(seed).sample(pool, count)


def matmul_peak(dtype: torch.dtype, sizes: tuple[int, ...] = (1024, 2048, 3072)) -> float:
    """Best FLOP/s of square matrix products with the threads torch uses."""
    best = 0.0
    for n in sizes:
        a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
        torch.mm(a, b)
        for _ in range(3):
            best = max(best, 2 * n**3 / seconds(partial(torch.mm, a, b)))
    return best


def sustained_matmul(dtype: torch.dtype, n: int = 3072, products: int = 4) -> tuple[Any, float]:
    """A run of square products (the machine's best-shaped matmul) and its FLOPs: timed
    alternately with the encoder, it gives the roofline under the same machine state."""
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)

    def products_run() -> None:
        for _ in range(products):
            torch.mm(a, b)

    return products_run, 2.0 * n**3 * products


def model_flops(config: Any, lengths: list[int]) -> float:
    """Forward FLOPs for sequences of these lengths: the dense layers' 2 x weights per
    token, plus attention's scores and weighted sum (4 x n^2 x hidden per layer)."""
    d, ff, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    dense = layers * (4 * d * d + 2 * d * ff)
    return sum(2 * n * dense + 4 * layers * n * n * d for n in lengths)


def _padded_run(
    model: Any, ids: list[list[int]], order: list[list[int]], width: int | None, pad: int
) -> None:
    with torch.inference_mode():
        for batch in order:
            input_ids, mask = padded_batch(ids, batch, pad, width)
            model(input_ids=input_ids, attention_mask=mask)


def run(model: Any, tokenizer: Any, repeat: int, count: int = 2000) -> list[Figure]:
    device = next(model.parameters()).device
    budget = token_budget(0, device, model.config.hidden_size)
    settings = EmbedSettings(
        prefix="query: ", max_length=FIXED_LENGTH, batch_size=64, max_tokens=budget
    )
    sentences = tatoeba_sentences(count)
    ids = tokenizer([settings.prefix + s for s in sentences], truncation=True, max_length=512)[
        "input_ids"
    ]
    lengths = [len(x) for x in ids]
    tokens = sum(lengths)
    pad = tokenizer.pad_token_id

    def ours(streams: int = 0, all_layers: bool = False, **changes: Any) -> Any:
        """``embed_sentences`` as ``harness eval`` runs it: ``streams`` 0 is the default,
        resolved when it runs (under the thread count in force then)."""
        chosen = EmbedSettings(**(vars(settings) | changes))
        return lambda: embed_sentences(
            model, tokenizer, sentences, chosen, stream_count(streams, device), all_layers
        )

    # the fixed-padding reference is slow: a random sample of the same sentences
    sample = random.Random(1).sample(range(count), 128)
    sample_tokens = sum(lengths[i] for i in sample)
    in_order = [list(range(i, min(i + XTREME_BATCH, count))) for i in range(0, count, XTREME_BATCH)]
    fixed_order = [sample[i : i + 64] for i in range(0, len(sample), 64)]
    threads = torch.get_num_threads()
    # a lower layer pooled, as XTREME's BUCC script pools layer 7 of XLM-R base's 12
    layers = model.config.num_hidden_layers
    lower = layers * 2 // 3

    figures = [
        compare("encoding", "fp32 vs fixed padding to 512", ours(),
                lambda: _padded_run(model, ids, fixed_order, FIXED_LENGTH, pad),
                "every input padded to 512", repeat, work=tokens, unit="real tokens/s",
                reference_work=sample_tokens),
        compare("encoding", f"fp32 vs XTREME's retrieval scripts (unsorted, padded per "
                f"batch of {XTREME_BATCH})", ours(),
                lambda: _padded_run(model, ids, in_order, None, pad),
                "dynamic padding in input order", repeat, work=tokens, unit="real tokens/s"),
        compare("encoding", f"fp32, batches of <= {budget} padded tokens vs 64 sentences",
                ours(), ours(max_tokens=None), "length-sorted batches of 64 sentences",
                repeat, work=tokens, unit="real tokens/s"),
        compare("encoding", f"fp32, {stream_count(0, device)} streams vs 1 stream", ours(),
                ours(streams=1), "1 stream on every thread", repeat, work=tokens,
                unit="real tokens/s"),
        compare("encoding", "bf16 vs fp32 (ours both)", ours(precision="bf16"), ours(), "fp32",
                repeat, work=tokens, unit="real tokens/s"),
        compare("encoding", f"fp32, {threads} threads vs 1 thread", ours(), _one_thread(ours()),
                "1 thread", repeat, work=tokens, unit="real tokens/s"),
        compare("encoding", f"fp32, hidden state {lower} of {layers}: only the layers below it",
                ours(layer=lower), ours(layer=lower, all_layers=True), "a forward through all",
                repeat, work=tokens, unit="real tokens/s"),
    ]  # fmt: skip
    figures[0].notes = {"reference_sample": len(sample), "reference_sample_tokens": sample_tokens}
    flops_per_token = model_flops(model.config, lengths) / tokens
    for dtype, label, precision in (
        (torch.float32, "fp32", "no"),
        (torch.bfloat16, "bf16", "bf16"),
    ):
        products, flops = sustained_matmul(dtype)
        figure = compare(
            "encoding", f"{label} vs roofline", ours(precision=precision), products,
            f"{label} roofline: square matmul FLOP/s / {flops_per_token / 1e6:.1f} MFLOP per token",
            repeat, work=tokens, unit="real tokens/s", reference_work=flops / flops_per_token,
        )  # fmt: skip
        sustained = (figure.reference_value or {}).get("median", float("nan"))
        figure.notes = {
            "flops_per_token": flops_per_token,
            "matmul_flops_sustained": sustained * flops_per_token,
            # the best short burst, for comparison: higher than what the machine sustains
            "matmul_flops_best_burst": matmul_peak(dtype),
        }
        figures.append(figure)
    for figure in figures:
        figure.notes |= {"sentences": count, "real_tokens": tokens, "threads": threads}
    if device.type == "cpu":  # the cap's dependence on width: a CPU default
        figures.append(_wider_encoder_cap(tokenizer, sentences[: count // 2], repeat))
    return figures


def _wider_encoder_cap(tokenizer: Any, sentences: list[str], repeat: int) -> Figure:
    """The CPU token cap for XLM-R base's shapes (768 wide: a quarter of e5-small's 1024
    tokens) against e5-small's cap. Random weights run at the real model's speed, which
    the offline machine cannot download."""
    from transformers import XLMRobertaConfig, XLMRobertaModel

    torch.manual_seed(0)
    shapes = XLMRobertaConfig(
        vocab_size=len(tokenizer), hidden_size=768, num_hidden_layers=12,
        num_attention_heads=12, intermediate_size=3072, max_position_embeddings=514,
        attn_implementation="sdpa",
    )  # fmt: skip
    model = XLMRobertaModel(shapes).eval()
    streams = stream_count(0, "cpu")
    tokens = sum(len(x) for x in tokenizer(sentences, truncation=True)["input_ids"])
    cap = token_budget(0, "cpu", shapes.hidden_size)

    def capped(max_tokens: int) -> Any:
        settings = EmbedSettings(max_length=FIXED_LENGTH, max_tokens=max_tokens)
        return lambda: embed_sentences(model, tokenizer, sentences, settings, streams)

    figure = compare(
        "encoding", f"fp32, XLM-R base shapes: {cap}-token batches (the cap for 768 wide) "
        f"vs {CPU_TOKEN_BUDGET}", capped(cap), capped(CPU_TOKEN_BUDGET),
        f"{CPU_TOKEN_BUDGET}-token batches (e5-small's cap)", repeat, work=tokens,
        unit="real tokens/s",
    )  # fmt: skip
    figure.notes = {
        "sentences": len(sentences), "real_tokens": tokens, "threads": torch.get_num_threads(),
        "weights": "random",
    }  # fmt: skip
    return figure


def _one_thread(run_once: Any) -> Any:
    def single() -> None:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            run_once()
        finally:
            torch.set_num_threads(threads)

    return single
