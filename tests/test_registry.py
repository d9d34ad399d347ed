"""The built-in registry, user overrides, and the errors a bad registry file gets."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import ConfigError, RegistryError, RegistryErrors
from harness.registry import load_registry, validate_files

XTREME_LANGUAGES = {
    "xnli": "ar bg de el en es fr hi ru sw th tr ur vi zh",
    "pawsx": "de en es fr ja ko zh",
    "udpos": "af ar bg de el en es et eu fa fi fr he hi hu id it ja kk ko mr nl pt ru ta te th tl tr ur vi yo zh",
    "panx": "ar he vi id jv ms tl eu ml ta te af nl en de el bn hi mr ur fa fr it pt es bg ru ja ka ko th sw yo my "
    "zh kk tr et fi hu",
    "xquad": "en es de el ru tr ar vi th zh hi",
    "mlqa": "en es de ar hi vi zh",
    "tydiqa": "en ar bn fi id ko ru sw te",
    "bucc2018": "de fr ru zh",
    "tatoeba": "ar he vi id jv tl eu ml ta te af nl de el bn hi mr ur fa fr it pt es bg ru ja ka ko th sw zh kk tr "
    "et fi hu",
}


def write(tmp_path: Path, text: str, name: str = "user.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_builtin_registry_has_the_nine_targets_with_xtreme_languages() -> None:
    registry = load_registry()
    assert registry.suites["xtreme"] == tuple(XTREME_LANGUAGES)
    for name, languages in XTREME_LANGUAGES.items():
        assert set(registry.targets[name].languages) == set(languages.split()), name
        assert len(registry.targets[name].languages) == len(languages.split()), name
    groups = {t.name: t.group for t in registry.targets.values()}
    assert groups["udpos"] == "structured_prediction" and groups["tatoeba"] == "retrieval"


def test_builtin_registry_has_intermediates_and_models() -> None:
    registry = load_registry()
    assert set(registry.intermediates) - {"mlm", "commonsenseqa_translated"} == {
        "anli_plus",
        "mnli",
        "qqp",
        "paws",
        "squad",
        "hellaswag",
        "commonsenseqa",
        "cosmosqa",
        "ccg",
    }
    assert len(registry.intermediates["anli_plus"].data["train"].pool) >= 4
    assert registry.intermediates["ccg"].data["train"].hub is None  # licensed: local path only
    for model in (
        "xlm-roberta-base",
        "xlm-roberta-large",
        "bert-base-multilingual-cased",
        "e5-small",
    ):
        assert model in registry.models
    assert registry.models["e5-small"].input_prefix == "query: "


def test_user_file_adds_a_language_and_a_target_with_yaml_only(tmp_path: Path) -> None:
    user = write(
        tmp_path,
        """
targets:
  pawsx:
    languages: [de, en, es, fr, ja, ko, zh, xx]
  mypairs:
    kind: pair_classification
    labels: ["yes", "no"]
    languages: [en, de]
    metric: accuracy
    data:
      train: {local: {format: pair_tsv, path: "mine/train-{lang}.tsv"}}
      dev: {local: {format: pair_tsv, path: "mine/dev-{lang}.tsv"}}
      test: {local: {format: pair_tsv, path: "mine/test-{lang}.tsv"}}
suites:
  mine: [mypairs, pawsx]
