"""The multiple-choice kind: per-choice encoding and truncation, batching, decoding, a
short training run on the tiny model, and (realdata) the real CommonsenseQA/Cosmos QA dev."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.data import read_split
from harness.data.examples import ChoiceExample
from harness.engine.predict import predict_outputs
from harness.engine.train import TrainSettings, train
from harness.models.encoder import load_model, load_tokenizer
from harness.registry import load_registry
from harness.specs import ModelSpec
from harness.tasks import task_kind
from harness.tasks.base import EncodeSettings, Feature
from harness.tasks.multiple_choice import MultipleChoice, _kept_positions

ENGLISH = ("the", "cat", "sat", "on", "mat", "house", "is", "big", "small", "red", "blue")
GERMAN = ("der", "Hund", "ist", "groß", "rot", "Haus", "klein", "Stadt", "Fluss")


@pytest.fixture(scope="module")
def spec(tiny_model: Path) -> ModelSpec:
    return ModelSpec(name="tiny", source="local", path=str(tiny_model))


@pytest.fixture(scope="module")
def tokenizer(spec: ModelSpec) -> Any:
    return load_tokenizer(spec)


@pytest.fixture(scope="module")
def kind() -> MultipleChoice:
    """CommonsenseQA's kind: five choices."""
    kind = task_kind(load_registry().intermediates["commonsenseqa"])
    assert isinstance(kind, MultipleChoice)
    return kind


def _segments(feature: Feature, choice: int, tokenizer: Any) -> list[str]:
    """The decoded texts between special tokens of one choice's input."""
    text = tokenizer.decode(feature["input_ids"][choice])
    for token in tokenizer.all_special_tokens:
        text = text.replace(token, "|")
    return [part.strip() for part in text.split("|") if part.strip()]


def test_label_set_is_the_choice_indices_and_the_head_needs_no_sizing(
    kind: MultipleChoice,
) -> None:
    assert kind.labels == ("0", "1", "2", "3", "4")
    assert kind.model_kwargs() == {}


def test_encode_pairs_each_choice_with_prefixed_context_and_question(
    kind: MultipleChoice, tokenizer: Any
) -> None:
    choices = ("cat", "dog", "house", "river", "city")
    examples = [
        ChoiceExample("the cat sat", "is a house big", choices, "3"),
        ChoiceExample("", "is the dog small", choices),  # CommonsenseQA: no context
    ]
    features = kind.encode(examples, tokenizer, EncodeSettings(max_length=32, prefix="query: "))
    assert [f["example_index"] for f in features] == [0, 1]
    assert features[0]["labels"] == 3
    assert "labels" not in features[1]
    for feature, first, question in zip(
        features, ["query: the cat sat", "query: is the dog small"], ["is a house big ", ""],
        strict=True,
    ):  # fmt: skip
        assert len(feature["input_ids"]) == len(feature["attention_mask"]) == len(choices)
        for c, choice in enumerate(choices):
            assert _segments(feature, c, tokenizer) == [first, question + choice]
    assert kind.length(features[0]) == max(map(len, features[0]["input_ids"]))


def test_encode_rejects_a_wrong_number_of_choices(kind: MultipleChoice, tokenizer: Any) -> None:
    with pytest.raises(ValueError, match="5 choices"):
        kind.encode([ChoiceExample("", "q", ("a", "b"))], tokenizer, EncodeSettings(32))


def test_truncation_cuts_the_context_and_keeps_the_choice(
    kind: MultipleChoice, tokenizer: Any
) -> None:
    long_context = " ".join(ENGLISH * 6)
    long_choice = " ".join(GERMAN * 4)
    example = ChoiceExample(long_context, "", ("cat", long_choice, "red", "blue", "big"), "0")
    (feature,) = kind.encode([example], tokenizer, EncodeSettings(max_length=16, prefix="query: "))
    assert all(len(ids) == 16 for ids in feature["input_ids"])
    short = _segments(feature, 0, tokenizer)
    assert short[0].startswith("query: the cat") and short[1] == "cat"  # only the context cut
    overlong = _segments(feature, 1, tokenizer)  # the choice alone is too long: both cut
    assert overlong[0].startswith("query:") and long_choice.startswith(overlong[1])


def test_truncation_cuts_the_context_and_keeps_the_question(
    kind: MultipleChoice, tokenizer: Any
) -> None:
    """Cosmos QA at a short max_length: the question is what the choice answers."""
    example = ChoiceExample(" ".join(ENGLISH * 6), "is the dog small", ("cat",) * 5, "0")
    (feature,) = kind.encode([example], tokenizer, EncodeSettings(max_length=24, prefix="query: "))
    first, second = _segments(feature, 0, tokenizer)
    assert first.startswith("query: the cat") and second == "is the dog small cat"


