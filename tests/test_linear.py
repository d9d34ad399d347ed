"""Packed linear layers change how an encoder's products run, never their results."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.profiler import ProfilerActivity, profile
from transformers import BertConfig, BertModel
from transformers.activations import GELUActivation, NewGELUActivation

from harness.engine.linear import packed_linears
from harness.engine.precision import inference
from harness.models.encoder import load_model
from harness.specs import ModelSpec


@pytest.fixture(scope="module")
def xlmr(tiny_model: Path) -> nn.Module:
    return load_model(ModelSpec(name="tiny", source="local", path=str(tiny_model)), "AutoModel")


def _bert(hidden_act: str) -> nn.Module:
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=64, hidden_act=hidden_act,
    )  # fmt: skip
    return BertModel(config).eval()


def _inputs(vocab: int) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(5, vocab, (3, 11), generator=generator)
    mask = (torch.arange(11) < torch.tensor([[11], [7], [2]])).long()
    return {"input_ids": ids, "attention_mask": mask}


def _hidden(model: nn.Module, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    with torch.inference_mode():
        return model(**inputs).last_hidden_state


def _replaced(model: nn.Module) -> list[str]:
    return [name for name, module in model.named_modules() if "forward" in vars(module)]


@pytest.mark.parametrize("model_name", ["xlmr", "bert-gelu", "bert-relu", "bert-gelu-tanh"])
def test_outputs_are_those_of_the_plain_layers(
    request: pytest.FixtureRequest, model_name: str
) -> None:
    if model_name == "xlmr":
        model = request.getfixturevalue("xlmr").eval()
    else:
        model = _bert({"bert-gelu": "gelu", "bert-relu": "relu"}.get(model_name, "gelu_new"))
    inputs = _inputs(model.config.vocab_size)
    plain = _hidden(model, inputs)
    with packed_linears(model, "cpu"):
        packed = _hidden(model, inputs)
    assert torch.allclose(packed, plain, atol=1e-5)


def test_feed_forward_blocks_are_fused_and_everything_is_restored(xlmr: nn.Module) -> None:
    linears = {name for name, m in xlmr.named_modules() if isinstance(m, nn.Linear)}
    with packed_linears(xlmr, "cpu"):
        replaced = set(_replaced(xlmr))
    fused = {"encoder.layer.0.intermediate", "encoder.layer.1.intermediate"}
    assert replaced == linears | fused
    assert _replaced(xlmr) == []
    with pytest.raises(RuntimeError, match="stop"), packed_linears(xlmr, "cpu"):
        raise RuntimeError("stop")
    assert _replaced(xlmr) == []


@pytest.mark.parametrize(
    ("activation", "fused"),
    [
        (GELUActivation(), True),
        (nn.GELU(), True),
        (nn.GELU(approximate="tanh"), True),
        (nn.ReLU(), True),
        (NewGELUActivation(), False),  # no oneDNN fusion: runs packed, then its own
    ],
    ids=["transformers-gelu", "gelu", "gelu-tanh", "relu", "gelu-new"],
)
def test_a_fused_block_computes_its_own_activation(activation: nn.Module, fused: bool) -> None:
    """Inputs wide enough to tell GELU from its tanh approximation (4.7e-4 apart near
    2): a block must apply its own."""
    block = _bert("gelu").encoder.layer[0].intermediate
    block.intermediate_act_fn = activation
    x = torch.randn(2, 5, 32, generator=torch.Generator().manual_seed(1)) * 3
    with torch.inference_mode():
        plain = block(x)
        with packed_linears(block, "cpu"):
            assert ("forward" in vars(block)) == fused
            packed = block(x)
    assert torch.allclose(packed, plain, atol=1e-5)


def test_only_bert_s_own_feed_forward_is_fused() -> None:
    """A block with the same children computing something else keeps its forward (a
    tanh activation has no oneDNN fusion either)."""

    class Doubled(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.dense = nn.Linear(4, 4)
            self.intermediate_act_fn = nn.GELU()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.intermediate_act_fn(self.dense(x)) * 2

    model = nn.Sequential(Doubled())
    x = torch.randn(2, 3, 4)
    with torch.inference_mode():
        plain = model(x)
        with packed_linears(model, "cpu"):
            assert _replaced(model) == ["0.dense"]
            packed = model(x)
    assert torch.allclose(packed, plain, atol=1e-6)


def test_training_and_autocast_take_the_layers_own_path() -> None:
    model = _bert("gelu")
    inputs = _inputs(model.config.vocab_size)

    def reduced() -> torch.Tensor:
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            return model(**inputs).last_hidden_state

    plain = reduced()
    with packed_linears(model, "cpu"):
        model(**inputs).last_hidden_state.sum().backward()
        packed = reduced()
    grad = model.encoder.layer[0].intermediate.dense.weight.grad
    assert grad is not None and grad.abs().sum() > 0
    assert torch.equal(packed, plain)  # float32 products would differ from bfloat16 ones


def test_a_changed_weight_is_packed_again() -> None:
    model = _bert("gelu")
    inputs = _inputs(model.config.vocab_size)
    with packed_linears(model, "cpu"):
        before = _hidden(model, inputs)
    with torch.no_grad():
        model.encoder.layer[1].intermediate.dense.weight.mul_(3)
    expected = _hidden(model, inputs)
    with packed_linears(model, "cpu"):
        after = _hidden(model, inputs)
    assert not torch.allclose(after, before, atol=1e-3)
    assert torch.allclose(after, expected, atol=1e-5)


def _linear_calls(run: Callable[[], torch.Tensor]) -> tuple[torch.Tensor, int]:
    """``run``'s output and how many oneDNN linear calls it made."""
    with profile(activities=[ProfilerActivity.CPU]) as trace:
        out = run()
    return out, sum(e.count for e in trace.key_averages() if e.key == "mkldnn::_linear_pointwise")


@pytest.mark.skipif(
    not torch.ops.mkldnn._is_mkldnn_bf16_supported(), reason="no bfloat16 oneDNN on this CPU"
)
def test_under_bf16_the_layers_run_packed_in_bfloat16() -> None:
    model = _bert("gelu")
    inputs = _inputs(model.config.vocab_size)

    def reduced() -> torch.Tensor:
        with inference("bf16", "cpu"):
            return model(**inputs).last_hidden_state

    plain, plain_calls = _linear_calls(reduced)
    with packed_linears(model, "cpu", "bf16"):
        packed, calls = _linear_calls(reduced)
        float32 = _hidden(model, inputs)  # outside autocast: the layers' own float32 path
    assert plain_calls == 0
    # every linear layer but the fused blocks' dense: 2 layers x (q, k, v, o, fused
    # feed-forward, output) and the pooler
    assert calls == 2 * 6 + 1
    assert packed.dtype == plain.dtype
    assert torch.allclose(packed.float(), plain.float(), atol=0.05)
    assert torch.equal(float32, _hidden(model, inputs))


def test_accelerators_fp16_and_hooked_layers_are_left_alone() -> None:
    model = _bert("gelu")
    with packed_linears(model, "cuda"), packed_linears(model, "cpu", "fp16"):
        assert _replaced(model) == []
    pooler = model.pooler.dense
    hook = pooler.forward
    pooler.forward = hook  # what an Accelerate hook does: an instance-level forward
    with packed_linears(model, "cpu"):
        assert vars(pooler)["forward"] is hook
    assert vars(pooler)["forward"] is hook
