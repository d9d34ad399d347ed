"""The run folder: resolved config, results.json and per-example predictions.

Everything is written atomically (temp file + rename), after each task, so an
interrupted run loses at most the task in flight; a rerun with the same settings picks
up the finished tasks instead of recomputing them.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from harness.atomic import write_atomic
from harness.errors import ConfigError

SCHEMA_VERSION = 1
PACKAGES = (
    "harness",
    "torch",
    "transformers",
    "datasets",
    "peft",
    "accelerate",
    "faiss-cpu",
    "seqeval",
    "numpy",
)


def write_json(path: Path, data: Any) -> None:
    write_atomic(path, json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False) + "\n")


def write_jsonl(path: Path, rows: Iterable[Any]) -> None:
    write_atomic(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))


LOG_FILE = "log.txt"
# a ``harness run`` study's summary, beside its runs (targets-seedN, baseline-seedN)
STUDY_FILE = "study.json"


def append_log(folder: Path, line: str) -> None:
    """A folder's LOG_FILE, time-stamped (append-only, so no temp file is needed)."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / LOG_FILE).open("a", encoding="utf-8") as handle:
        handle.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}\n")


def environment() -> dict[str, Any]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    import torch  # loaded already by every command that records an environment

    device = (
        torch.cuda.get_device_name(0)
        if torch.cuda.is_available()
        else f"cpu ({os.cpu_count()} cores)"
    )
    return {
        "device": device,
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
        "git_commit": _git_commit(),
    }


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def check_output_folder(output: Path, model_folder: Path | None, writes: str) -> None:
    """``output`` must be a folder of its own for what is written there (``writes``:
    "checkpoint" or "run"): not the local model's own folder (``model_folder``), whose
    weights a checkpoint would overwrite, and not a folder of the other kind, since a
    run's files inside a checkpoint change the checkpoint's identity and a checkpoint's
    files inside a run mix two things in one folder."""
    if model_folder is not None and model_folder.resolve() == output.resolve():
        raise ConfigError(
            f"--output {output} is the folder the model is read from: writing a {writes} "
            "there would change the model itself; choose another --output"
        )
    other = {"checkpoint": "results.json", "run": "config.json"}[writes]
    if (output / other).is_file():
        held = "an eval run" if writes == "checkpoint" else "a model checkpoint"
        raise ConfigError(
            f"--output {output} holds {held} ({other}); a {writes} needs a folder of its "
            "own: choose another --output"
        )


def guard_replacement(
    settings: dict[str, Any],
    stored: dict[str, Any],
    held: str,
    replacing: str,
    overwrite: bool,
    log: Callable[[str], None],
) -> None:
    """Something finished under ``stored`` settings is never replaced silently: without
    ``overwrite``, an error naming the settings that changed; with it, a log line.
    ``held`` and ``replacing`` begin the two messages ("... with other settings")."""
    ours = json.loads(json.dumps(settings))  # as stored: tuples read back as lists
    changed = ", ".join(_differences(ours, stored))
    if not overwrite:
        raise ConfigError(
            f"{held} with other settings (changed: {changed}); "
            "choose another --output, or --overwrite to replace it"
        )
    log(f"{replacing} with other settings (changed: {changed})")


def _differences(ours: Any, stored: Any, name: str = "") -> list[str]:
    """Each setting that differs, by its dotted name, with both values where they are
    short enough to read (``hyperparameters.lr 2e-05 -> 3e-05``)."""
    if isinstance(ours, dict) and isinstance(stored, dict):
        return [
            line
            for key in sorted(ours.keys() | stored.keys())
            if ours.get(key) != stored.get(key)
            for line in _differences(ours.get(key), stored.get(key), f"{name}.{key}".lstrip("."))
        ]
    values = f" {stored!r} -> {ours!r}"
    return [name + values if len(values) <= 60 else name]


def config_hash(config: Any) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass
class Progress:
    """A task's results so far, language by language, saved after each one, so an
    interrupted run redoes only the languages it had not finished."""

    languages: dict[str, Any] = field(default_factory=dict)  # scores of each scored language
    evaluated: dict[str, Any] = field(default_factory=dict)  # what each language was computed from
    gaps: list[str] = field(default_factory=list)
    save: Callable[[Progress], None] = lambda progress: None

    def done(self, lang: str) -> bool:
        """Scored: a language left with a gap is tried again on resume (its file may
        have been put in place since), which costs a read."""
        return lang in self.evaluated

    def record(self, lang: str, scores: dict[str, Any] | None = None, info: dict[str, Any] | None = None,
               gap: str | None = None) -> None:  # fmt: skip
        if scores is not None:
            self.languages[lang] = scores
        if info is not None:
            self.evaluated[lang] = info
        if gap is not None:
            self.gaps.append(f"{lang}: {gap}")
        self.save(self)


