"""Intermediate training on the tiny model: sampler, MLM mixing, hand-off, LoRA, train and run."""

from __future__ import annotations

import json
import math
import random
import re
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file
from transformers import set_seed

from harness.cli import main
from harness.data.examples import PairExample, TextExample
from harness.engine.train import Stream, TrainSettings, train, train_streams
from harness.errors import ConfigError
from harness.intermediates import stage
from harness.intermediates.pipeline import study_table
from harness.intermediates.sampler import SamplerSpec
from harness.intermediates.stage import (
    IntermediateOptions,
    load_task_model,
    share_encoder,
    train_intermediate,
)
from harness.models.adapters import AdapterSpec, apply_adapter, load_adapter
from harness.models.encoder import load_model, load_tokenizer
from harness.registry import load_registry
from harness.results import config_hash
from harness.specs import ModelSpec
from harness.tasks import task_kind
from harness.tasks.base import IGNORE_INDEX, EncodeSettings

EN = ["the", "cat", "dog", "sat", "on", "mat", "a", "house", "is", "big", "small", "red", "blue"]
DE = ["der", "Hund", "ist", "groß", "Katze", "Haus", "rot", "blau", "klein"]


def sentence(rng: random.Random, words: list[str]) -> str:
    return " ".join(rng.choice(words) for _ in range(rng.randint(3, 8)))


@pytest.fixture
def spec(tiny_model: Path) -> ModelSpec:
    return ModelSpec(name="tiny", source="local", path=str(tiny_model))


@pytest.fixture
def registry_file(tmp_path: Path) -> Path:
    path = tmp_path / "user.yaml"
    path.write_text("intermediates:\n  mlm:\n    languages: [en, de]\n", encoding="utf-8")
    return path


def test_sampler_probabilities() -> None:
    sizes = {"a": 100, "b": 400, "c": 10_000}
    assert SamplerSpec("uniform").probabilities(sizes) == pytest.approx(
        {"a": 1 / 3, "b": 1 / 3, "c": 1 / 3}
    )
    assert SamplerSpec("proportional").probabilities(sizes)["c"] == pytest.approx(10_000 / 10_500)
    capped = SamplerSpec("temperature", temperature=2.0, cap=400).probabilities(sizes)
    assert capped == pytest.approx({"a": 10 / 50, "b": 20 / 50, "c": 20 / 50})
    with pytest.raises(Exception, match="sampler 'nope'"):
        SamplerSpec("nope")
    # a temperature or cap the chosen sampler would ignore is an error, not a no-op
    with pytest.raises(ConfigError, match="shape only the temperature sampler, not proportional"):
        SamplerSpec("proportional", cap=400)
    with pytest.raises(ConfigError, match="not uniform"):
        SamplerSpec("uniform", temperature=2.0)
    with pytest.raises(ConfigError, match="must be positive, got inf"):
        SamplerSpec("temperature", temperature=math.inf)


def _pairs(n: int, seed: int) -> list[PairExample]:
    rng = random.Random(seed)
    return [
        PairExample(sentence(rng, EN), sentence(rng, DE), rng.choice(["0", "1"])) for _ in range(n)
    ]


def test_observed_task_frequencies_follow_the_sampler(spec: ModelSpec) -> None:
    registry = load_registry()
    tokenizer = load_tokenizer(spec)
    task = registry.targets["pawsx"]
    streams, encoder = [], None
    for name in ("a", "b", "c"):
        kind = task_kind(task)
        model = load_model(spec, kind.auto_class, **kind.model_kwargs())
        if encoder is None:
            encoder = model.base_model
        setattr(model, model.base_model_prefix, encoder)
        features = kind.encode(_pairs(16, 0), tokenizer, EncodeSettings(max_length=32))
        streams.append(Stream(name, model, kind, features, tokenizer.pad_token_id))
    weights = {"a": 0.6, "b": 0.3, "c": 0.1}
    settings = TrainSettings(lr=1e-4, epochs=25, batch_size=4, seed=3)  # 300 steps
    outcome = train_streams(streams, settings, weights, None, log=lambda _: None)
    total = sum(outcome.task_steps.values())
    assert total == outcome.steps == 300
    for name, p in weights.items():
        # within four standard deviations of a binomial draw
        assert abs(outcome.task_steps[name] / total - p) < 4 * (p * (1 - p) / total) ** 0.5, (
            name,
            outcome.task_steps,
        )
    # one encoder: the three task models hold the very same parameters
    assert streams[0].model.base_model is streams[2].model.base_model


