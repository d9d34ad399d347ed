"""Encoders with the head a task kind needs, from a hub id, a local folder or e5-small.

Checkpoints are plain Hugging Face folders, so ``--model CKPT`` takes back anything
harness (or transformers) saved.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.errors import ConfigError
from harness.specs import ModelSpec


def model_location(spec: ModelSpec) -> str:
    """The path or hub id ``from_pretrained`` should read (builds e5-small on first use)."""
    if spec.source == "e5_small":
        from harness.models.e5_small import e5_small_path

        return str(e5_small_path())
    if spec.source == "local":
        if not Path(spec.path).is_dir():
            raise ConfigError(f"model {spec.name}: checkpoint folder {spec.path} does not exist")
        if not (Path(spec.path) / "config.json").is_file():
            raise ConfigError(
                f"model {spec.name}: checkpoint folder {spec.path} has no config.json "
                "(expected a Hugging Face checkpoint)"
            )
    return spec.path


def model_config(spec: ModelSpec) -> Any:
    """The encoder's config, read without loading weights; None where there is none to
    read yet (a checkpoint a sweep has still to train, a hub model not reachable):
    loading the model then says what is wrong."""
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(model_location(spec), revision=spec.revision)
    except (OSError, ValueError, ConfigError):
        return None


def model_width(spec: ModelSpec) -> int | None:
    """The encoder's hidden size, if its config can be read."""
    return getattr(model_config(spec), "hidden_size", None)


# models whose position ids start after the padding index (fairseq's convention): XLM-R
# base has 514 position embeddings for 512 tokens
_OFFSET_POSITIONS = ("roberta", "xlm-roberta", "xlm-roberta-xl", "camembert")


def fit_max_length(
    spec: ModelSpec, hp: dict[str, Any], overrides: dict[str, Any], log: Callable[[str], None]
) -> dict[str, Any]:
    """``hp`` with a ``max_length`` the encoder has positions for. One asked for on the
    command line beyond them is refused before anything runs (an input that long
    fails inside the model, after training); a registry default beyond them (Tatoeba's
    256 for a 128-position model) is lowered to fit, and the log says so."""
    config = model_config(spec)
    positions = getattr(config, "max_position_embeddings", None)
    if positions is None:
        return hp
    if getattr(config, "model_type", None) in _OFFSET_POSITIONS:
        positions -= (getattr(config, "pad_token_id", None) or 0) + 1
    wanted = hp["max_length"]
    if wanted <= positions:
        return hp
    if overrides.get("max_length") is not None:
        raise ConfigError(
            f"max_length {wanted} (--max-length, or a study's settings): "
            f"model {spec.name} takes at most {positions} tokens"
        )
    log(
        f"max_length {wanted} (a registry default) lowered to {positions}: model {spec.name} takes no more"
    )
    return hp | {"max_length": positions}


def load_tokenizer(spec: ModelSpec) -> Any:
    from transformers import AutoTokenizer

    location = model_location(spec)
    try:
        return AutoTokenizer.from_pretrained(location, revision=spec.revision)
    except (OSError, ValueError) as err:
        raise ConfigError(
            f"model {spec.name}: cannot load its tokenizer from {location}: {err}"
        ) from None


def load_model(spec: ModelSpec, auto_class: str, **head: Any) -> Any:
    """The encoder plus a freshly initialised ``auto_class`` head (sized by ``head``)."""
    import transformers
    from safetensors import SafetensorError
    from transformers.utils import logging as hf_logging

    location = model_location(spec)
    cls = getattr(transformers, auto_class)
    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the load report says "head newly initialised": that is the point
    hf_logging.disable_progress_bar()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return cls.from_pretrained(location, revision=spec.revision, **head)
    except (OSError, ValueError, SafetensorError) as err:  # missing, unreadable, truncated
        raise ConfigError(
            f"model {spec.name}: cannot load weights from {location}: {err}"
        ) from None
    finally:
        hf_logging.set_verbosity(level)
