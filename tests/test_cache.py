"""The on-disk caches: a second identical eval reuses embeddings and predictions, and
any change to what a result depends on misses the cache instead of serving it stale."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import harness.models.embed as embed
import harness.targets.finetune as finetune
from harness.cache import ContentCache, model_identity
from harness.engine import batching
from harness.engine.batching import token_budget
from harness.engine.distributed import process_device
from harness.errors import ConfigError
from harness.models.encoder import load_model
from harness.models.finetuned import FinetuneCache
from harness.registry import load_registry
from harness.results import append_log
from harness.specs import ModelSpec
from harness.tasks import task_kind
from harness.tasks.pair_classification import PairClassification
from tests.test_cli import run


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("HARNESS_CACHE", str(root))
    return root


def _entries(root: Path, namespace: str) -> set[str]:
    folder = root / namespace
    return (
        {p.name for p in folder.iterdir() if not p.name.startswith(".")}
        if folder.is_dir()
        else set()
    )


def _results(out: Path, task: str) -> dict:
    return json.loads((out / "results.json").read_text())["results"][task]["languages"]


def _forbid(monkeypatch: pytest.MonkeyPatch, module: object, name: str) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"{name} ran although its result was cached")

    monkeypatch.setattr(module, name, fail)


def _eval(target: str, model: Path, data: Path, out: Path, *extra: str) -> None:
    code, output = run("eval", "--model", str(model), "--targets", target, "--data-dir", str(data),
                       "--output", str(out), *extra)  # fmt: skip
    assert code == 0, output


def _tatoeba(model: Path, data: Path, out: Path, *extra: str) -> None:
    _eval("tatoeba", model, data, out, *extra)


def test_embeddings_are_reused_until_an_input_changes(
    tiny_model: Path, xtreme_dir: Path, tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batching, "CPU_BUDGET_WIDTH", 16)  # as in the predictions test
    _tatoeba(tiny_model, xtreme_dir, tmp_path / "first")
    first = _entries(cache, "embeddings")
    assert len(first) == 2  # one vector file per language
    recorded = json.loads((tmp_path / "first" / "results.json").read_text())["results"]
    cap = recorded["tatoeba"]["embedding"]["max_tokens"]  # in force; the setting is 0
    assert cap == token_budget(0, process_device(), 32)  # keys the vectors, with the rest

    with monkeypatch.context() as patched:
        _forbid(patched, embed, "embed_sentences")
        _forbid(patched, embed, "load_model")
        _tatoeba(tiny_model, xtreme_dir, tmp_path / "second")
    assert _results(tmp_path / "second", "tatoeba") == _results(tmp_path / "first", "tatoeba")
    assert _entries(cache, "embeddings") == first

    # another layer, other sentences, other weights: each a new entry, never the old one
    _tatoeba(tiny_model, xtreme_dir, tmp_path / "layer", "--layer", "1")
    after_layer = _entries(cache, "embeddings")
    assert len(after_layer - first) == 2
    german = xtreme_dir / "tatoeba" / "tatoeba.deu-eng.deu"
    german.write_text(german.read_text().replace("der", "die"))
    _tatoeba(tiny_model, xtreme_dir, tmp_path / "data", "--layer", "1")
    after_data = _entries(cache, "embeddings")
    assert len(after_data - after_layer) == 1  # only German changed
    weights = tiny_model / "model.safetensors"
    stat = weights.stat()
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    _tatoeba(tiny_model, xtreme_dir, tmp_path / "weights", "--layer", "1")
    assert len(_entries(cache, "embeddings") - after_data) == 2


def _pawsx(model: Path, data: Path, out: Path, *extra: str) -> None:
    _eval("pawsx", model, data, out, "--eval-split", "dev", "--train-limit", "40", "--limit", "20",
          "--epochs", "1", "--batch-size", "8", *extra)  # fmt: skip


@pytest.mark.parametrize("target", ["pawsx", "tatoeba"])
def test_what_a_result_is_done_with_does_not_depend_on_the_device(
    tiny_model: Path, xtreme_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    target: str,
) -> None:  # fmt: skip
    """A Ray sweep's driver (a CPU head node) decides what its GPU workers finished: the
    token cap each device resolves the default to is recorded, but no setting."""
    import torch

    import harness.targets.retrieval as retrieval
    from harness.results import config_hash
    from harness.targets.options import EvalOptions
    from harness.targets.runner import stage_for

    task = load_registry().target(target)
    model = ModelSpec(name="tiny", source="local", path=str(tiny_model))
    options = EvalOptions(model=model, output=tmp_path / "run", data_dir=xtreme_dir)
    here = stage_for(task, options, lambda _: None)
    for module in (finetune, retrieval):
        monkeypatch.setattr(module, "process_device", lambda: torch.device("cuda", 0))
    there = stage_for(task, options, lambda _: None)
    caps = {stage.token_cap if target == "pawsx" else stage.embed.max_tokens
            for stage in (here, there)}  # fmt: skip
    assert len(caps) == 2  # the devices resolve the default cap differently ...
    assert config_hash(here.settings()) == config_hash(there.settings())  # ... to one result
    changed = replace(options, overrides={"eval_max_tokens": 512})
    assert config_hash(stage_for(task, changed, lambda _: None).settings()) != config_hash(
        here.settings()
    )  # a cap the user sets is a setting


def test_predictions_are_reused_only_for_the_same_model_and_data(
    tiny_model: Path, xtreme_dir: Path, tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the tiny model (32 wide) twice as wide as the CPU cap's reference: a quarter of it
    monkeypatch.setattr(batching, "CPU_BUDGET_WIDTH", 16)
    _pawsx(tiny_model, xtreme_dir, tmp_path / "first")
    second = _entries(cache, "predictions")
    assert len(second) == 2  # the fine-tuned (and cached) model's, one file per language
    recorded = json.loads((tmp_path / "first" / "results.json").read_text())["results"]["pawsx"]
    assert recorded["settings"]["hyperparameters"]["eval_max_tokens"] == 0  # the device's cap
    assert recorded["eval_token_cap"] == token_budget(0, process_device(), 32)
    if process_device().type == "cpu":  # the cap for the model's width, read from its config
        assert recorded["eval_token_cap"] == batching.CPU_TOKEN_BUDGET // 4

    with monkeypatch.context() as patched:
        _forbid(patched, finetune, "predict_outputs")
        _forbid(patched, finetune, "load_model")
        _forbid(patched, finetune, "load_tokenizer")
        _pawsx(tiny_model, xtreme_dir, tmp_path / "third")
    assert _results(tmp_path / "third", "pawsx") == _results(tmp_path / "first", "pawsx")
    predictions = "predictions/pawsx/dev-de.jsonl"
    assert (tmp_path / "third" / predictions).read_text() == (
        tmp_path / "first" / predictions
    ).read_text()

    # German dev changes: German is predicted again (English, held out of training, is not)
    german = xtreme_dir / "pawsx" / "dev-de.tsv"
    german.write_text(german.read_text().replace("Katze", "Hund"))
    _pawsx(tiny_model, xtreme_dir, tmp_path / "changed")
    assert len(_entries(cache, "predictions") - second) == 1
    # another precision, another prediction (and another model: training depends on it)
    _pawsx(tiny_model, xtreme_dir, tmp_path / "bf16", "--precision", "bf16")
    assert len(_entries(cache, "predictions") - second) == 3


def test_decoding_settings_key_the_fine_tuned_model_and_its_predictions(
    tiny_model: Path, xtreme_dir: Path, tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # QA's max_answer_length decides its answers and which dev state is kept
    qa = task_kind(replace(load_registry().target("xquad"), defaults={"max_answer_length": 5}))
    assert qa.decoding() == {"max_answer_length": 5}
    monkeypatch.setattr(PairClassification, "decoding", lambda self: {"setting": 1})
    _pawsx(tiny_model, xtreme_dir, tmp_path / "first")
    models = _entries(cache, "finetuned")
    monkeypatch.setattr(PairClassification, "decoding", lambda self: {"setting": 2})
    _pawsx(tiny_model, xtreme_dir, tmp_path / "second")
    assert len(_entries(cache, "finetuned") - models) == 1  # trained again, not reused


def test_no_cache_reads_and_writes_nothing(
    tiny_model: Path, xtreme_dir: Path, tmp_path: Path, cache: Path
) -> None:
    _tatoeba(tiny_model, xtreme_dir, tmp_path / "off", "--no-cache")
    assert not (cache / "embeddings").exists()


def test_content_cache_writes_whole_entries(tmp_path: Path) -> None:
    store = ContentCache("vectors", tmp_path)
    key = store.key({"a": 1})
    assert store.load_array(key) is None and store.key({"a": 2}) != key
    store.save_array(key, np.arange(6, dtype=np.float32).reshape(2, 3))
    assert store.load_array(key).tolist() == [[0, 1, 2], [3, 4, 5]]
    assert [p.name for p in (tmp_path / "vectors").iterdir()] == [f"{key}.npy"]
    off = ContentCache("vectors", None)
    off.save_json(key, [1])
    assert off.load_json(key) is None


def test_a_damaged_entry_is_a_miss_and_is_replaced(tmp_path: Path) -> None:
    store = ContentCache("values", tmp_path)
    store.save_json("k", [1])
    store.save_array("k", np.ones(3))
    (tmp_path / "values" / "k.json").write_text('{"trunc')
    (tmp_path / "values" / "k.npy").write_bytes((tmp_path / "values" / "k.npy").read_bytes()[:20])
    assert store.load_json("k") is None and store.load_array("k") is None
    store.save_json("k", [2])
    store.save_array("k", np.zeros(2))
    assert store.load_json("k") == [2] and store.load_array("k").tolist() == [0.0, 0.0]


class _Saved:
    """Stands in for a model or tokenizer: ``save_pretrained`` writes one file."""

    def __init__(self, name: str):
        self.name = name

    def save_pretrained(self, folder: Path) -> None:
        (Path(folder) / self.name).write_text("saved")


def test_a_damaged_fine_tuned_entry_is_trained_again_and_replaced(tmp_path: Path) -> None:
    cache = FinetuneCache(tmp_path)
    cache.put("k", _Saved("model.bin"), _Saved("tokenizer.json"), {"steps": 3})
    folder, outcome = cache.get("k")
    assert outcome == {"steps": 3}
    (folder / "outcome.json").write_text("{bad")
    assert cache.get("k") is None
    cache.put("k", _Saved("model.bin"), _Saved("tokenizer.json"), {"steps": 4})
    assert cache.get("k") == (folder, {"steps": 4})


def test_truncated_weights_name_the_model_folder(tiny_model: Path, tmp_path: Path) -> None:
    damaged = shutil.copytree(tiny_model, tmp_path / "damaged")
    weights = damaged / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:200])
    with pytest.raises(ConfigError, match=f"cannot load weights from {damaged}"):
        load_model(ModelSpec("damaged", "local", path=str(damaged)), "AutoModel")


def test_a_model_s_identity_follows_its_files_but_not_its_log(tmp_path: Path) -> None:
    """A sweep appends to a checkpoint folder's log on every visit: that is no new model."""
    folder = tmp_path / "checkpoint"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"weights")
    spec = ModelSpec(name="ckpt", source="local", path=str(folder))
    first = model_identity(spec, str(folder))
    append_log(folder, "sweep job visited")
    assert model_identity(spec, str(folder)) == first
    (folder / "model.safetensors").write_bytes(b"other weights")
    assert model_identity(spec, str(folder)) != first
