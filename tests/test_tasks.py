"""Pair classification and tagging kinds, and the training/prediction engines, on the tiny model."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from harness.data.examples import PairExample, TaggedSentence
from harness.engine.batching import (
    CPU_TOKEN_BUDGET,
    balanced_tail,
    cpu_token_budget,
    length_sorted_batches,
    token_budget,
    training_batches,
)
from harness.engine.predict import predict_outputs
from harness.engine.train import TrainSettings, train
from harness.errors import ConfigError
from harness.models.encoder import load_model, load_tokenizer, model_width
from harness.registry import load_registry
from harness.specs import ModelSpec
from harness.tasks import task_kind
from harness.tasks.base import IGNORE_INDEX, EncodeSettings
from harness.tasks.tagging import _windows


@pytest.fixture(scope="module")
def spec(tiny_model: Path) -> ModelSpec:
    return ModelSpec(name="tiny", source="local", path=str(tiny_model))


def test_length_sorted_batches_cover_everything_once() -> None:
    lengths = [5, 1, 9, 3, 7, 2, 8]
    batches = length_sorted_batches(lengths, 3)
    assert sorted(i for b in batches for i in b) == list(range(7))
    assert [lengths[i] for i in batches[0]] == [9, 8, 7]


def test_token_budget_caps_padded_tokens_per_batch() -> None:
    lengths = [random.Random(i).randint(1, 60) for i in range(300)] + [250]
    for batch_cost in (None, 0, 32):
        batches = length_sorted_batches(lengths, 64, max_tokens=200, batch_cost=batch_cost)
        assert sorted(i for b in batches for i in b) == list(range(301))
        assert batches[0] == [300]  # longer than the budget: alone, and first
        for batch in batches:
            width = max(lengths[i] for i in batch)
            assert lengths[batch[0]] == width
            assert len(batch) <= 64
            assert len(batch) == 1 or len(batch) * width <= 200


def _cheapest_cost(
    lengths: list[int], batch_size: int, max_tokens: int | None, batch_cost: int | None
) -> tuple[int, int]:
    """(batches, padded tokens + batch_cost a batch) of the best cut, by trying every
    start for every end: batches first when there is no batch_cost."""
    ordered = sorted(lengths, reverse=True)
    per_batch = (1, 0) if batch_cost is None else (0, batch_cost)
    best = [(0, 0)] + [(len(lengths) + 1, 0)] * len(lengths)
    for end in range(1, len(ordered) + 1):
        for start in range(end):
            size, width = end - start, ordered[start]
            if size > batch_size or (size > 1 and max_tokens and size * width > max_tokens):
                continue
            batches, tokens = best[start]
            best[end] = min(
                best[end], (batches + per_batch[0], tokens + size * width + per_batch[1])
            )
    return best[-1]


def test_batches_are_the_cheapest_cut_of_the_sorted_inputs() -> None:
    rng = random.Random(0)
    for _ in range(300):
        lengths = [rng.randint(0, 40) for _ in range(rng.randint(1, 40))]
        batch_size, max_tokens = rng.randint(1, 10), rng.choice([None, 3, 50, 100])
        for batch_cost in (None, 0, 5, 40):
            batches = length_sorted_batches(lengths, batch_size, max_tokens, batch_cost)
            padded = sum(len(b) * lengths[b[0]] for b in batches)
            got = (
                (len(batches), padded)
                if batch_cost is None
                else (0, padded + batch_cost * len(batches))
            )
            assert got == _cheapest_cost(lengths, batch_size, max_tokens, batch_cost)


def test_cutting_pads_less_than_filling_each_batch_in_turn() -> None:
    # lengths sparse at the long end, as in Tatoeba; filled in turn, batches of 4 pad
    # to 120 + 48 + 30 = 198 tokens: [30, 22, 21, 20] [12, 11, 10, 10] [10, 10, 9]
    lengths = [30, 22, 21, 20, 12, 11, 10, 10, 10, 10, 9]
    fewest = length_sorted_batches(lengths, 4)
    assert [[lengths[i] for i in b] for b in fewest] == [
        [30, 22, 21, 20],
        [12, 11, 10],
        [10, 10, 10, 9],
    ]  # as few batches, 196 tokens
    cut = length_sorted_batches(lengths, 4, batch_cost=4)
    assert [[lengths[i] for i in b] for b in cut] == [
        [30],
        [22, 21, 20],
        [12, 11, 10],
        [10, 10, 10, 9],
    ]  # 172 tokens + 4 batches at 4 = 188, against 198 + 3 at 4 = 210


def test_the_last_batches_are_split_among_the_streams() -> None:
    batches = [list(range(k * 8, k * 8 + 8)) for k in range(5)] + [[40, 41, 42]]
    assert balanced_tail(batches, 1) == batches
    split = balanced_tail(batches, 2)
    assert [i for b in split for i in b] == list(range(43))  # same inputs, same order
    assert split[:4] == batches[:4]
    assert split[4:] == [[32, 33, 34, 35], [36, 37, 38, 39], [40], [41, 42]]
    parts = balanced_tail(batches, 4)  # a batch of 3 splits into 3 parts at most
    assert [len(b) for b in parts] == [8, 8, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1]
    assert balanced_tail([[0, 1, 2, 3]], 2) == [[0, 1], [2, 3]]  # one batch: both streams


def test_token_budget_defaults_by_device_and_width_and_refuses_negative_values() -> None:
    assert token_budget(0, "cpu", 384) == CPU_TOKEN_BUDGET
    assert token_budget(0, torch.device("cpu"), 384) == CPU_TOKEN_BUDGET
    assert token_budget(0, "cpu", None) == CPU_TOKEN_BUDGET  # width not known yet
    assert token_budget(0, "cpu", 768) == 256  # wider encoders: fewer tokens
    assert token_budget(0, "cuda:0", 768) is None  # the batch size alone bounds a GPU batch
    assert token_budget(4096, "cpu", 768) == 4096  # a setting is taken as it is
    with pytest.raises(ConfigError, match="eval_max_tokens"):
        token_budget(-1, "cpu", 384)


def test_the_cpu_cap_falls_with_the_square_of_the_width_within_its_bounds() -> None:
    caps = {width: cpu_token_budget(width) for width in (32, 384, 512, 640, 768, 1024, 4096)}
    assert caps == {32: 1024, 384: 1024, 512: 576, 640: 369, 768: 256, 1024: 256, 4096: 256}


def test_model_width_reads_the_config_and_is_none_without_one(
    spec: ModelSpec, tmp_path: Path
) -> None:
    assert model_width(spec) == 32
    missing = ModelSpec(name="later", source="local", path=str(tmp_path / "not-trained-yet"))
    assert model_width(missing) is None
    (tmp_path / "empty").mkdir()
    assert (
        model_width(ModelSpec(name="empty", source="local", path=str(tmp_path / "empty"))) is None
    )


def test_training_batches_are_a_shuffled_partition_grouped_by_length() -> None:
    lengths = [random.Random(i).randint(1, 100) for i in range(200)]
    batches = training_batches(lengths, 8, random.Random(0), pool=25)
    assert sorted(i for b in batches for i in b) == list(range(200))
    spread = np.mean([max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches])
    assert spread < 15  # random batches of 8 would spread about 75


def test_pair_classification_encodes_prefix_and_decodes_labels(spec: ModelSpec) -> None:
    task = load_registry().targets["xnli"]
    kind = task_kind(task)
    tokenizer = load_tokenizer(spec)
    examples = [
        PairExample("the cat", "der Hund", "neutral"),
        PairExample("a house", "une maison", None),
    ]
    features = kind.encode(examples, tokenizer, EncodeSettings(max_length=16, prefix="query: "))
    assert features[0]["labels"] == task.labels.index("neutral")
    assert "labels" not in features[1]
    assert tokenizer.decode(features[0]["input_ids"]).startswith("<s> query: the cat")
    logits = [np.array([0.0, 0.0, 5.0]), np.array([3.0, 0.0, 0.0])]
    assert kind.decode(logits, features, examples) == [task.labels[2], task.labels[0]]


def test_tag_windows_never_split_a_word() -> None:
    words = [0, 0, 1, 2, 2, 2, 3, 4]
    spans = _windows(words, 4)
    assert spans == [(0, 3), (3, 7), (7, 8)]
    assert _windows([0, 0, 0, 0, 0, 0], 4) == [(0, 4), (4, 6)]  # one overlong word: cut anyway
    assert _windows([], 4) == [(0, 0)]


def test_tagging_labels_first_subword_and_realigns_long_sentences(spec: ModelSpec) -> None:
    task = load_registry().targets["udpos"]
    kind = task_kind(task)
    tokenizer = load_tokenizer(spec)
    tokens = tuple(["the", "cat", "sat", "on", "the", "mat", "quickly", "猫狗坐在垫子上"]) * 3
    tags = tuple(task.labels[i % len(task.labels)] for i in range(len(tokens)))
    example = TaggedSentence(tokens, tags)
    features = kind.encode([example], tokenizer, EncodeSettings(max_length=12, prefix="query: "))
    assert len(features) > 1  # cut into several windows
    assert all(len(f["input_ids"]) <= 12 for f in features)
    labelled = [
        (w, lab)
        for f in features
        for w, lab in zip(f["word_index"], f["labels"], strict=True)
        if w is not None
    ]
    assert [w for w, _ in labelled] == list(range(len(tokens)))  # each word labelled exactly once
    assert [task.labels[lab] for _, lab in labelled] == list(tags)
    assert all(
        lab == IGNORE_INDEX
        for f in features
        for w, lab in zip(f["word_index"], f["labels"], strict=True)
        if w is None
    )
    # decoding: logits that put the gold tag first give the gold sequence back, token for token
    outputs = []
    for f in features:
        logits = np.zeros((len(f["input_ids"]), len(task.labels)))
        for position, lab in enumerate(f["labels"]):
            if lab != IGNORE_INDEX:
                logits[position, lab] = 1.0
        outputs.append(logits)
    (prediction,) = kind.decode(outputs, features, [example])
    assert prediction == list(tags)
    assert kind.score([prediction], [example], "en")["token_accuracy"] == 100.0


def test_ccg_like_tagging_learns_its_label_set_from_training_data() -> None:
    task = load_registry().intermediates["ccg"]
    kind = task_kind(
        task, [TaggedSentence(("a", "b"), ("NP/N", "N")), TaggedSentence(("c",), ("S\\NP",))]
    )
    assert kind.labels == ("N", "NP/N", "S\\NP")


def test_a_tag_unseen_in_training_adds_no_loss_and_scores_as_missed(spec: ModelSpec) -> None:
    """A dev or test supertag the training data lacked (a label set learnt from training)."""
    task = load_registry().intermediates["ccg"]
    kind = task_kind(task, [TaggedSentence(("a", "b"), ("NP/N", "N"))])
    example = TaggedSentence(("a", "b", "c"), ("NP/N", "N", "(S\\NP)/NP"))
    features = kind.encode([example], load_tokenizer(spec), EncodeSettings(max_length=32))
    labels = [
        lab
        for f in features
        for w, lab in zip(f["word_index"], f["labels"], strict=True)
        if w is not None
    ]
    assert labels == [kind.labels.index("NP/N"), kind.labels.index("N"), IGNORE_INDEX]
    scores = kind.score([["NP/N", "N", "N"]], [example], "en")
    assert scores["token_accuracy"] == pytest.approx(200 / 3)


def _separable(n: int, seed: int) -> list[PairExample]:
    rng = random.Random(seed)
    positive, negative = (
        ["the", "cat", "sat", "on", "the", "mat"],
        ["der", "Hund", "ist", "groß", "rot"],
    )
    out = []
    for _ in range(n):
        label = rng.choice(["0", "1"])
        words = positive if label == "1" else negative
        out.append(
            PairExample(" ".join(rng.sample(words, 3)), " ".join(rng.sample(words, 2)), label)
        )
    return out


def test_training_learns_a_separable_task_and_restores_the_best_weights(spec: ModelSpec) -> None:
    task = load_registry().targets["pawsx"]
    kind = task_kind(task)
    tokenizer = load_tokenizer(spec)
    model = load_model(spec, kind.auto_class, **kind.model_kwargs())
    settings = EncodeSettings(max_length=32)
    train_examples, dev_examples = _separable(64, 0), _separable(32, 1)
    train_features = kind.encode(train_examples, tokenizer, settings)
    dev_features = kind.encode(dev_examples, tokenizer, settings)

    def dev_accuracy(m: torch.nn.Module) -> float:
        outputs = predict_outputs(m, kind, dev_features, tokenizer.pad_token_id, 16)
        return kind.score(kind.decode(outputs, dev_features, dev_examples), dev_examples, "en")[
            "accuracy"
        ]

    before = dev_accuracy(model)
    outcome = train(
        model,
        kind,
        train_features,
        tokenizer.pad_token_id,
        TrainSettings(lr=3e-3, epochs=4, batch_size=8, warmup=0.0, eval_every=4),
        dev_accuracy,
        log=lambda _: None,
    )
    assert outcome.steps == 32
    assert outcome.best_score == max(h["dev"] for h in outcome.history)
    assert dev_accuracy(model) == outcome.best_score  # best weights restored
    assert outcome.best_score >= 90.0 > before or before >= 90.0


def test_frozen_embeddings_do_not_change(spec: ModelSpec) -> None:
    task = load_registry().targets["pawsx"]
    kind = task_kind(task)
    tokenizer = load_tokenizer(spec)
    model = load_model(spec, kind.auto_class, **kind.model_kwargs())
    embeddings = model.get_input_embeddings().weight.detach().clone()
    features = kind.encode(_separable(16, 2), tokenizer, EncodeSettings(max_length=32))
    train(
        model,
        kind,
        features,
        tokenizer.pad_token_id,
        TrainSettings(lr=1e-2, epochs=1, batch_size=8, freeze_embeddings=True),
        log=lambda _: None,
    )
    assert torch.equal(model.get_input_embeddings().weight.cpu(), embeddings)  # wherever it trained


def test_prediction_is_independent_of_batching(spec: ModelSpec) -> None:
    task = load_registry().targets["pawsx"]
    kind = task_kind(task)
    tokenizer = load_tokenizer(spec)
    model = load_model(spec, kind.auto_class, **kind.model_kwargs())
    features = kind.encode(_separable(20, 3), tokenizer, EncodeSettings(max_length=32))
    one = predict_outputs(model, kind, features, tokenizer.pad_token_id, 1)
    many = predict_outputs(model, kind, features, tokenizer.pad_token_id, 7)
    budget = predict_outputs(model, kind, features, tokenizer.pad_token_id, 64, max_tokens=40)
    streams = predict_outputs(model, kind, features, tokenizer.pad_token_id, 3, streams=2)
    assert np.allclose(np.stack(one), np.stack(many), atol=1e-5)
    assert np.allclose(np.stack(one), np.stack(budget), atol=1e-5)
    assert np.array_equal(np.stack(streams), np.stack(predict_outputs(
        model, kind, features, tokenizer.pad_token_id, 3
    )))  # fmt: skip
