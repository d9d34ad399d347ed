"""The study file of ``harness sweep``: parsed and checked in full before any job runs,
so a typo fails in a second with the file and field named, not hours into a sweep."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harness.errors import ConfigError, HarnessError

FIELDS = ("name", "output", "models", "intermediates", "baseline", "targets", "seeds", "settings",
          "resources", "retries", "registry")  # fmt: skip


@dataclass(frozen=True)
class Resources:
    """What each job asks of a Ray cluster (the local backend runs one job at a time)."""

    cpus: float = 1
    gpus: float = 0


@dataclass(frozen=True)
class StudySpec:
    """A validated study: names resolved against the registry, paths absolute (relative
    ones are read from the study file's folder, so every Ray worker finds them)."""

    path: Path
    name: str
    output: Path
    models: tuple[str, ...]
    # each one configuration, trained at once, as written (a suite name stands for its tasks)
    intermediates: tuple[tuple[str, ...], ...]
    baseline: bool
    targets: tuple[str, ...]
    seeds: tuple[int, ...]
    options: dict[str, Any]  # every option of `harness run`, resolved from `settings`
    resources: Resources
    retries: int
    registry: tuple[str, ...]


class _Reader:
    """Field access that names the file and the field in every error."""

    def __init__(self, path: Path, raw: dict[str, Any]):
        self.path = path
        self.raw = raw

    def error(self, field: str, message: str) -> ConfigError:
        return ConfigError(f"{self.path}: {field}: {message}")

    def get(self, field: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
        value = self.raw.get(field, default)
        if value is None and default is None:
            raise self.error(field, "missing")
        if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _tuple(kind)):
            raise self.error(field, f"expected {_names(kind)}, got {value!r}")
        return value

    def items(self, field: str, kind: type | tuple[type, ...]) -> list[Any]:
        """A non-empty list (a single value counts as a list of one)."""
        value = self.raw.get(field)
        values = value if isinstance(value, list) else [value]
        if value is None or not values:
            raise self.error(field, f"expected a non-empty list of {_names(kind)}")
        for i, item in enumerate(values):
            if not isinstance(item, kind) or isinstance(item, bool):
                raise self.error(f"{field}[{i}]", f"expected {_names(kind)}, got {item!r}")
        return values

    def path_of(self, value: str | Path) -> Path:
        path = Path(value).expanduser()
        return path if path.is_absolute() else (self.path.parent / path).resolve()


def _tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _names(kind: type | tuple[type, ...]) -> str:
    return " or ".join(k.__name__ for k in _tuple(kind))


def load_study(path: Path) -> StudySpec:
    """Read and check a study file; every problem is a ConfigError naming file and field."""
    from harness.cli import MAX_SEED, run_options
    from harness.registry import load_registry

    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the study file ({err.strerror})") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of study fields")
    read = _Reader(path, raw)
    unknown = sorted(set(raw) - set(FIELDS))
    if unknown:
        raise read.error(", ".join(unknown), f"unknown field (known: {', '.join(FIELDS)})")
    files = read.items("registry", str) if raw.get("registry") is not None else []
    registry_files = tuple(str(read.path_of(p)) for p in files)
    try:
        registry = load_registry(registry_files)
    except HarnessError as err:
        raise read.error("registry", str(err)) from None

    models = _models(read, registry)
    configurations = _configurations(read, registry)
    baseline = read.get("baseline", bool, False)
    if not configurations and not baseline:
        raise read.error(
            "intermediates", "no intermediate configuration and no baseline: nothing to run"
        )

    targets = raw.get("targets", "xtreme")
    try:
        target_specs = registry.expand(targets if isinstance(targets, list) else str(targets))
    except HarnessError as err:
        raise read.error("targets", str(err)) from None

    seeds = tuple(read.items("seeds", int)) if "seeds" in raw else (1,)
    if len(set(seeds)) < len(seeds):
        raise read.error("seeds", f"a seed given twice in {list(seeds)}")
    if any(not 0 <= seed <= MAX_SEED for seed in seeds):
        raise read.error("seeds", f"each seed must be in 0..{MAX_SEED}, got {list(seeds)}")
    settings = read.get("settings", dict, {})
    try:
        options = run_options(settings)
    except HarnessError as err:
        raise read.error("settings", str(err)) from None
    for key in ("data_dir", "intermediate_dir"):
        if options[key] is not None:
            options[key] = read.path_of(options[key])
    for model in models:
        _check_options(read, registry.model(model), registry, options | {"seed": 1, "registries": registry_files},
                       target_specs, bool(configurations))  # fmt: skip
    retries = read.get("retries", int, 1)
    if retries < 0:
        raise read.error("retries", f"expected an integer >= 0, got {retries}")
    return StudySpec(
        path=path.resolve(),
        name=read.get("name", str, path.stem),
        output=read.path_of(read.get("output", str, f"runs/{path.stem}")),
        models=tuple(models),
        intermediates=configurations,
        baseline=baseline,
        targets=tuple(t.name for t in target_specs),
        seeds=seeds,
        options=options,
        resources=_resources(read),
        retries=retries,
        registry=registry_files,
    )