""",
    )
    registry = load_registry([user])
    assert "xx" in registry.targets["pawsx"].languages
    # the override touched one field: the rest of the built-in entry is kept
    assert registry.targets["pawsx"].labels == ("0", "1")
    assert registry.targets["pawsx"].data["dev"].local.path == "pawsx/dev-{lang}.tsv"
    assert [t.name for t in registry.expand("mine")] == ["mypairs", "pawsx"]


def test_environment_variable_adds_registry_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = write(tmp_path, "models:\n  mine: {source: local, path: /nowhere}\n")
    monkeypatch.setenv("HARNESS_REGISTRY", str(user))
    assert "mine" in load_registry().models


@pytest.mark.parametrize(
    ("text", "where", "expected"),
    [
        ("targets:\n  xnli:\n    kind: regression\n", "targets.xnli.kind", "expected one of"),
        ("targets:\n  xnli:\n    languges: [en]\n", "targets.xnli.languges", "unknown field"),
        (
            "targets:\n  xnli:\n    defaults: {lr: fast}\n",
            "targets.xnli.defaults.lr",
            "expected a number",
        ),
        (
            "targets:\n  xnli:\n    defaults: {eval_max_tokens: -512}\n",
            "targets.xnli.defaults.eval_max_tokens",
            "must not be negative",
        ),
        (
            "targets:\n  xnli:\n    defaults: {epochs: 0}\n",
            "targets.xnli.defaults.epochs",
            "must be positive, got 0.0",
        ),
        (
            "targets:\n  xnli:\n    languages: [en, a/b]\n",
            "targets.xnli.languages[1]",
            "'a/b' is not a language code",
        ),
        ("targets:\n  xnli:\n    languages: [en, '']\n", "targets.xnli.languages[1]", "''"),
        ("targets:\n  my/nli: {kind: tagging}\n", "targets.my/nli", "is not a task name"),
        (
            "targets:\n  xnli:\n    defaults: {lr: .inf}\n",
            "targets.xnli.defaults.lr",
            "must be a finite number, got inf",
        ),
        (
            "targets:\n  bucc2018:\n    retrieval: {k: 0}\n",
            "targets.bucc2018.retrieval.k",
            "must be at least 1, got 0",
        ),
        (
            "targets:\n  bucc2018:\n    retrieval: {ivf_lists: -1}\n",
            "targets.bucc2018.retrieval.ivf_lists",
            "must be at least 0, got -1",
        ),
        (
            "targets:\n  pawsx:\n    data:\n      train: {fallback: dev}\n"
            "      dev: {fallback: train}\n",
            "targets.pawsx.data.train.fallback",
            "fallbacks go round in a loop: train -> dev -> train",
        ),
        (
            "targets:\n  xnli:\n    defaults: {warmup: 10}\n",
            "targets.xnli.defaults.warmup",
            "a fraction of the training steps, at most 1",
        ),
        (
            "targets:\n  xnli:\n    defaults: {learning_rate: 1}\n",
            "targets.xnli.defaults.learning_rate",
            "unknown setting",
        ),
        ("targets:\n  new:\n    kind: tagging\n", "targets.new.data", "required field is missing"),
        ("models:\n  m: {source: hub}\n", "models.m.path", "required field is missing"),
        ("suites:\n  s: [xnli, nope]\n", "suites.s[1]", "unknown task 'nope'"),
        (
            "targets:\n  xnli:\n    data: {dev: {local: {format: parquet, path: x}}}\n",
            "targets.xnli.data.dev.local.format",
            "expected one of",
        ),
        (
            "targets:\n  xnli:\n    train_language: xx\n",
            "targets.xnli.train_language",
            "not one of the task's languages",
        ),
        ("targets:\n  xnli:\n    labels: [yes, no]\n", "targets.xnli.labels[0]", "quote it"),
        ("widgets: {}\n", "widgets", "unknown section"),
        ("targets: [xnli]\n", "targets", "expected a mapping"),
        ("targets:\n  xnli: {kind: [\n", "line", "invalid YAML"),
        (
            "targets:\n  xnli:\n    metric: accuracy\n    metric: f1\n",
            "line 4",
            "duplicate key 'metric'",
        ),
        ("suites:\n  yes: [xnli]\n", "suites.True", "quote it"),
        (
            "targets:\n  xnli:\n    defaults: {batch_size: 8.7}\n",
            "targets.xnli.defaults.batch_size",
            "expected int, got 8.7",
        ),
        (
            "targets:\n  xnli:\n    defaults: {epochs: true}\n",
            "targets.xnli.defaults.epochs",
            "expected float, got True",
        ),
        (
            "targets:\n  xnli:\n    languages: [en, de, en]\n",
            "targets.xnli.languages",
            "listed twice: en",
        ),
        (
            "targets:\n  xnli:\n    languages: []\n",
            "targets.xnli.languages",
            "at least one language",
        ),
        (
            "targets:\n  tatoeba:\n    data: {test: {local: {codes: {no: nob}}}}\n",
            "targets.tatoeba.data.test.local.codes.False",
            "quote it",
        ),
        (
            "targets:\n  xnli:\n    data: {test: {local: {path: 'xnli/test-{lng}.tsv'}}}\n",
            "targets.xnli.data.test.local",
            "bad placeholder",
        ),
        (
            "targets:\n  xnli:\n    data: {test: {local: {path: xnli/test.tsv}}}\n",
            "targets.xnli.data.test.local",
            "every language would read the same data (xnli/test.tsv)",
        ),
        (
            "targets:\n  xnli:\n    data: {test: {local: {format: squad_json}}}\n",
            "targets.xnli.data.test.local",
            "format squad_json cannot hold pair_classification examples",
        ),
        (
            "targets:\n  xnli:\n    data: {test: {local: {fields: {premise: a}}}}\n",
            "targets.xnli.data.test.local",
            "fields.premise: not used by format pair_tsv",
        ),
        (
            "targets:\n  bucc2018:\n    data: {dev: {local: {path: {src: a}}}}\n",
            "targets.bucc2018.data.dev.local",
            "path.src: not a file of format bucc",
        ),
        (
            "targets:\n  tatoeba:\n    metric: bucc_f1\n",
            "targets.tatoeba.data.test.local",
            "metric bucc_f1 needs format bucc, not tatoeba",
        ),
        (
            "targets:\n  bucc2018:\n    splits: {dev: tuning}\n",
            "targets.bucc2018.splits.dev",
            "'tuning' has no entry under data",
        ),
        (
            "targets:\n  xnli:\n    data: {test: {local: {select: {id: x}}}}\n",
            "targets.xnli.data.test.local.select",
            "only a hub source selects rows",
        ),
        ("suites:\n  mix: [pawsx, commonsenseqa]\n", "suites.mix[1]", "a suite holds one kind"),
        ("suites:\n  pawsx: [xnli]\n", "suites.pawsx", "already a task's name"),
    ],
)
def test_invalid_registry_names_file_entry_and_field(
    tmp_path: Path, text: str, where: str, expected: str
) -> None:
    user = write(tmp_path, text)
    with pytest.raises(RegistryError) as info:
        load_registry([user])
    assert info.value.source == str(user)
    assert info.value.where.startswith(where)
    assert expected in info.value.message
    assert "\n".join(validate_files([user])) == str(info.value)


def test_every_error_is_reported_and_files_merge_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """validate lists every error, not the first; a file may use another file's entries
    (as with several --registry); HARNESS_REGISTRY is not among the files checked."""
    bad = write(
        tmp_path,
        "models:\n  m1: {source: hub}\n  m2: {source: hub, path: 3}\n"
        "targets:\n  pawsx:\n    metric: f1\n",
        "bad.yaml",
    )
    errors = validate_files([bad])
    assert [e.split(": ")[1] for e in errors] == [
        "models.m1.path",
        "models.m2.path",
        "targets.pawsx.metric",
    ]
    with pytest.raises(RegistryErrors) as info:
        load_registry([bad])
    assert str(info.value).splitlines() == errors
    tasks = write(
        tmp_path,
        "targets:\n  my-x:\n    kind: retrieval\n    metric: tatoeba_accuracy\n"
        "    data: {test: {hub: {path: org/x}}}\n",
        "tasks.yaml",
    )
    suite = write(tmp_path, "suites:\n  both: [my-x, pawsx]\n", "suite.yaml")
    monkeypatch.setenv("HARNESS_REGISTRY", str(bad))
    assert validate_files([tasks, suite]) == []
    assert validate_files([suite]) == [f"{suite}: suites.both[0]: unknown task 'my-x'"]


def test_two_languages_may_share_a_file_on_purpose_and_names_may_be_numbers(
    tmp_path: Path,
) -> None:
    user = write(
        tmp_path,
        "targets:\n  tatoeba:\n    languages: [de, gsw]\n"
        "    data: {test: {local: {codes: {gsw: deu}}}}\nsuites:\n  2024: [tatoeba]\n",
    )
    registry = load_registry([user])
    assert [t.name for t in registry.expand("2024")] == ["tatoeba"]


def test_unreadable_registry_files_are_named(tmp_path: Path) -> None:
    latin = tmp_path / "latin1.yaml"
    latin.write_bytes("models:\n  caf\xe9: {source: hub, path: a/b}\n".encode("latin-1"))
    assert validate_files([latin]) == [f"{latin}: byte 13: not UTF-8 text (save the file as UTF-8)"]
    assert validate_files([tmp_path]) == [
        f"{tmp_path}: file: is a folder; expected a registry YAML file"
    ]


def test_hub_rows_are_selected_per_language(monkeypatch: pytest.MonkeyPatch) -> None:
    """TyDiQA's hub split holds every language: each language reads its own rows."""
    import datasets

    from harness.data.resolve import read_split

    rows = [
        {"id": f"{name}-{i}", "context": "a b c", "question": "q?", "title": "",
         "answers": {"text": ["b"], "answer_start": [2]}}
        for name in ("english", "arabic", "arabic")
        for i in range(2)
    ]  # fmt: skip
    loaded = []

    def load_dataset(path: str, name: str, split: str, revision: str | None) -> datasets.Dataset:
        loaded.append((path, name, split))
        return datasets.Dataset.from_list(rows)

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    task = load_registry().targets["tydiqa"]
    arabic = read_split(task, "test", "ar", None)
    assert [e.id for e in arabic.examples] == ["arabic-0", "arabic-1"] * 2
    assert arabic.origin == "hub:google/xtreme/tydiqa:validation[id=arabic-*]"
    assert len(read_split(task, "train", "en", None).examples) == 2
    assert loaded == [
        ("google/xtreme", "tydiqa", "validation"),
        ("google/xtreme", "tydiqa", "train"),
    ]