def test_mlm_masks_like_bert(spec: ModelSpec) -> None:
    task = load_registry().intermediates["mlm"]
    kind = task_kind(task)
    tokenizer = load_tokenizer(spec)
    rng = random.Random(0)
    examples = [TextExample(sentence(rng, EN + DE)) for _ in range(300)]
    features = kind.encode(examples, tokenizer, EncodeSettings(max_length=32))
    batch = kind.collate(features, tokenizer.pad_token_id)
    real = sum(len(f["input_ids"]) - 2 for f in features)
    labels = batch["labels"]
    chosen = labels != IGNORE_INDEX
    assert abs(chosen.sum().item() / real - 0.15) < 0.03
    masked = (batch["input_ids"] == tokenizer.mask_token_id) & chosen
    assert abs(masked.sum().item() / chosen.sum().item() - 0.8) < 0.08
    assert not chosen[:, 0].any()  # <s> is never chosen
    kind.prepare_eval(features)
    again = kind.collate(features, tokenizer.pad_token_id)
    assert torch.equal(again["labels"], kind.collate(features, tokenizer.pad_token_id)["labels"])


def test_mlm_training_masks_follow_the_seed_and_leave_dev_masks_alone(spec: ModelSpec) -> None:
    task = load_registry().intermediates["mlm"]
    tokenizer = load_tokenizer(spec)
    rng = random.Random(0)
    examples = [TextExample(sentence(rng, EN + DE)) for _ in range(40)]

    def training_labels(seed: int) -> torch.Tensor:
        set_seed(seed)  # as intermediate training does before it makes the task kinds
        kind = task_kind(task)
        features = kind.encode(examples, tokenizer, EncodeSettings(max_length=32))
        return kind.collate(features, tokenizer.pad_token_id)["labels"]

    assert torch.equal(training_labels(1), training_labels(1))
    assert not torch.equal(training_labels(1), training_labels(2))
    # a batch with nothing masked predicts its first real token, in a copy of the labels
    kind = task_kind(task)
    features = kind.encode(examples[:1], tokenizer, EncodeSettings(max_length=32))
    ids = list(features[0]["input_ids"])
    features[0]["fixed"] = (ids, [IGNORE_INDEX] * len(ids))
    kind.collate(features, tokenizer.pad_token_id)
    assert features[0]["fixed"][1] == [IGNORE_INDEX] * len(ids)


def test_task_models_share_an_encoder_with_a_pooler_and_a_tied_mlm_head(spec: ModelSpec) -> None:
    # XLM-R's sequence classification builds its encoder without a pooler, which multiple
    # choice reads: first in the list, its encoder failed every later multiple-choice step
    pair = load_model(spec, "AutoModelForSequenceClassification", num_labels=3)
    choice = load_model(spec, "AutoModelForMultipleChoice")
    masked = load_model(spec, "AutoModelForMaskedLM")
    assert pair.base_model.pooler is None
    encoder = share_encoder([pair, choice, masked])
    assert encoder.pooler is not None
    assert all(m.base_model is encoder for m in (pair, choice, masked))
    assert masked.lm_head.decoder.weight is encoder.get_input_embeddings().weight
    ids = torch.randint(5, 20, (2, 3, 6))
    assert choice(input_ids=ids, attention_mask=torch.ones_like(ids)).logits.shape == (2, 3)


