"""Load, merge and validate registries: the built-in one plus any user files.

Merging happens on the raw YAML (an entry named again is updated field by field,
mappings recursively, lists replaced) and validation on the merged result, so a user
file may override one field of a built-in entry without repeating the rest.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.errors import ConfigError, RegistryError
from harness.specs import ModelSpec, TaskSpec

BUILTIN = Path(__file__).with_name("registry.yaml")
ENV_VAR = "HARNESS_REGISTRY"
SECTIONS = ("models", "targets", "intermediates", "suites")


@dataclass
class Registry:
    models: dict[str, ModelSpec] = field(default_factory=dict)
    targets: dict[str, TaskSpec] = field(default_factory=dict)
    intermediates: dict[str, TaskSpec] = field(default_factory=dict)
    suites: dict[str, tuple[str, ...]] = field(default_factory=dict)
    files: tuple[str, ...] = ()

    def target(self, name: str) -> TaskSpec:
        return _lookup(self.targets, name, "target")

    def intermediate(self, name: str) -> TaskSpec:
        return _lookup(self.intermediates, name, "intermediate task")

    def expand(self, names: str | Iterable[str], section: str = "targets") -> list[TaskSpec]:
        """Turn ``"xtreme"`` or ``"xnli,pawsx"`` into task specs, suites expanded, order kept."""
        if isinstance(names, str):
            names = [n.strip() for n in names.split(",") if n.strip()]
        table = self.targets if section == "targets" else self.intermediates
        getter = self.target if section == "targets" else self.intermediate
        specs: list[TaskSpec] = []
        for name in names:
            members = self.suites.get(name, (name,)) if name not in table else (name,)
            for member in members:
                spec = getter(member)
                if spec not in specs:
                    specs.append(spec)
        if not specs:
            raise ConfigError(f"no {section} given")
        return specs

    def model(self, name: str) -> ModelSpec:
        """A registry name, a local checkpoint folder, or a hub id (``org/name``)."""
        if name in self.models:
            return self.models[name]
        path = Path(name).expanduser()
        if path.is_dir():
            if not (path / "config.json").is_file():
                raise ConfigError(
                    f"model folder {path} has no config.json (expected a Hugging Face checkpoint)"
                )
            return ModelSpec(name=str(path.resolve()), source="local", path=str(path.resolve()))
        if name.count("/") == 1 and not name.startswith((".", "/", "~")):
            return ModelSpec(name=name, source="hub", path=name)
        raise ConfigError(
            f"unknown model {name!r}: not a registry name ({_suggest(name, self.models)}), "
            "not an existing checkpoint folder, not a hub id of the form org/name"
        )


def _suggest(name: str, table: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(table), n=3)
    known = close or sorted(table)
    return ("did you mean " if close else "known: ") + ", ".join(known)


def _lookup(table: dict[str, TaskSpec], name: str, what: str) -> TaskSpec:
    if name not in table:
        raise ConfigError(f"unknown {what} {name!r}; {_suggest(name, table)}")
    return table[name]


def _merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def read_file(path: Path) -> dict[str, Any]:
    """Parse one registry file and check its top level."""
    source = str(path)
    if not path.is_file():
        raise RegistryError(source, "file", "registry file not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "file"
        raise RegistryError(
            source, where, f"invalid YAML: {getattr(err, 'problem', err)}"
        ) from None
    if not isinstance(raw, dict):
        raise RegistryError(
            source, "top level", "expected a mapping with sections " + ", ".join(SECTIONS)
        )
    for section, entries in raw.items():
        if section not in SECTIONS:
            raise RegistryError(
                source, str(section), f"unknown section; expected one of {', '.join(SECTIONS)}"
            )
        if not isinstance(entries, dict):
            raise RegistryError(source, str(section), "expected a mapping of named entries")
    return raw


def user_files(extra: Sequence[str | Path] = ()) -> list[Path]:
    """User registries: ``HARNESS_REGISTRY`` (os.pathsep-separated) first, then ``--registry`` files."""
    env = [p for p in os.environ.get(ENV_VAR, "").split(os.pathsep) if p]
    return [Path(p).expanduser() for p in [*env, *extra]]


def load_registry(extra: Sequence[str | Path] = (), builtin: bool = True) -> Registry:
    files = ([BUILTIN] if builtin else []) + user_files(extra)
    merged: dict[str, dict[str, Any]] = {section: {} for section in SECTIONS}
    origin: dict[tuple[str, str], str] = {}
    for path in files:
        for section, entries in read_file(path).items():
            for name, entry in entries.items():
                previous = merged[section].get(name)
                if isinstance(previous, dict) and isinstance(entry, dict):
                    entry = _merge(previous, entry)
                merged[section][name] = entry
                origin[section, name] = str(path)
    registry = Registry(files=tuple(str(p) for p in files))
    for name, raw in merged["models"].items():
        registry.models[name] = ModelSpec.parse(name, raw, origin["models", name])
    for section, role in (("targets", "target"), ("intermediates", "intermediate")):
        table = getattr(registry, section)
        for name, raw in merged[section].items():
            table[name] = TaskSpec.parse(name, role, raw, origin[section, name])
    for name, members in merged["suites"].items():
        source = origin["suites", name]
        if not isinstance(members, list) or not members:
            raise RegistryError(source, f"suites.{name}", "expected a non-empty list of task names")
        for i, member in enumerate(members):
            if member not in registry.targets and member not in registry.intermediates:
                raise RegistryError(source, f"suites.{name}[{i}]", f"unknown task {member!r}")
        registry.suites[name] = tuple(members)
    return registry


def validate_files(paths: Sequence[str | Path]) -> list[str]:
    """Validate user files, each merged over the built-in registry; returns the errors."""
    errors = []
    for path in paths:
        try:
            load_registry([path])
        except RegistryError as err:
            errors.append(str(err))
    return errors