def test_valid_user_file_passes_validation(tmp_path: Path) -> None:
    assert validate_files([write(tmp_path, "targets:\n  xnli:\n    defaults: {epochs: 1}\n")]) == []


def test_missing_registry_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="registry file not found"):
        load_registry([tmp_path / "absent.yaml"])


def test_unknown_names_get_suggestions() -> None:
    registry = load_registry()
    with pytest.raises(ConfigError, match="did you mean xnli"):
        registry.expand("xnlj")
    with pytest.raises(
        ConfigError, match=r"unknown model 'xlm-roberta-bass'.*did you mean xlm-roberta-base"
    ):
        registry.model("xlm-roberta-bass")


def test_model_resolution(tmp_path: Path) -> None:
    registry = load_registry()
    assert registry.model("org/name").source == "hub"
    (tmp_path / "ckpt").mkdir()
    with pytest.raises(ConfigError, match=r"no config\.json"):
        registry.model(str(tmp_path / "ckpt"))
    (tmp_path / "ckpt" / "config.json").write_text("{}")
    assert registry.model(str(tmp_path / "ckpt")).source == "local"
    assert registry.model(str(tmp_path / "ckpt")).input_prefix == ""


def test_a_trained_checkpoint_keeps_its_base_models_input_conventions(tmp_path: Path) -> None:
    """``harness train`` then ``eval --model CKPT``: e5's "query: " prefix goes along, as
    in ``harness run``."""
    import json

    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "config.json").write_text("{}")
    base = {"name": "e5-small", "input_prefix": "query: ", "layer": 8, "pooling": "first"}
    (ckpt / "intermediate.json").write_text(json.dumps({"settings": {"model": base}}))
    spec = load_registry().model(str(ckpt))
    assert (spec.input_prefix, spec.layer, spec.pooling) == ("query: ", 8, "first")
    (ckpt / "intermediate.json").write_text("{")
    with pytest.raises(
        ConfigError, match=r"intermediate\.json: not the summary harness train writes"
    ):
        load_registry().model(str(ckpt))


