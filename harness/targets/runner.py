"""Run a list of targets into one run folder, task by task, resuming finished tasks."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from harness.results import RunStore, config_hash
from harness.specs import TaskSpec
from harness.targets.finetune import TrainedTarget
from harness.targets.options import EvalOptions

Log = Callable[[str], None]


def stage_for(task: TaskSpec, options: EvalOptions, log: Log) -> Any:
    """Retrieval targets embed without training; every other kind fine-tunes."""
    return TrainedTarget(task, options, log)


def run_targets(tasks: Sequence[TaskSpec], options: EvalOptions, log: Log) -> dict[str, Any]:
    store = RunStore(options.output)
    store.start(
        {
            "command": "eval",
            "targets": [t.name for t in tasks],
            "options": options.describe(),
            "registry_entries": {t.name: _spec_dict(t) for t in tasks},
        }
    )
    for task in tasks:
        stage = stage_for(task, options, log)
        settings = stage.settings()
        digest = config_hash(settings)
        if store.finished(task.name, digest):
            log(f"{task.name}: already finished in {store.results_path} (same settings): reused")
            continue

        def save_predictions(lang: str, rows: list[Any], task: TaskSpec = task, split: str = stage.splits["eval"]) -> None:
            store.put_predictions(task.name, lang, split, rows)

        block = stage.run(save_predictions)
        store.put(task.name, {"config_hash": digest, "settings": settings, **block})
    return store.data


def _spec_dict(task: TaskSpec) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(task)