def test_multitask_with_mlm_hands_the_encoder_on(spec: ModelSpec, intermediate_dir: Path, registry_file: Path,
                                                 tmp_path: Path) -> None:  # fmt: skip
    registry = load_registry([registry_file])
    checkpoint = tmp_path / "ckpt"
    options = IntermediateOptions(
        model=spec, tasks=[registry.intermediates["commonsenseqa"], registry.intermediates["mlm"]],
        output=checkpoint, data_dir=intermediate_dir, overrides={"epochs": 2, "batch_size": 8, "lr": 1e-3},
        sampler=SamplerSpec("uniform"),
    )  # fmt: skip
    summary = train_intermediate(options, log=lambda _: None)
    tasks = summary["tasks"]
    assert set(tasks) == {"commonsenseqa", "mlm"}
    assert tasks["commonsenseqa"]["steps"] > 0 and tasks["mlm"]["steps"] > 0  # MLM mixed in
    assert tasks["mlm"]["data"]["train"]["lang"] == "en,de"  # every language's text
    assert tasks["mlm"]["data"]["dev"]["held_out_from_train"] is True
    assert "accuracy" in tasks["commonsenseqa"]["dev"] and "accuracy" in tasks["mlm"]["dev"]
    assert summary["tasks"]["mlm"]["sampling_probability"] == pytest.approx(0.5)
    # a rerun with the same settings reuses the checkpoint
    logs: list[str] = []
    train_intermediate(options, log=logs.append)
    assert any("reused" in line for line in logs)

    # hand-off: a target model's encoder equals the checkpoint's; its head is fresh
    encoder = load_model(ModelSpec("ckpt", "local", str(checkpoint)), "AutoModel")
    target = load_model(
        ModelSpec("ckpt", "local", str(checkpoint)),
        "AutoModelForSequenceClassification",
        num_labels=2,
    )
    original = load_model(spec, "AutoModel")
    saved = encoder.state_dict()
    for name, value in target.base_model.state_dict().items():
        assert torch.equal(value, saved[name]), name
    assert not torch.equal(saved["encoder.layer.0.attention.self.query.weight"],
                           original.state_dict()["encoder.layer.0.attention.self.query.weight"])  # fmt: skip
    head = load_file(str(checkpoint / "heads" / "commonsenseqa" / "head.safetensors"))
    assert head and all(not k.startswith(target.base_model_prefix) for k in head)
    mlm_head = load_file(str(checkpoint / "heads" / "mlm" / "head.safetensors"))
    embeddings = saved["embeddings.word_embeddings.weight"]
    assert torch.equal(mlm_head["lm_head.decoder.weight"], embeddings)  # tied as it trained

    # the intermediate model still answers its own task, with its trained head
    mc = load_task_model(checkpoint, "commonsenseqa")
    kind = task_kind(registry.intermediates["commonsenseqa"])
    for name, value in head.items():
        assert torch.equal(mc.state_dict()[name], value)
    with pytest.raises(Exception, match="no head for task 'qqp'"):
        load_task_model(checkpoint, "qqp")
    assert kind.labels == ("0", "1", "2", "3", "4")


