"""Run a list of targets into one run folder, task by task, resuming finished tasks."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from harness.data import read_split
from harness.engine.distributed import is_main, wait
from harness.errors import DataError, HarnessError
from harness.metrics import xtreme_score
from harness.metrics.xtreme_score import run_rollup
from harness.results import RunStore, check_output_folder, config_hash, guard_replacement
from harness.specs import TaskSpec
from harness.targets.finetune import TrainedTarget
from harness.targets.options import EvalOptions
from harness.targets.retrieval import RetrievalTarget

Log = Callable[[str], None]


def stage_for(task: TaskSpec, options: EvalOptions, log: Log) -> TrainedTarget | RetrievalTarget:
    """Retrieval targets embed without training; every other kind fine-tunes."""
    return (RetrievalTarget if task.kind == "retrieval" else TrainedTarget)(task, options, log)


def run_targets(tasks: Sequence[TaskSpec], options: EvalOptions, console: Log) -> dict[str, Any]:
    check_output_folder(options.output, options.model.folder, "run")
    store = RunStore(options.output, writes=is_main())
    wait()  # every process has read results.json before the main one rewrites it

    def log(line: str) -> None:
        console(line)
        store.append_log(line)

    # every refusal comes before anything is written: a refused command leaves the folder
    # as it was, its config and environment included
    plans = _plans(store, tasks, options, log)
    _check_evaluable(store, plans, options)
    store.start(
        {
            "command": "eval",
            "targets": [t.name for t in tasks],
            "options": options.describe(),
            "registry_entries": {t.name: _spec_dict(t) for t in tasks},
        }
    )
    for task, stage, settings, digest, done in plans:
        if done:
            log(f"{task.name}: already finished in {store.results_path} (same settings): reused")
            continue

        def save_predictions(name: str, rows: list[Any], task: TaskSpec = task) -> None:
            store.put_predictions(task.name, name, rows)

        header = {  # what even an unfinished block holds: a report reads its scores
            "kind": task.kind,
            "metric": task.metric,
            "config_hash": digest,
            "settings": settings,
            # XTREME's own list for its nine tasks: what its score and a submission need
            "task_languages": list(xtreme_score.xtreme_languages().get(task.name, task.languages)),
        }
        progress = store.progress(task.name, digest, header)
        if progress.evaluated:
            log(f"{task.name}: resuming: {len(progress.evaluated)} languages already done")
        block = stage.run(save_predictions, progress)
        store.put(
            task.name,
            {
                **header,
                **block,
            },
        )
    store.update(**run_rollup(store.data["results"]))
    return store.data


def finished_targets(
    tasks: Sequence[TaskSpec], options: EvalOptions, identity: dict[str, Any] | None = None
) -> list[str]:
    """The tasks a rerun into ``options.output`` would reuse: finished with these
    settings, the model's identity taken as ``identity`` where given (a checkpoint a
    sweep has yet to train)."""
    store = RunStore(options.output)
    finished = []
    for task in tasks:
        settings = stage_for(task, options, lambda _: None).settings()
        if identity is not None:
            settings["model"] = settings["model"] | {"identity": identity}
        if store.finished(task.name, config_hash(settings)):
            finished.append(task.name)
    return finished


def check_replaceable(tasks: Sequence[TaskSpec], options: EvalOptions) -> None:
    """Raise as ``run_targets`` would, at once, on a task finished in ``options.output``
    with other settings (without ``overwrite``); nothing is changed."""
    _plans(RunStore(options.output, writes=False), tasks, options, lambda _: None)


Plan = tuple[TaskSpec, TrainedTarget | RetrievalTarget, dict[str, Any], str, bool]


def _plans(
    store: RunStore, tasks: Sequence[TaskSpec], options: EvalOptions, log: Log
) -> list[Plan]:
    """Each task's stage, settings, their hash and whether it is finished with them in
    ``store``; raises on one finished with other settings (without ``overwrite``)."""
    plans: list[Plan] = []
    for task in tasks:
        stage = stage_for(task, options, log)
        settings = stage.settings()
        digest = config_hash(settings)
        done = store.finished(task.name, digest) is not None
        if not done:
            _guard_finished(store, task.name, settings, options.overwrite, log)
        plans.append((task, stage, settings, digest, done))
    return plans


def _check_evaluable(store: RunStore, plans: list[Plan], options: EvalOptions) -> None:
    """Before any target runs: a target to run none of whose languages can be scored (a
    language listed with no file, data missing offline) stops the command. Found at its
    own turn, it would stop the command after the targets before it had trained, and
    found after its own training, that training would be lost. One readable language
    is enough to go on; the others get their gaps as the target runs."""
    for task, stage, _, digest, done in plans:
        progress = store.progress(task.name, digest, {})
        if done or progress.evaluated:
            continue
        problems = []
        for lang in stage.languages:
            try:
                read_split(task, stage.scored_split, lang, options.data_dir)
                break
            except DataError as err:
                problems.append(f"{lang}: {err}")
        else:
            raise HarnessError(
                f"{task.name}: no language could be evaluated (checked before training):\n  "
                + "\n  ".join(problems)
            )


def _spec_dict(task: TaskSpec) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(task)


def _guard_finished(
    store: RunStore, task: str, settings: dict[str, Any], overwrite: bool, log: Log
) -> None:
    """A finished result computed with other settings is never replaced silently."""
    block = store.data.get("results", {}).get(task)
    if not block or block.get("partial"):
        return
    guard_replacement(
        settings, block["settings"], f"{store.results_path} already holds {task} computed",
        f"{task}: replacing the result computed", overwrite, log,
    )  # fmt: skip