# what every task block holds, finished or not, and its JSON type; then what a block
# may hold, with the type the readers take it for
BLOCK_FIELDS = {"languages": dict, "task_languages": list}
BLOCK_OPTIONAL = {"settings": dict, "data": dict, "gaps": list, "evaluated": dict}
JSON_NAMES = {dict: "an object", list: "an array"}


def read_results(run_dir: Path) -> dict[str, Any]:
    """A run folder's results.json, checked to be one: a file that is not (another
    tool's, edited by hand) is refused naming what is wrong, not met by a traceback."""
    path = run_dir / "results.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{run_dir}: not a run folder (no results.json)") from None
    except ValueError as err:
        raise ConfigError(f"{path}: not valid JSON ({err}); move it away to start afresh") from None

    def refuse(where: str, expected: str) -> ConfigError:
        return ConfigError(f"{path}: not a harness results file ({where}: expected {expected})")

    if not isinstance(data, dict):
        raise refuse("the top level", "an object")
    results = data.get("results", {})
    if not isinstance(results, dict):
        raise refuse("results", "an object of task blocks")
    for task, block in results.items():
        if not isinstance(block, dict):
            raise refuse(f"results.{task}", "an object")
        for field_name, kind in (BLOCK_FIELDS | BLOCK_OPTIONAL).items():
            value = block.get(field_name)
            if not isinstance(value, kind) and (field_name in BLOCK_FIELDS or value is not None):
                raise refuse(f"results.{task}.{field_name}", JSON_NAMES[kind])
    return data


class RunStore:
    """One run folder. Task blocks are keyed by the hash of the settings they depend on.

    Every process of a multi-process run keeps the same data in memory; only the one
    with ``writes`` puts it on disk, so the files are written once."""

    def __init__(self, root: Path, writes: bool = True):
        self.root = root
        self.writes = writes
        self.results_path = root / "results.json"
        self.data: dict[str, Any] = read_results(root) if self.results_path.exists() else {}

    def start(self, config: dict[str, Any]) -> None:
        self.data.setdefault("schema_version", SCHEMA_VERSION)
        self.data.setdefault("created", time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        self.data["config"] = config
        self.data["environment"] = environment()
        self.data.setdefault("results", {})
        self.save()

    def finished(self, task: str, task_hash: str) -> dict[str, Any] | None:
        block = self.data.get("results", {}).get(task)
        if block and block.get("config_hash") == task_hash and not block.get("partial"):
            return block
        return None

    def progress(self, task: str, task_hash: str, header: dict[str, Any]) -> Progress:
        """The task's partial results from an interrupted run with the same settings (or
        none), saving each new language into results.json as it finishes."""
        block = self.data.get("results", {}).get(task) or {}
        same = block.get("config_hash") == task_hash and block.get("partial")
        evaluated = dict(block.get("evaluated", {})) if same else {}
        progress = Progress(
            languages=dict(block.get("languages", {})) if same else {},
            evaluated=evaluated,
            # the gaps of scored languages (a BUCC test split missing); the others are retried
            gaps=[g for g in block.get("gaps", []) if same and g.split(": ", 1)[0] in evaluated],
        )

        def save(p: Progress) -> None:
            self.put(
                task,
                header
                | {
                    "partial": True,
                    "languages": p.languages,
                    "evaluated": p.evaluated,
                    "gaps": p.gaps,
                },
            )

        progress.save = save
        return progress

    def put(self, task: str, block: dict[str, Any]) -> None:
        self.data.setdefault("results", {})[task] = block
        self.save()

    def put_predictions(self, task: str, name: str, rows: list[Any]) -> None:
        """Per-example predictions of one task on one split and language (``name``: "test-de")."""
        if self.writes:
            write_jsonl(self.root / "predictions" / task / f"{name}.jsonl", rows)

    def append_log(self, line: str) -> None:
        """The run's log beside its results (only the writing process appends)."""
        if self.writes:
            append_log(self.root, line)

    def update(self, **fields: Any) -> None:
        self.data.update(fields)
        self.save()

    def save(self) -> None:
        if self.writes:
            write_json(self.results_path, self.data)