@pytest.mark.parametrize(
    "change", ["base model changed in place", "other epochs", "other process count"]
)
def test_a_checkpoint_trained_with_other_settings_is_never_silently_replaced(
    tiny_model: Path,
    intermediate_dir: Path,
    tmp_path: Path,
    change: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base = tmp_path / "base"
    shutil.copytree(tiny_model, base)
    options = IntermediateOptions(
        model=ModelSpec(name="base", source="local", path=str(base)),
        tasks=[load_registry().intermediates["commonsenseqa"]], output=tmp_path / "ckpt",
        data_dir=intermediate_dir, train_limit=16, limit=8, overrides={"epochs": 1, "batch_size": 8},
    )  # fmt: skip
    train_intermediate(options, log=lambda _: None)
    logs: list[str] = []
    # the same data folder spelt relatively is the same setting
    monkeypatch.chdir(intermediate_dir.parent)
    train_intermediate(replace(options, data_dir=Path(intermediate_dir.name)), log=logs.append)
    assert any("reused" in line for line in logs)
    if change == "other epochs":
        options = replace(options, overrides={"epochs": 2, "batch_size": 8})
        expected = "hyperparameters.epochs 1.0 -> 2.0"
    elif change == "other process count":  # each process draws its own dropout
        monkeypatch.setattr(stage, "process_count", lambda: 2)
        expected = "processes 1 -> 2"
    else:
        config = base / "config.json"
        config.write_text(config.read_text(encoding="utf-8") + "\n", encoding="utf-8")
        expected = "model_identity.files"
    with pytest.raises(ConfigError, match=f"other settings \\(changed: {expected}\\); choose"):
        train_intermediate(options, log=lambda _: None)
    logs.clear()
    summary = train_intermediate(replace(options, overwrite=True), log=logs.append)
    assert any("replacing the checkpoint" in line for line in logs)
    assert summary["config_hash"] == config_hash(options.settings())


def test_no_adapter_or_head_outlives_a_training_stopped_before_its_summary(
    spec: ModelSpec, intermediate_dir: Path, tmp_path: Path
) -> None:
    """A LoRA training of two tasks stopped after saving but before its summary: the next
    training (one task, full fine-tuning) leaves no adapter nor the other task's head."""
    options = IntermediateOptions(
        model=spec, tasks=[load_registry().intermediates["commonsenseqa"]], output=tmp_path / "ckpt",
        data_dir=intermediate_dir, train_limit=16, limit=8, overrides={"epochs": 1, "batch_size": 8},
    )  # fmt: skip
    for stale in ("adapter", "heads/mlm"):
        (options.output / stale).mkdir(parents=True)
        (options.output / stale / "left.safetensors").write_bytes(b"from the stopped training")
    train_intermediate(options, log=lambda _: None)
    assert not (options.output / "adapter").exists()
    assert [p.name for p in (options.output / "heads").iterdir()] == ["commonsenseqa"]


def test_an_intermediate_checkpoint_is_named_by_its_absolute_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``harness run --output st`` and ``--output $PWD/st`` make the same target settings."""
    from harness.intermediates.pipeline import checkpoint_model

    monkeypatch.chdir(tmp_path)
    base = ModelSpec(name="e5-small", source="e5_small", input_prefix="query: ")
    relative = checkpoint_model(base, Path("st") / "intermediate-seed1")
    absolute = checkpoint_model(base, tmp_path / "st" / "intermediate-seed1")
    assert relative == absolute and relative.path == str(tmp_path / "st" / "intermediate-seed1")
    assert relative.input_prefix == "query: "


def test_lora_changes_only_adapter_and_head_weights(spec: ModelSpec) -> None:
    task = load_registry().targets["pawsx"]
    kind = task_kind(task)
    tokenizer = load_tokenizer(spec)
    model = load_model(spec, kind.auto_class, **kind.model_kwargs())
    apply_adapter(
        model, AdapterSpec("lora", {"r": 4, "lora_alpha": 8, "target_modules": ["query", "value"]})
    )
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    features = kind.encode(_pairs(32, 1), tokenizer, EncodeSettings(max_length=32))
    train(model, kind, features, tokenizer.pad_token_id, TrainSettings(lr=1e-2, epochs=2, batch_size=8, warmup=0),
          log=lambda _: None)  # fmt: skip
    # training may have moved the model to an accelerator
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v.cpu(), before[k])}
    assert changed, "nothing trained"
    assert all("lora_" in k or k.startswith("classifier") for k in changed), sorted(changed)
    assert any("lora_B" in k for k in changed) and any(k.startswith("classifier") for k in changed)


@pytest.mark.parametrize(
    ("epochs", "grad_accum", "steps", "batches", "evaluated"),
    [
        (1, 8, 1, 4, [1]),  # one step takes the whole epoch, not two epochs' worth
        (1, 3, 2, 4, [2]),  # 3 batches, then the epoch's last one
        (3, 3, 6, 12, [2, 4, 6]),  # each epoch's end is a dev evaluation
        (1.5, 3, 3, 7, [2, 3]),  # half an epoch: ceil(1.5 x 2) steps
    ],
)
def test_accumulation_stops_at_each_epochs_end(
    spec: ModelSpec, epochs: float, grad_accum: int, steps: int, batches: int,
    evaluated: list[int],
) -> None:  # fmt: skip
    """16 examples in batches of 4: `epochs` passes over them, however many batches a step
    accumulates (the last step of an epoch takes what is left of it, as HF's Trainer)."""
    kind = task_kind(load_registry().targets["pawsx"])
    tokenizer = load_tokenizer(spec)
    model = load_model(spec, kind.auto_class, **kind.model_kwargs())
    forwards = []
    model.register_forward_hook(lambda *_: forwards.append(1))
    features = kind.encode(_pairs(16, 1), tokenizer, EncodeSettings(max_length=32))
    settings = TrainSettings(lr=1e-3, epochs=epochs, batch_size=4, grad_accum=grad_accum)
    outcome = train(model, kind, features, tokenizer.pad_token_id, settings,
                    evaluate=lambda m: 0.0, log=lambda _: None)  # fmt: skip
    assert outcome.steps == steps and len(forwards) == batches
    assert [h["step"] for h in outcome.history] == evaluated


def test_a_batch_with_nothing_to_learn_leaves_no_nan_in_the_history(spec: ModelSpec) -> None:
    """A tagging window of continuation sub-words only (every label ignored) has a NaN
    loss: it teaches nothing, and the logged loss (written to results.json) stays finite."""
    from harness.data.examples import TaggedSentence

    kind = task_kind(load_registry().targets["panx"])
    tokenizer = load_tokenizer(spec)
    model = load_model(spec, kind.auto_class, **kind.model_kwargs())
    sentences = [TaggedSentence(("der", "Hund"), ("B-PER", "O"))] * 2
    features = kind.encode(sentences, tokenizer, EncodeSettings(max_length=32))
    features[1]["labels"] = [IGNORE_INDEX] * len(features[1]["labels"])
    settings = TrainSettings(lr=1e-3, epochs=2, batch_size=1)
    outcome = train(model, kind, features, tokenizer.pad_token_id, settings,
                    evaluate=lambda m: 0.0, log=lambda _: None)  # fmt: skip
    json.dumps(outcome.history, allow_nan=False)
    assert all(torch.isfinite(p).all() for p in model.parameters())


@pytest.mark.parametrize(
    ("adapter", "message"),
    [
        (AdapterSpec("lora", {"r": "x"}), "adapter lora: option r='x' must be int"),
        (AdapterSpec("lora", {"use_dora": "yes"}), "option use_dora='yes' must be bool"),
        (AdapterSpec("lora", {"rank": 4}), "unexpected keyword argument 'rank'"),
        (AdapterSpec("prefix_tuning"), "not a peft method that injects into layers"),
        (AdapterSpec("full", {"r": 4}), "adapter options given, but the adapter is full"),
        (AdapterSpec("lily"), "adapter lily: peft cannot merge it into the encoder's weights"),
        (AdapterSpec("adalora"), "adapter adalora: its rank budget is reallocated"),
        (AdapterSpec("lora", {"r": 0}), "adapter lora (options: r=0) cannot apply"),
        (AdapterSpec("trainable_tokens"), "option token_indices must name what it trains"),
    ],
)
def test_bad_adapter_options_are_named(spec: ModelSpec, adapter: AdapterSpec, message: str) -> None:
    model = load_model(spec, "AutoModel")
    with pytest.raises(ConfigError, match=re.escape(message)):
        apply_adapter(model, adapter)


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def test_adapter_methods_are_named_in_any_case(spec: ModelSpec) -> None:
    from harness.cli import _adapter

    assert _adapter("Full", (), spec) == AdapterSpec()
    assert _adapter("LoRA", ("r=4",), spec) == AdapterSpec("lora", {"r": 4})


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--adapter-option", "r=0"], "adapter lora (options: r=0) cannot apply"),
        (["--adapter-option", "lora_dropout=2"], "(options: lora_dropout=2) cannot apply"),
        (["--adapter-option", "target_modules=[nowhere]"], "cannot apply to this model"),
    ],
)
def test_adapter_values_peft_checks_late_stop_the_command_before_anything_runs(
    tiny_model: Path, xtreme_dir: Path, tmp_path: Path, options: list[str], message: str
) -> None:
    """peft checks these only as it builds the adapter: on a model without weights they
    fail before the first target, not after tatoeba (no training) has run and been written."""
    code, output = run("eval", "--model", str(tiny_model), "--targets", "tatoeba,pawsx",
                       "--languages", "de", "--data-dir", str(xtreme_dir), "--output",
                       str(tmp_path / "run"), "--adapter", "lora", *options)  # fmt: skip
    assert code == 2 and message in " ".join(output.split())
    assert not (tmp_path / "run").exists()