def test_a_trained_checkpoint_registered_by_name_keeps_its_conventions_too(
    tmp_path: Path,
) -> None:
    """The same folder named in a registry reads its inputs as given by path would; what
    the entry sets itself wins."""
    import json

    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "config.json").write_text("{}")
    base = {"name": "e5-small", "input_prefix": "query: ", "layer": 8, "pooling": "first"}
    (ckpt / "intermediate.json").write_text(json.dumps({"settings": {"model": base}}))
    mine = tmp_path / "mine.yaml"
    mine.write_text(
        "models:\n  my-ck: {source: local, path: ckpt}\n"
        "  my-ck-cls: {source: local, path: ckpt, pooling: mean}\n"
    )
    registry = load_registry([mine])
    spec = registry.model("my-ck")
    assert (spec.input_prefix, spec.layer, spec.pooling) == ("query: ", 8, "first")
    by_path = registry.model(str(ckpt))
    assert (by_path.input_prefix, by_path.layer, by_path.pooling) == ("query: ", 8, "first")
    mean = registry.model("my-ck-cls")
    assert (mean.input_prefix, mean.layer, mean.pooling) == ("query: ", 8, "mean")


def test_a_registry_model_path_is_relative_to_its_file(tmp_path: Path) -> None:
    from harness.models.encoder import model_location

    (tmp_path / "models" / "mine").mkdir(parents=True)
    user = write(tmp_path, "models:\n  mine: {source: local, path: models/mine}\n")
    spec = load_registry([user]).model("mine")
    assert spec.path == str(tmp_path / "models" / "mine")
    with pytest.raises(
        ConfigError, match=r"model mine: checkpoint folder .*mine has no config\.json"
    ):
        model_location(spec)
