"""Full fine-tuning or a peft adapter on the encoder, for any training stage.

The adapter goes on the encoder only (the task heads stay fully trainable), so a
multi-task model's tasks share one adapter just as they share one encoder. Any peft
method that injects into layers applies (LoRA, IA3, LoHa, LoKr, ...): its options pass
straight to the peft config class. At hand-off the adapter is merged into the encoder,
so the next stage (or ``--model CKPT``) sees a plain Hugging Face checkpoint; the
adapter itself is saved beside it and loads back with ``load_adapter``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from harness.errors import ConfigError

FULL = "full"


@dataclass(frozen=True)
class AdapterSpec:
    method: str = FULL  # "full", or a peft method: lora, ia3, loha, lokr, adalora, ...
    options: dict[str, Any] = field(default_factory=dict)  # the peft config's own fields

    def describe(self) -> dict[str, Any]:
        return {"method": self.method, "options": dict(self.options)}


def _config_class(method: str) -> Any:
    from peft import PromptLearningConfig
    from peft.mapping import PEFT_TYPE_TO_CONFIG_MAPPING, PEFT_TYPE_TO_TUNER_MAPPING

    # prompt methods (prefix, prompt, p-tuning, adaption prompt) add virtual tokens to a
    # generative model's inputs rather than weights to its layers
    injecting = {
        name.lower(): PEFT_TYPE_TO_CONFIG_MAPPING[name]
        for name in PEFT_TYPE_TO_TUNER_MAPPING
        if name != "ADAPTION_PROMPT"
        and not issubclass(PEFT_TYPE_TO_CONFIG_MAPPING[name], PromptLearningConfig)
    }
    if method.lower() not in injecting:
        raise ConfigError(
            f"adapter {method!r}: not a peft method that injects into layers; one of: full, {', '.join(sorted(injecting))}"
        )
    return injecting[method.lower()]


# methods peft injects but whose training needs more than harness's loop gives them
_NOT_TRAINED_HERE = {
    "adalora": "its rank budget is reallocated by a call after every optimiser step "
    "(peft's update_and_allocate) and its orthogonality penalty added by peft's own "
    "forward, neither of which harness's training loop makes: it would train as plain "
    "LoRA; choose lora",
}


# options a method trains nothing without: peft accepts them empty, then fails in the
# first forward pass (trainable_tokens: a float index into the embeddings)
_NEEDED = {"trainable_tokens": "token_indices"}


def _check_values(method: str, config_class: Any, options: dict[str, Any]) -> None:
    """Each option of a plain number or flag field given one of its kind: peft takes
    ``r="x"`` and fails later, inside the model, with a bare comparison error."""
    import typing

    accepted = {int: (int,), float: (int, float), bool: (bool,)}
    hints = typing.get_type_hints(config_class)
    for key, value in options.items():
        kind = hints.get(key)
        if kind not in accepted:  # unions, lists, strings: peft's own checks
            continue
        if type(value) not in accepted[kind]:
            raise ConfigError(f"adapter {method}: option {key}={value!r} must be {kind.__name__}")


def peft_config(spec: AdapterSpec) -> Any | None:
    """The peft config ``spec`` asks for (None for full fine-tuning), every option
    checked: the command line builds it once before anything runs, so a bad method or
    option never waits for a target that trains."""
    if spec.method == FULL:
        if spec.options:
            raise ConfigError("adapter options given, but the adapter is full fine-tuning")
        return None
    config_class = _config_class(spec.method)
    if spec.method.lower() in _NOT_TRAINED_HERE:
        raise ConfigError(f"adapter {spec.method}: {_NOT_TRAINED_HERE[spec.method.lower()]}")
    needed = _NEEDED.get(spec.method.lower())
    if needed and not spec.options.get(needed):
        raise ConfigError(
            f"adapter {spec.method}: option {needed} must name what it trains "
            f"(--adapter-option {needed}=[...])"
        )
    _check_values(spec.method, config_class, spec.options)
    try:
        return config_class(**spec.options)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"adapter {spec.method}: {err}") from None


def apply_adapter(model: Any, spec: AdapterSpec) -> Any | None:
    """Put the adapter on ``model``'s encoder in place; returns the peft wrapper (None for full)."""
    config = peft_config(spec)
    if config is None:
        return None
    from peft import get_peft_model

    try:
        wrapped = get_peft_model(model.base_model, config)
    except (ValueError, TypeError) as err:
        given = ", ".join(f"{k}={v!r}" for k, v in spec.options.items()) or "none"
        raise ConfigError(
            f"adapter {spec.method} (options: {given}) cannot apply to this model: {err}"
        ) from None
    _check_mergeable(wrapped, spec.method)
    return wrapped


_applied: set[str] = set()  # (model config, adapter) pairs already checked in this process


def check_adapter(spec: AdapterSpec, model_config: Any | None) -> None:
    """``spec`` checked as far as it can be before anything runs: its config, and where
    the model's config is readable, applied to an encoder of that config without
    weights, so the values peft checks only as it builds the adapter (``r`` above 0, a
    dropout within [0, 1], target modules the model has) fail now, not at the first
    target that trains, after others have run."""
    if peft_config(spec) is None or model_config is None:
        return
    import json

    key = json.dumps([model_config.to_dict(), spec.describe()], sort_keys=True, default=str)
    if key in _applied:  # a sweep checks every job's options: one model build per pair
        return
    from accelerate import init_empty_weights
    from transformers import AutoModel

    with init_empty_weights():
        encoder = AutoModel.from_config(model_config)
    apply_adapter(encoder, spec)
    _applied.add(key)


def _check_mergeable(wrapped: Any, method: str) -> None:
    """Training ends by merging the adapter into the encoder (``merge_adapter``); a
    method peft cannot merge (Lily, Poly) is refused before training, not after it, by
    merging a copy of one adapted layer."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    layer = next((m for m in wrapped.modules() if isinstance(m, BaseTunerLayer)), None)
    if layer is None:
        return
    try:
        copy.deepcopy(layer).merge()
    except NotImplementedError:
        raise ConfigError(
            f"adapter {method}: peft cannot merge it into the encoder's weights, which "
            "training ends with (to save and predict with a plain checkpoint); choose a "
            "method that merges, such as lora, ia3, loha or vera"
        ) from None


def merge_adapter(peft_encoder: Any | None) -> None:
    """Fold the adapter into the encoder's weights, in place (nothing for full fine-tuning)."""
    if peft_encoder is not None:
        peft_encoder.merge_and_unload()


def load_adapter(model: Any, folder: Path) -> None:
    """Apply a saved adapter to ``model``'s encoder and merge it, in place."""
    from peft import PeftModel

    PeftModel.from_pretrained(model.base_model, str(folder)).merge_and_unload()


def parameter_counts(model: torch.nn.Module) -> dict[str, int]:
    """Trainable and total parameters (each shared parameter counted once)."""
    seen: dict[int, torch.nn.Parameter] = {id(p): p for p in model.parameters()}
    return {
        "trainable": sum(p.numel() for p in seen.values() if p.requires_grad),
        "total": sum(p.numel() for p in seen.values()),
    }