def test_train_command_with_lora_reports_trainable_parameters(
    tiny_model: Path, intermediate_dir: Path, xtreme_dir: Path, tmp_path: Path
) -> None:
    code, output = run("train", "--model", str(tiny_model), "--intermediate", "commonsenseqa",
                       "--intermediate-dir", str(intermediate_dir), "--output", str(tmp_path / "ckpt"),
                       "--epochs", "1", "--adapter", "lora", "--adapter-option", "r=4",
                       "--adapter-option", "target_modules=[query,value]")  # fmt: skip
    assert code == 0, output
    assert "trainable parameters" in output and "commonsenseqa" in output
    summary = json.loads((tmp_path / "ckpt" / "intermediate.json").read_text())
    assert summary["parameters"]["trainable"] < summary["parameters"]["total"] / 2
    assert (tmp_path / "ckpt" / "adapter" / "adapter_config.json").is_file()
    assert (tmp_path / "ckpt" / "config.json").is_file()  # the merged encoder, for eval --model
    # the saved adapter, applied to the base model again, gives that merged encoder
    merged = load_model(ModelSpec("ckpt", "local", path=str(tmp_path / "ckpt")), "AutoModel")
    base = load_model(ModelSpec("tiny", "local", path=str(tiny_model)), "AutoModel")
    untouched = {k: v.clone() for k, v in base.state_dict().items()}
    load_adapter(base, tmp_path / "ckpt" / "adapter")
    rebuilt = base.state_dict()
    assert rebuilt.keys() == merged.state_dict().keys()
    for name, value in merged.state_dict().items():
        assert torch.allclose(rebuilt[name], value, atol=1e-6), name
    assert any(not torch.equal(rebuilt[k], untouched[k]) for k in rebuilt if "query" in k)
    # without the adapter it would be another checkpoint: only --overwrite replaces this one
    again = ["train", "--model", str(tiny_model), "--intermediate", "commonsenseqa",
             "--intermediate-dir", str(intermediate_dir), "--output", str(tmp_path / "ckpt"), "--epochs", "1"]  # fmt: skip
    code, output = run(*again)
    assert code == 2 and "changed: adapter" in output
    assert run(*again, "--overwrite")[0] == 0
    replaced = json.loads((tmp_path / "ckpt" / "intermediate.json").read_text())
    assert replaced["settings"]["adapter"] != summary["settings"]["adapter"]
    assert not (tmp_path / "ckpt" / "adapter").exists()  # nothing of the old one is left
    # a result from the checkpoint records how it was trained
    code, output = run("eval", "--model", str(tmp_path / "ckpt"), "--targets", "tatoeba",
                       "--data-dir", str(xtreme_dir), "--output", str(tmp_path / "eval"))  # fmt: skip
    assert code == 0, output
    recorded = json.loads((tmp_path / "eval" / "results.json").read_text())["config"]["options"][
        "model"
    ]
    assert recorded["trained_from"]["config_hash"] == replaced["config_hash"]
    assert recorded["trained_from"]["settings"]["tasks"] == ["commonsenseqa"]