def test_kept_positions_follow_only_first_then_longest_first() -> None:
    pair = [None, 0, 0, 0, 0, 0, None, None, 1, 1, None]
    assert _kept_positions(pair, 20) == list(range(11))
    assert _kept_positions(pair, 8) == [0, 1, 2, 6, 7, 8, 9, 10]  # context 5 -> 2
    long_choice = [None, 0, 0, None, None, 1, 1, 1, 1, 1, 1, None]
    assert _kept_positions(long_choice, 8) == [0, 1, 2, 3, 4, 5, 6, 11]  # the longer cut to 2


def test_collate_pads_every_choice_to_the_batch_longest(
    kind: MultipleChoice, tokenizer: Any
) -> None:
    examples = [
        ChoiceExample("", "a", ("cat", "dog", "red", "blue", "big"), "1"),
        ChoiceExample("the cat sat on the mat", "is it big", ("a", "b", "c", "d", "e"), "4"),
    ]
    features = kind.encode(examples, tokenizer, EncodeSettings(max_length=64))
    width = max(kind.length(f) for f in features)
    batch = kind.collate(features, tokenizer.pad_token_id)
    assert batch["input_ids"].shape == batch["attention_mask"].shape == (2, 5, width)
    assert batch["labels"].tolist() == [1, 4]
    for b, feature in enumerate(features):
        for c, ids in enumerate(feature["input_ids"]):
            assert batch["input_ids"][b, c, : len(ids)].tolist() == ids
            assert (batch["input_ids"][b, c, len(ids) :] == tokenizer.pad_token_id).all()
            assert batch["attention_mask"][b, c].sum() == len(ids)


def test_decode_takes_the_best_choice_and_scores_accuracy(kind: MultipleChoice) -> None:
    examples = [ChoiceExample("", "q", tuple("abcde"), gold) for gold in ("2", "0", "4")]
    features: list[Feature] = [{"example_index": i} for i in (1, 0, 2)]  # any feature order
    outputs = [np.array([3.0, 0, 0, 0, 0]), np.array([0, 0, 9.0, 0, 0]), np.eye(5)[1]]
    predictions = kind.decode(outputs, features, examples)
    assert predictions == ["2", "0", "1"]
    assert kind.score(predictions, examples, "en") == {"accuracy": pytest.approx(200 / 3)}


def _toy(n: int, seed: int) -> list[ChoiceExample]:
    """The right choice is English, the four distractors German, at a random position."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        choices = [" ".join(rng.sample(GERMAN, 2)) for _ in range(5)]
        gold = rng.randrange(5)
        choices[gold] = " ".join(rng.sample(ENGLISH, 2))
        question = " ".join(rng.sample(ENGLISH + GERMAN, 3))
        out.append(ChoiceExample("", question, tuple(choices), str(gold)))
    return out


def test_training_learns_a_separable_choice_task(
    kind: MultipleChoice, spec: ModelSpec, tokenizer: Any
) -> None:
    model = load_model(spec, kind.auto_class, **kind.model_kwargs())
    settings = EncodeSettings(max_length=24)
    train_features = kind.encode(_toy(64, 0), tokenizer, settings)
    dev_examples = _toy(40, 1)
    dev_features = kind.encode(dev_examples, tokenizer, settings)

    def dev_accuracy(batch_size: int) -> tuple[float, list[np.ndarray]]:
        outputs = predict_outputs(model, kind, dev_features, tokenizer.pad_token_id, batch_size)
        predictions = kind.decode(outputs, dev_features, dev_examples)
        return kind.score(predictions, dev_examples, "en")["accuracy"], outputs

    before, _ = dev_accuracy(16)
    outcome = train(
        model,
        kind,
        train_features,
        tokenizer.pad_token_id,
        TrainSettings(lr=3e-3, epochs=2, batch_size=8, warmup=0.0),
        log=lambda _: None,
    )
    assert outcome.steps == 16
    after, outputs = dev_accuracy(16)
    assert after >= 90.0 > before  # chance is 20%
    assert all(o.shape == (5,) for o in outputs)
    _, one_by_one = dev_accuracy(1)
    assert np.allclose(np.stack(outputs), np.stack(one_by_one), atol=1e-4)  # padding is masked


@pytest.mark.realdata
@pytest.mark.parametrize(("name", "origin"), [("commonsenseqa", "jsonl"), ("cosmosqa", "csv")])
def test_real_dev_files_encode_one_input_per_choice(
    shared_data: Path, tokenizer: Any, name: str, origin: str
) -> None:
    task = load_registry().intermediates[name]
    kind = task_kind(task)
    split = read_split(task, "dev", "en", shared_data / "intermediate")
    assert split.origin.startswith("local:") and split.origin.endswith(origin)
    examples = split.examples[:200]
    max_length = task.defaults["max_length"]
    features = kind.encode(examples, tokenizer, EncodeSettings(max_length, prefix="query: "))
    assert len(features) == len(examples) == 200
    for feature in features:
        assert len(feature["input_ids"]) == task.num_choices
        assert 0 < kind.length(feature) <= max_length
        assert 0 <= feature["labels"] < task.num_choices
    batch = kind.collate(features[:8], tokenizer.pad_token_id)
    assert batch["input_ids"].shape[:2] == (8, task.num_choices)
    assert batch["labels"].shape == (8,)
