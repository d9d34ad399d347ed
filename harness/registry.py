"""Load, merge and validate registries: the built-in one plus any user files.

Merging happens on the raw YAML (an entry named again is updated field by field,
mappings recursively, lists replaced) and validation on the merged result, so a user
file may override one field of a built-in entry without repeating the rest.
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import yaml

from harness.errors import ConfigError, RegistryError, RegistryErrors
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
            folder = str(path.resolve())
            return ModelSpec(name=folder, source="local", path=folder, **_conventions(path))
        if name.count("/") == 1 and not name.startswith((".", "/", "~")):
            return ModelSpec(name=name, source="hub", path=name)
        raise ConfigError(
            f"unknown model {name!r}: not a registry name ({_suggest(name, self.models)}), "
            "not an existing checkpoint folder, not a hub id of the form org/name"
        )


# a checkpoint ``harness train`` wrote: its summary names the model it was trained from
TRAINED_FROM = "intermediate.json"
CONVENTIONS = ("input_prefix", "layer", "pooling")


def trained_summary(folder: Path) -> dict[str, Any] | None:
    """The summary ``harness train`` wrote into ``folder`` (None where there is none)."""
    summary = folder / TRAINED_FROM
    if not summary.is_file():
        return None
    try:
        return json.loads(summary.read_text(encoding="utf-8"))
    except ValueError as err:
        raise ConfigError(f"{summary}: not the summary harness train writes ({err})") from None


def _conventions(folder: Path) -> dict[str, Any]:
    """The input conventions (e5's "query: " prefix, say) of the model a ``harness
    train`` checkpoint was trained from: the checkpoint expects the inputs it was
    trained on. Nothing for any other checkpoint folder."""
    summary = trained_summary(folder)
    if summary is None:
        return {}
    try:
        base = summary["settings"]["model"]
        return {key: base[key] for key in CONVENTIONS if key in base}
    except (KeyError, TypeError) as err:
        raise ConfigError(
            f"{folder / TRAINED_FROM}: not the summary harness train writes "
            f"({type(err).__name__}: {err})"
        ) from None


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


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (YAML itself keeps
    the last silently, so half of an entry would vanish)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # ``<<: *anchor``, YAML's own
                continue
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_file(path: Path) -> dict[str, Any]:
    """Parse one registry file and check its top level and its entry names."""
    source = str(path)
    if path.is_dir():
        raise RegistryError(source, "file", "is a folder; expected a registry YAML file")
    if not path.is_file():
        raise RegistryError(source, "file", "registry file not found")
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader) or {}
    except UnicodeDecodeError as err:
        raise RegistryError(
            source, f"byte {err.start}", "not UTF-8 text (save the file as UTF-8)"
        ) from None
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
        for name in entries:
            if isinstance(name, bool) or not isinstance(name, str | int):
                raise RegistryError(
                    source,
                    f"{section}.{name}",
                    "expected a name (quote it: YAML reads yes/no/on/off as booleans)",
                )
    return {
        section: {str(name): entry for name, entry in entries.items()}
        for section, entries in raw.items()
    }


def user_files(extra: Sequence[str | Path] = (), environment: bool = True) -> list[Path]:
    """User registries: ``HARNESS_REGISTRY`` (os.pathsep-separated) first, then ``--registry`` files."""
    env = [p for p in os.environ.get(ENV_VAR, "").split(os.pathsep) if p] if environment else []
    return [Path(p).expanduser() for p in [*env, *extra]]


def load_registry(
    extra: Sequence[str | Path] = (), builtin: bool = True, environment: bool = True
) -> Registry:
    """The built-in registry, then ``HARNESS_REGISTRY``'s files (unless not
    ``environment``), then ``extra``, merged in that order. Raises RegistryError, or
    RegistryErrors listing every error where there are several."""
    files = ([BUILTIN] if builtin else []) + user_files(extra, environment)
    errors: list[RegistryError] = []

    def collect(check: Callable[[], Any]) -> Any:
        try:
            return check()
        except RegistryErrors as err:
            errors.extend(err.errors)
        except RegistryError as err:
            errors.append(err)
        return None

    merged: dict[str, dict[str, Any]] = {section: {} for section in SECTIONS}
    origin: dict[tuple[str, str], str] = {}
    for path in files:
        for section, entries in (collect(partial(read_file, path)) or {}).items():
            for name, entry in entries.items():
                previous = merged[section].get(name)
                if isinstance(previous, dict) and isinstance(entry, dict):
                    entry = _merge(previous, entry)
                merged[section][name] = entry
                origin[section, name] = str(path)
    registry = Registry(files=tuple(str(p) for p in files))
    for name, raw in merged["models"].items():
        model = collect(partial(ModelSpec.parse, name, raw, origin["models", name]))
        if model is not None and model.source == "local":
            # a `harness train` checkpoint keeps its base model's conventions, registered
            # by name as given by path; what the entry itself sets wins
            found = collect(partial(_conventions, Path(model.path)))
            model = replace(model, **{k: v for k, v in (found or {}).items() if k not in raw})
        if model is not None:
            registry.models[name] = model
    for section, role in (("targets", "target"), ("intermediates", "intermediate")):
        table = getattr(registry, section)
        for name, raw in merged[section].items():
            task = collect(partial(_parse_task, name, role, raw, origin[section, name]))
            if task is not None:
                table[name] = task
    for name, members in merged["suites"].items():
        suite = collect(partial(_parse_suite, merged, name, members, origin["suites", name]))
        if suite is not None:
            registry.suites[name] = suite
    RegistryErrors.raise_any(errors)
    return registry


def _parse_task(name: str, role: str, raw: Any, source: str) -> TaskSpec:
    from harness.data.resolve import source_problems

    task = TaskSpec.parse(name, role, raw, source)
    RegistryErrors.raise_any(
        [RegistryError(source, where, message) for where, message in source_problems(task)]
    )
    return task


def _parse_suite(
    merged: dict[str, dict[str, Any]], name: str, members: Any, source: str
) -> tuple[str, ...]:
    """A suite: a name for several targets, or for several intermediate tasks (one
    command takes one kind), not itself the name of a task it would hide behind.
    Members are looked up among the entries declared, valid or not (an invalid one has
    its own error)."""
    where = f"suites.{name}"
    if name in merged["targets"] or name in merged["intermediates"]:
        raise RegistryError(source, where, f"{name!r} is already a task's name")
    if not isinstance(members, list) or not members:
        raise RegistryError(source, where, "expected a non-empty list of task names")
    sections = []
    for i, member in enumerate(members):
        found = [s for s in ("targets", "intermediates") if str(member) in merged[s]]
        if not found:
            raise RegistryError(source, f"{where}[{i}]", f"unknown task {member!r}")
        sections.append(found[0])
        if sections[i] != sections[0]:
            raise RegistryError(
                source,
                f"{where}[{i}]",
                f"{member!r} is one of the {sections[i]}, the suite's first member one of "
                f"the {sections[0]}: a suite holds one kind",
            )
    return tuple(str(m) for m in members)


def validate_files(paths: Sequence[str | Path]) -> list[str]:
    """Every error in user files merged in order over the built-in registry, as
    ``--registry`` would merge them (``HARNESS_REGISTRY`` is left out: the files given
    are the ones checked)."""
    try:
        load_registry(paths, environment=False)
    except RegistryErrors as err:
        return [str(e) for e in err.errors]
    except RegistryError as err:
        return [str(err)]
    return []