def test_train_and_eval_each_need_an_output_folder_of_their_own(
    tiny_model: Path, intermediate_dir: Path, xtreme_dir: Path, tmp_path: Path
) -> None:
    weights = (tiny_model / "model.safetensors").read_bytes()
    train = ["train", "--model", str(tiny_model), "--intermediate", "commonsenseqa",
             "--intermediate-dir", str(intermediate_dir), "--epochs", "1"]  # fmt: skip
    code, output = run(*train, "--output", str(tiny_model))
    assert code == 2 and "is the folder the model is read from" in output
    assert (tiny_model / "model.safetensors").read_bytes() == weights
    evaluation = ["eval", "--model", str(tiny_model), "--targets", "tatoeba", "--languages", "de",
                  "--data-dir", str(xtreme_dir)]  # fmt: skip
    assert run(*evaluation, "--output", str(tmp_path / "run"))[0] == 0
    code, output = run(*train, "--output", str(tmp_path / "run"))
    assert code == 2 and "holds an eval run (results.json)" in output
    code, output = run(*evaluation, "--output", str(tiny_model))
    assert code == 2 and "is the folder the model is read from" in output
    assert not (tiny_model / "results.json").exists()
    other = shutil.copytree(tiny_model, tmp_path / "another-checkpoint")
    code, output = run(*evaluation, "--output", str(other))
    assert code == 2 and "holds a model checkpoint (config.json)" in output