def _check_options(read: _Reader, model: Any, registry: Any, options: dict[str, Any],
                   targets: list[Any], intermediate: bool) -> None:  # fmt: skip
    """Build a model's jobs' options once, as ``harness run`` would, so what it refuses
    fails here, naming the study file; a ``max_length`` beyond the model's positions too,
    which ``harness run`` refuses only as a task starts."""
    from harness.cli import eval_options, intermediate_options
    from harness.models.encoder import fit_max_length

    try:
        eval_options(registry, model, read.path, options, targets)
        if intermediate:
            intermediate_options(model, read.path, options, [])
        if options.get("max_length") is not None:
            wanted = {"max_length": options["max_length"]}
            fit_max_length(model, wanted, wanted, lambda _: None)
    except HarnessError as err:
        raise read.error("settings", str(err)) from None


def _models(read: _Reader, registry: Any) -> list[str]:
    """Registry names and hub ids as given; checkpoint folders as absolute paths."""
    models = []
    for i, model in enumerate(read.items("models", str)):
        local = read.path_of(model)
        name = str(local) if local.is_dir() else model
        try:
            registry.model(name)
        except HarnessError as err:
            raise read.error(f"models[{i}]", str(err)) from None
        models.append(name)
    return models


def _configurations(read: _Reader, registry: Any) -> tuple[tuple[str, ...], ...]:
    """Each entry as written (its name in job ids); two entries of the same tasks are refused."""
    entries = read.raw.get("intermediates") or []
    seen: dict[tuple[str, ...], tuple[str, ...]] = {}  # task names -> as written
    for i, entry in enumerate(entries if isinstance(entries, list) else [entries]):
        names = tuple(str(n) for n in (entry if isinstance(entry, list) else [entry]))
        try:
            tasks = tuple(t.name for t in registry.expand(names, "intermediates"))
        except HarnessError as err:
            raise read.error(f"intermediates[{i}]", str(err)) from None
        if tasks in seen:
            raise read.error(f"intermediates[{i}]", f"the same tasks as {'+'.join(seen[tasks])}")
        seen[tasks] = names
    return tuple(seen.values())


def _resources(read: _Reader) -> Resources:
    resources = read.get("resources", dict, {})
    unknown = sorted(set(resources) - {"cpus", "gpus"})
    if unknown:
        raise read.error(f"resources.{unknown[0]}", "unknown (known: cpus, gpus)")
    for key in ("cpus", "gpus"):
        value = resources.get(key, 0)
        if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
            raise read.error(f"resources.{key}", f"expected a number >= 0, got {value!r}")
    return Resources(resources.get("cpus", 1), resources.get("gpus", 0))
