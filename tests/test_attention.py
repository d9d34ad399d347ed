"""Aligned attention changes the key length attention runs on, never its result."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from harness.engine.attention import ALIGNED_SDPA, aligned_attention, aligned_key_length
from harness.models.encoder import load_model
from harness.specs import ModelSpec


def test_key_lengths_well_short_of_a_multiple_of_16_are_padded_to_it() -> None:
    assert [aligned_key_length(n) for n in (1, 7, 8, 15, 16, 17, 23, 24, 31, 40, 63, 64)] == [
        1, 7, 16, 16, 16, 17, 23, 32, 32, 48, 64, 64,
    ]  # fmt: skip


@pytest.fixture(scope="module")
def model(tiny_model: Path) -> torch.nn.Module:
    return load_model(ModelSpec(name="tiny", source="local", path=str(tiny_model)), "AutoModel")


def _batch(lengths: list[int], vocab: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(sum(lengths))
    width = max(lengths)
    ids = torch.randint(5, vocab, (len(lengths), width), generator=generator)
    mask = (torch.arange(width) < torch.tensor(lengths)[:, None]).long()
    return ids * mask + (1 - mask), mask  # 1 is the tiny model's pad id


@pytest.mark.parametrize(
    "lengths",
    [[13, 9, 4], [12, 12], [30, 25], [17, 3], [8]],
    ids=["padded-batch", "no-padding", "second-multiple", "not-aligned", "one"],
)
def test_outputs_are_those_of_plain_sdpa(model: torch.nn.Module, lengths: list[int]) -> None:
    ids, mask = _batch(lengths, model.config.vocab_size)
    model.eval()
    assert model.config._attn_implementation == "sdpa"
    with torch.inference_mode():
        plain = model(input_ids=ids, attention_mask=mask).last_hidden_state
        with aligned_attention(model, "cpu"):
            assert model.config._attn_implementation == ALIGNED_SDPA
            aligned = model(input_ids=ids, attention_mask=mask).last_hidden_state
    assert model.config._attn_implementation == "sdpa"
    real = mask.bool()
    assert torch.allclose(aligned[real], plain[real], atol=1e-5)


def test_the_implementation_is_restored_after_an_error(model: torch.nn.Module) -> None:
    with pytest.raises(RuntimeError, match="stop"), aligned_attention(model, "cpu"):
        raise RuntimeError("stop")
    assert model.config._attn_implementation == "sdpa"


def test_accelerators_and_other_implementations_are_left_alone(
    model: torch.nn.Module,
) -> None:
    with aligned_attention(model, torch.device("cuda")):
        assert model.config._attn_implementation == "sdpa"
    model.set_attn_implementation("eager")
    try:
        with aligned_attention(model, "cpu"):
            assert model.config._attn_implementation == "eager"
    finally:
        model.set_attn_implementation("sdpa")
