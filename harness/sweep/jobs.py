"""A study as jobs: one per intermediate training and one per target run, with stable,
readable ids (``MODEL/CONFIG/seedN/TARGET``) that are also their folders in the sweep.

The intermediate training of a (model, configuration, seed) is its own job, shared by
that configuration's target jobs, which depend on it. A job is plain data, so Ray can
ship it to another machine; ``run_job`` rebuilds its options there, through the same
helpers as ``harness run``.
"""

from __future__ import annotations

import functools
import os
import platform
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from harness.errors import ConfigError
from harness.sweep.study import StudySpec

BASELINE = "baseline"
INTERMEDIATE = "intermediate"


@dataclass(frozen=True)
class Setup:
    """What every job of a study shares."""

    registry: tuple[str, ...]
    targets: tuple[str, ...]  # the study's, against which `languages` is checked
    options: dict[str, Any]  # every option of `harness run` but the seed


@dataclass(frozen=True)
class Job:
    id: str
    kind: str  # INTERMEDIATE (train a checkpoint) or "target" (one run folder)
    model: str
    intermediates: tuple[str, ...]  # the configuration; () for the baseline
    target: str | None
    seed: int
    output: Path  # the checkpoint or run folder
    setup: Setup
    checkpoint: Path | None = None  # a target job's intermediate checkpoint
    depends_on: str | None = None


def expand(study: StudySpec) -> list[Job]:
    """Every job of the study, each intermediate job before the target jobs that need it."""
    from harness.cli import model_label

    setup = Setup(study.registry, study.targets, study.options)
    configurations = [*([()] if study.baseline else []), *study.intermediates]
    jobs: list[Job] = []
    for model in study.models:
        for configuration in configurations:
            for seed in study.seeds:
                name = f"{model_label(model)}/{'+'.join(configuration) or BASELINE}/seed{seed}"
                common = dict(model=model, intermediates=configuration, seed=seed, setup=setup)
                training = None
                if configuration:
                    training = Job(f"{name}/{INTERMEDIATE}", INTERMEDIATE, target=None,
                                   output=study.output / name / INTERMEDIATE, **common)  # fmt: skip
                    jobs.append(training)
                for target in study.targets:
                    jobs.append(
                        Job(
                            f"{name}/{target}",
                            "target",
                            target=target,
                            output=study.output / name / target,
                            checkpoint=training.output if training else None,
                            depends_on=training.id if training else None,
                            **common,
                        )
                    )
    ids = [job.id for job in jobs]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        raise ConfigError(
            f"{study.path}: two jobs would share the folder {twice[0]}: two models with one "
            f"folder name, or a task named {BASELINE!r} or {INTERMEDIATE!r}"
        )
    return jobs


@functools.cache
def _registry(files: tuple[str, ...]) -> Any:
    from harness.registry import load_registry

    return load_registry(files)


def _resolve(job: Job) -> tuple[Any, list[Any]]:
    """The job's options and tasks, resolved as ``harness run`` resolves its own."""
    from harness.cli import eval_options, intermediate_options
    from harness.intermediates.pipeline import checkpoint_model

    registry = _registry(job.setup.registry)
    model = registry.model(job.model)
    o = job.setup.options | {"seed": job.seed, "registries": job.setup.registry}
    if job.kind == INTERMEDIATE:
        tasks = registry.expand(job.intermediates, "intermediates")
        return intermediate_options(model, job.output, o, tasks), tasks
    if job.checkpoint is not None:
        model = checkpoint_model(model, job.checkpoint)
    options = eval_options(registry, model, job.output, o, registry.expand(job.setup.targets))
    return options, [registry.target(job.target)]


def job_done(job: Job) -> bool:
    """Finished earlier with the same settings: what ``harness run`` itself would reuse.
    A target of a checkpoint not on disk (deleted to free space, or never finished) is
    judged with the identity that checkpoint has once trained with the study's settings
    (``cache.checkpoint_identity``), so finished targets need no training again."""
    from harness.cache import checkpoint_identity
    from harness.intermediates.stage import finished
    from harness.registry import trained_summary
    from harness.results import config_hash
    from harness.targets.runner import finished_targets

    options, tasks = _resolve(job)
    if job.kind == INTERMEDIATE:
        return finished(options.output, options.settings()) is not None
    if job.checkpoint is None or trained_summary(job.checkpoint) is not None:
        return finished_targets(tasks, options) == [job.target]
    training, _ = _resolve(replace(job, kind=INTERMEDIATE, target=None, output=job.checkpoint))
    identity = checkpoint_identity(job.checkpoint.resolve(), config_hash(training.settings()))
    return finished_targets(tasks, options, identity) == [job.target]


def job_refusal(job: Job) -> str | None:
    """Why the job would stop as it starts, if it would: its folder holds a result or
    checkpoint computed with other settings, and no ``overwrite`` (``--dry-run`` says so)."""
    from harness.intermediates.stage import check_replaceable as check_checkpoint
    from harness.targets.runner import check_replaceable as check_results

    options, tasks = _resolve(job)
    try:
        if job.kind == INTERMEDIATE:
            check_checkpoint(options)
        else:
            check_results(tasks, options)
    except ConfigError as err:
        return str(err)
    return None


def run_job(job: Job) -> None:
    """Run one job in this process (the sweep's own, or a Ray worker's); raises on failure.
    Its log goes to ``log.txt`` in its folder."""
    from harness.results import append_log

    append_log(job.output, f"sweep job {job.id} on {platform.node()} (pid {os.getpid()})")
    options, tasks = _resolve(job)
    if job.kind == INTERMEDIATE:
        from harness.intermediates.stage import train_intermediate

        train_intermediate(options, lambda line: append_log(job.output, line))
    else:
        from harness.targets.runner import run_targets

        run_targets(tasks, options, lambda _: None)
