"""Typed specs for registry entries, validated field by field on load.

Validation lives with the types (not in a separate schema file) so a field is declared
once: its type, its default and the message a user sees when it is wrong.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import RegistryError

TASK_KINDS = (
    "pair_classification",
    "multiple_choice",
    "extractive_qa",
    "tagging",
    "retrieval",
    "mlm",
)
LOCAL_FORMATS = (
    "pair_tsv",
    "tagged_tsv",
    "conllu",
    "squad_json",
    "tatoeba",
    "bucc",
    "text",
    "jsonl",
    "csv",
)
# the metrics each kind can compute (the registry's ``metric`` picks the headline one)
METRICS_BY_KIND = {
    "pair_classification": ("accuracy", "accuracy_f1"),
    "multiple_choice": ("accuracy",),
    "extractive_qa": ("squad", "mlqa"),
    "tagging": ("seqeval_f1", "token_accuracy"),
    "retrieval": ("tatoeba_accuracy", "bucc_f1"),
    "mlm": ("mlm_accuracy",),
}
MODEL_SOURCES = ("hub", "local", "e5_small")
GROUPS = ("classification", "structured_prediction", "question_answering", "retrieval")
POOLINGS = ("mean", "first")
# A retrieval task's ``retrieval:`` block: k, and ``harness.metrics.retrieval.KnnSearch``
# settings (the choices are that module's; specs stays free of faiss)
RETRIEVAL_FIELDS: dict[str, tuple[type, tuple[str, ...] | None]] = {
    "k": (int, None),
    "block_size": (int, None),
    "ivf_lists": (int, None),
    "nprobe": (int, None),
    "ivf_storage": (str, ("flat", "fp16", "sq8")),
    "precision": (str, ("float32", "bfloat16")),
}
# the least each number may be: ivf_lists 0 is exact search
RETRIEVAL_MINIMUM = {"k": 1, "block_size": 1, "ivf_lists": 0, "nprobe": 1}


# Task names and language codes name folders and files (predictions/TASK/SPLIT-LANG.jsonl)
NAME_RULE = "letters, digits, '_', '-' and '.', starting with a letter, digit or '_'"


def _is_name(text: str) -> bool:
    return re.fullmatch(r"\w[\w.-]*", text) is not None


class _Fields:
    """Reads typed fields out of one registry mapping, reporting errors with their path."""

    def __init__(self, raw: Any, source: str, where: str, known: set[str]):
        if not isinstance(raw, dict):
            raise RegistryError(source, where, f"expected a mapping, got {type(raw).__name__}")
        unknown = sorted(set(raw) - known)
        if unknown:
            raise RegistryError(
                source,
                f"{where}.{unknown[0]}",
                f"unknown field; expected one of: {', '.join(sorted(known))}",
            )
        self.raw = raw
        self.source = source
        self.where = where

    def error(self, name: str, message: str) -> RegistryError:
        return RegistryError(self.source, f"{self.where}.{name}", message)

    def get(
        self,
        name: str,
        kind: type | tuple[type, ...],
        default: Any = ...,
        choices: Any = None,
        raw: Any = ...,
    ) -> Any:
        """Field ``name`` (or ``raw``, a value read from inside it) checked as ``kind``:
        a bool is no number, and a float no int (8.7 is not a batch size)."""
        value = self.raw.get(name) if raw is ... else raw
        if value is None:
            if default is ...:
                raise self.error(name, "required field is missing")
            return default
        if kind is float and isinstance(value, int | str) and not isinstance(value, bool):
            try:
                value = float(value)
            except ValueError:
                raise self.error(name, f"expected a number, got {value!r}") from None
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            names = (
                kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            )
            raise self.error(name, f"expected {names}, got {value!r}")
        if choices is not None and value not in choices:
            raise self.error(name, f"expected one of {', '.join(choices)}; got {value!r}")
        return value

    def strings(self, name: str, default: Any = ...) -> tuple[str, ...]:
        value = self.get(name, list, default)
        if value is default:
            return value
        for i, item in enumerate(value):
            if isinstance(item, bool):
                raise self.error(
                    f"{name}[{i}]",
                    f"expected a string, got {item!r} (quote it: YAML reads yes/no/on/off as booleans)",
                )
            if not isinstance(item, str | int):
                raise self.error(f"{name}[{i}]", f"expected a string, got {item!r}")
        return tuple(str(v) for v in value)

    def string_map(self, name: str) -> dict[str, str]:
        value = self.get(name, dict, {})
        for key, item in value.items():
            if isinstance(key, bool):
                raise self.error(
                    f"{name}.{key}",
                    "expected a string key, got a boolean (quote it: YAML reads "
                    "yes/no/on/off as booleans)",
                )
            if not isinstance(item, str | int) or isinstance(item, bool):
                raise self.error(f"{name}.{key}", f"expected a string, got {item!r}")
        return {str(k): str(v) for k, v in value.items()}


@dataclass(frozen=True)
class DataSource:
    """Where one split of one task lives: a local file (pattern) or a hub dataset.

    Local paths are patterns relative to the data folder, with ``{lang}``, ``{code}``
    (the language's file code, from ``codes``) and ``{split}`` filled in; multi-file
    formats (tatoeba, bucc) give a mapping of named paths instead of one path. A hub
    dataset holding every language in one split (TyDiQA's) takes ``select``: column ->
    glob pattern (placeholders filled), and only rows matching every pattern are read.
    """

    origin: str  # "local" or "hub"
    path: str | dict[str, str]
    format: str = "hub"
    name: str | None = None
    split: str | None = None
    revision: str | None = None
    fields: dict[str, str] = field(default_factory=dict)
    codes: dict[str, str] = field(default_factory=dict)
    select: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, raw: Any, origin: str, source: str, where: str) -> DataSource:
        known = {"path", "format", "name", "split", "revision", "fields", "codes", "select"}
        f = _Fields(raw, source, where, known)
        path = f.get("path", (str, dict))
        if isinstance(path, dict):
            path = f.string_map("path")
        if origin == "local":
            fmt = f.get("format", str, choices=LOCAL_FORMATS)
            if fmt in ("tatoeba", "bucc") and not isinstance(path, dict):
                raise f.error("path", f"format {fmt} needs a mapping of named files")
        else:
            fmt = "hub"
            if not isinstance(path, str):
                raise f.error("path", "a hub source takes one dataset id")
        select = f.string_map("select")
        if select and origin == "local":
            raise f.error(
                "select", "only a hub source selects rows (a local file is one language's)"
            )
        return cls(
            origin=origin,
            path=path,
            format=fmt,
            name=f.get("name", str, None),
            split=f.get("split", str, None),
            revision=f.get("revision", str, None),
            fields=f.string_map("fields"),
            codes=f.string_map("codes"),
            select=select,
        )

    def code(self, lang: str) -> str:
        return self.codes.get(lang, lang)

    def fill(self, text: str, lang: str, split: str) -> str:
        return text.format(lang=lang, code=self.code(lang), split=split)


@dataclass(frozen=True)
class SplitSpec:
    """One split: a local source and/or a hub source (local wins when its file exists),
    or a pool of such pairs read and concatenated (ANLI+). ``fallback`` names another
    split of the same task to read when this one cannot be had (offline, say), so a
    run goes on and records what it used."""

    local: DataSource | None = None
    hub: DataSource | None = None
    pool: tuple[SplitSpec, ...] = ()
    fallback: str | None = None

    @classmethod
    def parse(cls, raw: Any, source: str, where: str) -> SplitSpec:
        f = _Fields(raw, source, where, {"local", "hub", "pool", "fallback"})
        fallback = f.get("fallback", str, None)
        if "pool" in raw:
            if set(raw) - {"pool", "fallback"}:
                raise f.error("pool", "a pool cannot be combined with local or hub")
            members = f.get("pool", list)
            if not members:
                raise f.error("pool", "expected at least one member")
            pool = tuple(cls.parse(m, source, f"{where}.pool[{i}]") for i, m in enumerate(members))
            return cls(pool=pool, fallback=fallback)
        local = raw.get("local")
        hub = raw.get("hub")
        if local is None and hub is None:
            raise RegistryError(source, where, "expected a local source, a hub source or a pool")
        return cls(
            local=DataSource.parse(local, "local", source, f"{where}.local") if local else None,
            hub=DataSource.parse(hub, "hub", source, f"{where}.hub") if hub else None,
            fallback=fallback,
        )


_TASK_FIELDS = {
    "kind",
    "description",
    "group",
    "languages",
    "train_language",
    "labels",
    "num_choices",
    "metric",
    "data",
    "splits",
    "defaults",
    "retrieval",
}


@dataclass(frozen=True)
class TaskSpec:
    """A target or an intermediate task. ``role`` says which registry section it came from."""

    name: str
    role: str
    kind: str
    metric: str
    data: dict[str, SplitSpec]
    languages: tuple[str, ...] = ("en",)
    train_language: str = "en"
    labels: tuple[str, ...] = ()
    num_choices: int = 0
    group: str | None = None
    description: str = ""
    splits: dict[str, str] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)
    retrieval: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, name: str, role: str, raw: Any, source: str) -> TaskSpec:
        where = f"{role}s.{name}"
        f = _Fields(raw, source, where, _TASK_FIELDS)
        if not _is_name(name):
            raise RegistryError(source, where, f"{name!r} is not a task name: {NAME_RULE}")
        kind = f.get("kind", str, choices=TASK_KINDS)
        data_raw = f.get("data", dict)
        data = {
            str(split): SplitSpec.parse(v, source, f"{where}.data.{split}")
            for split, v in data_raw.items()
        }
        for split, spec in data.items():
            if spec.fallback is not None and (spec.fallback not in data or spec.fallback == split):
                raise f.error(
                    f"data.{split}.fallback", f"expected another split of {name}: {', '.join(data)}"
                )
        for split in data:
            chain = [split]
            while (step := data[chain[-1]].fallback) is not None and step not in chain:
                chain.append(step)
            if step is not None:
                loop = " -> ".join([*chain[chain.index(step) :], step])
                raise f.error(f"data.{split}.fallback", f"fallbacks go round in a loop: {loop}")
        labels = f.strings("labels", ())
        if kind == "pair_classification" and not labels:
            raise f.error("labels", "a pair_classification task needs its label set")
        if len(set(labels)) != len(labels):
            raise f.error("labels", "labels must be distinct")
        num_choices = f.get("num_choices", int, 0)
        if kind == "multiple_choice" and num_choices < 2:
            raise f.error("num_choices", "a multiple_choice task needs num_choices >= 2")
        splits = f.string_map("splits")
        for role_name in splits:
            if role_name not in ("train", "dev", "eval"):
                raise f.error(f"splits.{role_name}", "expected train, dev or eval")
        splits = {"train": "train", "dev": "dev", "eval": "test"} | splits
        needed = ("eval",) if kind == "retrieval" else ("train", "dev", "eval")
        for role_name in needed:
            if splits[role_name] not in data:
                raise f.error(
                    f"splits.{role_name}", f"split {splits[role_name]!r} has no entry under data"
                )
        languages = f.strings("languages", ("en",))
        if not languages:
            raise f.error("languages", "expected at least one language")
        for i, lang in enumerate(languages):
            if not _is_name(lang):
                raise f.error(f"languages[{i}]", f"{lang!r} is not a language code: {NAME_RULE}")
        if len(set(languages)) != len(languages):
            twice = sorted({x for x in languages if languages.count(x) > 1})
            raise f.error("languages", f"listed twice: {', '.join(twice)}")
        train_language = f.get("train_language", str, "en")
        if kind != "retrieval" and train_language not in languages:
            raise f.error(
                "train_language", f"{train_language!r} is not one of the task's languages"
            )
        defaults = f.get("defaults", dict, {})
        for key, value in defaults.items():
            if key not in HYPERPARAMETERS:
                raise f.error(
                    f"defaults.{key}",
                    f"unknown setting; expected one of {', '.join(HYPERPARAMETERS)}",
                )
            defaults[key] = f.get(f"defaults.{key}", HYPERPARAMETERS[key], raw=value)
            if problem := hyperparameter_problem(key, defaults[key]):
                raise f.error(f"defaults.{key}", problem)
        retrieval_raw = f.get("retrieval", dict, {})
        r = _Fields(retrieval_raw, source, f"{where}.retrieval", set(RETRIEVAL_FIELDS))
        retrieval = {
            name: r.get(name, kind, choices=choices)
            for name, (kind, choices) in RETRIEVAL_FIELDS.items()
            if retrieval_raw.get(name) is not None
        }
        for number, least in RETRIEVAL_MINIMUM.items():
            if retrieval.get(number, least) < least:
                raise r.error(number, f"must be at least {least}, got {retrieval[number]}")
        return cls(
            name=name,
            role=role,
            kind=kind,
            metric=f.get("metric", str, choices=METRICS_BY_KIND[kind]),
            data=data,
            languages=languages,
            train_language=train_language,
            labels=labels,
            num_choices=num_choices,
            group=f.get("group", str, None, choices=GROUPS),
            description=f.get("description", str, ""),
            splits=splits,
            defaults=defaults,
            retrieval=retrieval,
        )


HYPERPARAMETERS: dict[str, type] = {
    "lr": float,
    "epochs": float,
    "batch_size": int,
    "grad_accum": int,
    "max_length": int,
    "warmup": float,
    "weight_decay": float,
    "doc_stride": int,
    "max_answer_length": int,
    "eval_batch_size": int,
    "eval_max_tokens": int,
    "eval_streams": int,
}
# 0 means something for these (no warmup, no decay, the device's default); the rest
# must be positive
MAY_BE_ZERO = {"warmup", "weight_decay", "eval_max_tokens", "eval_streams"}


def hyperparameter_problem(key: str, value: float) -> str | None:
    """What is wrong with ``value`` for hyperparameter ``key``, if anything."""
    if not math.isfinite(value):
        return f"must be a finite number, got {value!r}"
    if key in MAY_BE_ZERO:
        if value < 0:
            return f"must not be negative, got {value!r}"
    elif not value > 0:
        return f"must be positive, got {value!r}"
    if key == "warmup" and value > 1:
        return f"is a fraction of the training steps, at most 1, got {value!r}"
    return None


@dataclass(frozen=True)
class ModelSpec:
    """An encoder: a hub id, a local HF checkpoint folder, or the offline e5-small."""

    name: str
    source: str
    path: str = ""
    revision: str | None = None
    description: str = ""
    input_prefix: str = ""
    layer: int = -1
    pooling: str = "mean"

    @property
    def folder(self) -> Path | None:
        """The folder a local checkpoint is read from (None for a hub id or e5-small)."""
        return Path(self.path) if self.source == "local" else None

    @classmethod
    def parse(cls, name: str, raw: Any, source: str) -> ModelSpec:
        known = {"source", "path", "revision", "description", "input_prefix", "layer", "pooling"}
        f = _Fields(raw, source, f"models.{name}", known)
        origin = f.get("source", str, choices=MODEL_SOURCES)
        path = f.get("path", str, "" if origin == "e5_small" else ...)
        if origin == "local":  # relative to the registry file, as study files' paths are
            path = str(Path(source).parent / Path(path).expanduser())
        return cls(
            name=name,
            source=origin,
            path=path,
            revision=f.get("revision", str, None),
            description=f.get("description", str, ""),
            input_prefix=f.get("input_prefix", str, ""),
            layer=f.get("layer", int, -1),
            pooling=f.get("pooling", str, "mean", choices=POOLINGS),
        )