def test_missing_licensed_ccg_data_says_where_to_put_it(
    tiny_model: Path, intermediate_dir: Path, tmp_path: Path
) -> None:
    code, output = run("train", "--model", str(tiny_model), "--intermediate", "ccg",
                       "--intermediate-dir", str(intermediate_dir), "--output", str(tmp_path / "ckpt"))  # fmt: skip
    assert code == 2
    assert str(intermediate_dir / "ccg" / "ccg.train.tsv") in output.replace("\n", "")


def test_run_compares_with_the_baseline_over_seeds(
    tiny_model: Path, intermediate_dir: Path, xtreme_dir: Path, tmp_path: Path
) -> None:
    data = xtreme_dir
    out = tmp_path / "study"
    code, output = run("run", "--model", str(tiny_model), "--intermediate", "commonsenseqa",
                       "--intermediate-dir", str(intermediate_dir), "--targets", "pawsx,tatoeba",
                       "--languages", "en,de", "--data-dir", str(data), "--epochs", "1",
                       "--baseline", "--seeds", "1,2", "--output", str(out))  # fmt: skip
    assert code == 0, output
    study = json.loads((out / "study.json").read_text())
    assert study["seeds"] == [1, 2]
    for arm in ("baseline", "intermediate"):
        assert len(study["arms"][arm]["pawsx"]["values"]) == 2
    assert "difference" in output and "pawsx" in output
    assert (out / "intermediate-seed2" / "config.json").is_file()
    assert (out / "baseline-seed1" / "results.json").is_file()
    code, output = run("run", "--model", str(tiny_model), "--intermediate", "commonsenseqa",
                       "--targets", "pawsx", "--seeds", "1,1", "--output", str(tmp_path / "twice"))  # fmt: skip
    assert code == 2 and "--seeds 1,1: a seed given twice" in output
    code, output = run("run", "--model", str(tiny_model), "--intermediate", "commonsenseqa",
                       "--targets", "pawsx", "--seeds=-1,2", "--output", str(tmp_path / "negative"))  # fmt: skip
    assert code == 2 and "--seeds -1,2: each seed must be in 0..4294967295" in output


def test_the_study_table_claims_a_comparison_only_with_a_baseline() -> None:
    score = {"pawsx": {"mean": 60.0, "std": 1.0, "values": [59.0, 61.0]}}
    study = {"model": "m", "intermediates": ["cosmosqa"], "seeds": [1, 2], "targets": ["pawsx"]}
    alone = study_table(study | {"arms": {"intermediate": score}})
    assert alone.title == "m: cosmosqa (seeds 1, 2)" and len(alone.columns) == 2
    both = study_table(study | {"arms": {"baseline": score, "intermediate": score}})
    assert both.title == "m: cosmosqa vs no intermediate step (seeds 1, 2)"
    assert [c.header for c in both.columns] == ["task", "baseline", "intermediate", "difference"]


@pytest.mark.realdata
@pytest.mark.parametrize("task", ["commonsenseqa", "cosmosqa", "anli_plus"])
def test_real_offline_intermediate_data_trains_end_to_end(spec: ModelSpec, shared_data: Path, task: str,
                                                          tmp_path: Path) -> None:  # fmt: skip
    options = IntermediateOptions(
        model=spec, tasks=[load_registry().intermediates[task]], output=tmp_path / "ckpt",
        data_dir=shared_data / "intermediate", train_limit=40, limit=20, overrides={"epochs": 1, "batch_size": 8, "max_length": 128},
    )  # fmt: skip
    logs: list[str] = []
    summary = train_intermediate(options, log=logs.append)
    block = summary["tasks"][task]
    assert block["steps"] == 5 and "accuracy" in block["dev"]
    assert block["data"]["train"]["examples"] == 40
    assert block["data"]["train"]["fingerprint"]  # read from the local files
