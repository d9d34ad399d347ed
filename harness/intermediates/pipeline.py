"""The study: intermediate training, then the targets from its checkpoint, per seed,
against the same targets with no intermediate step.

Every piece lands in its own folder under the study root and resumes on its own
(a finished intermediate checkpoint or target is reused), so an interrupted study
picks up where it stopped.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.table import Table

from harness.engine.distributed import is_main
from harness.intermediates.stage import IntermediateOptions, train_intermediate
from harness.results import STUDY_FILE, write_json
from harness.specs import ModelSpec, TaskSpec
from harness.targets.options import EvalOptions
from harness.targets.runner import run_targets

Log = Callable[[str], None]
ARMS = ("baseline", "intermediate")


def _spread(values: list[float]) -> dict[str, Any]:
    return {
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
        "values": values,
    }


def checkpoint_model(base: ModelSpec, checkpoint: Path) -> ModelSpec:
    """The intermediate checkpoint as the targets' model; it keeps the base model's input
    conventions (e5's "query: " prefix). Named by its absolute path, as ``--model CKPT``
    is: the name is part of every target result's settings."""
    folder = str(checkpoint.resolve())
    return replace(base, name=folder, source="local", path=folder, revision=None)


def run_study(
    root: Path,
    intermediate: IntermediateOptions,
    evaluation: EvalOptions,
    targets: Sequence[TaskSpec],
    seeds: Sequence[int],
    baseline: bool,
    log: Log,
) -> dict[str, Any]:
    runs: dict[str, dict[int, dict[str, Any]]] = {arm: {} for arm in ARMS}
    summaries = {}
    for seed in seeds:
        checkpoint = root / f"intermediate-seed{seed}"
        log(
            f"seed {seed}: intermediate training on {', '.join(t.name for t in intermediate.tasks)}"
        )
        summaries[seed] = train_intermediate(
            replace(intermediate, seed=seed, output=checkpoint), log
        )
        log(f"seed {seed}: targets from the intermediate checkpoint")
        runs["intermediate"][seed] = run_targets(
            targets,
            replace(
                evaluation,
                model=checkpoint_model(evaluation.model, checkpoint),
                seed=seed,
                output=root / f"targets-seed{seed}",
            ),
            log,
        )
        if baseline:
            log(f"seed {seed}: baseline targets (no intermediate step)")
            runs["baseline"][seed] = run_targets(
                targets, replace(evaluation, seed=seed, output=root / f"baseline-seed{seed}"), log
            )
    study = {
        "model": evaluation.model.name,
        "intermediates": [t.name for t in intermediate.tasks],
        "targets": [t.name for t in targets],
        "seeds": list(seeds),
        "intermediate_dev": {seed: s["tasks"] for seed, s in summaries.items()},
        "parameters": {seed: s["parameters"] for seed, s in summaries.items()},
        "arms": {arm: _arm_scores(by_seed, targets) for arm, by_seed in runs.items() if by_seed},
        "folders": {
            arm: {
                seed: str(root / f"{'baseline' if arm == 'baseline' else 'targets'}-seed{seed}")
                for seed in by_seed
            }
            for arm, by_seed in runs.items()
        },
    }
    if is_main():
        write_json(root / STUDY_FILE, study)
    return study


def _arm_scores(by_seed: dict[int, dict[str, Any]], targets: Sequence[TaskSpec]) -> dict[str, Any]:
    """Per task (and XTREME score where present): mean and spread over the seeds."""
    scores: dict[str, Any] = {}
    for task in targets:
        values = [data["results"][task.name]["score"] for data in by_seed.values()]
        if all(v is not None for v in values):
            scores[task.name] = _spread(values)
    xtreme = [data.get("xtreme_score") for data in by_seed.values()]
    if all(v is not None for v in xtreme):
        scores["xtreme_score"] = _spread(xtreme)
    return scores


def study_table(study: dict[str, Any]) -> Table:
    arms = study["arms"]
    against = " vs no intermediate step" if "baseline" in arms else ""
    seeds = ", ".join(map(str, study["seeds"]))
    title = f"{study['model']}: {' + '.join(study['intermediates'])}{against} (seeds {seeds})"
    table = Table(title=escape(title), title_justify="left")
    table.add_column("task")
    for arm in ARMS:
        if arm in arms:
            table.add_column(arm, justify="right")
    if len(arms) == 2:
        table.add_column("difference", justify="right")
    for row in [*study["targets"], "xtreme_score"]:
        cells = [arms[arm].get(row) for arm in ARMS if arm in arms]
        if not any(cells):
            continue
        shown = ["-" if c is None else f"{c['mean']:.1f} ± {c['std']:.1f}" for c in cells]
        if len(cells) == 2 and None not in cells:
            diff = cells[1]["mean"] - cells[0]["mean"]
            shown.append(f"[{'green' if diff > 0 else 'red'}]{diff:+.1f}[/]")
        elif len(cells) == 2:
            shown.append("-")
        table.add_row("XTREME" if row == "xtreme_score" else escape(row), *shown)
    return table
