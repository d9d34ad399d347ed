"""Where jobs run: one after another in this process, or spread over a Ray cluster.

Both take the same jobs and the same job function and hand back the same outcomes;
retries and the "not run: its intermediate job failed" rule live once, in ``execute``,
which runs wherever the job runs (a Ray worker included), so neither backend repeats it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from harness.errors import ConfigError
from harness.sweep.jobs import Job
from harness.sweep.study import Resources

Runner = Callable[[Job], None]  # runs one job, raises on failure; module-level for Ray


@dataclass(frozen=True)
class Outcome:
    id: str
    status: str  # finished, failed, skipped or not_run
    attempts: int = 0
    seconds: float = 0.0
    error: str | None = None


Done = Callable[[Outcome], None]


def execute(job: Job, runner: Runner, retries: int, *dependencies: Outcome) -> Outcome:
    """One job with up to ``retries`` more attempts; a failure is an outcome, never raised."""
    failed = [d.id for d in dependencies if d.status in ("failed", "not_run")]
    if failed:
        return Outcome(job.id, "not_run", error=f"not run: {failed[0]} did not finish")
    started = time.time()
    error = None
    for attempt in range(1, retries + 2):
        try:
            runner(job)
        except Exception as err:
            error = f"{type(err).__name__}: {err}"
            continue
        return Outcome(job.id, "finished", attempt, round(time.time() - started, 1))
    return Outcome(job.id, "failed", retries + 1, round(time.time() - started, 1), error)


class Backend(Protocol):
    def run(self, jobs: Sequence[Job], runner: Runner, retries: int, done: Done) -> None:
        """Run ``jobs`` (dependencies first in the list), calling ``done`` with each outcome;
        a dependency not among them counts as finished."""


class LocalBackend:
    """One job at a time in this process, in the order given."""

    def run(self, jobs: Sequence[Job], runner: Runner, retries: int, done: Done) -> None:
        outcomes: dict[str, Outcome] = {}
        for job in jobs:
            needs = [outcomes[job.depends_on]] if job.depends_on in outcomes else []
            outcomes[job.id] = execute(job, runner, retries, *needs)
            done(outcomes[job.id])


class RayBackend:
    """Each job a Ray task asking for the study's CPUs and GPUs; a target job is handed its
    intermediate job's result, so Ray starts it once that training is over. Without an
    address (and no Ray already initialised here) a local Ray instance is started."""

    def __init__(self, address: str | None, resources: Resources):
        self.address = address
        self.resources = resources

    def run(self, jobs: Sequence[Job], runner: Runner, retries: int, done: Done) -> None:
        import ray

        started = not ray.is_initialized()
        if started:
            local = {"num_cpus": os.cpu_count()} if self.address is None else {}
            ray.init(address=self.address, include_dashboard=False, **local)
        try:
            self._check_cluster(ray.cluster_resources())
            task = ray.remote(execute).options(
                num_cpus=self.resources.cpus, num_gpus=self.resources.gpus, max_retries=0
            )
            refs = {}
            for job in jobs:
                needs = [refs[job.depends_on]] if job.depends_on in refs else []
                refs[job.id] = task.remote(job, runner, retries, *needs)
            waiting = {ref: job_id for job_id, ref in refs.items()}
            while waiting:
                (ready,), _ = ray.wait(list(waiting), num_returns=1)
                job_id = waiting.pop(ready)
                try:
                    done(ray.get(ready))
                except ray.exceptions.RayError as err:  # the worker itself died
                    done(Outcome(job_id, "failed", 1, error=f"{type(err).__name__}: {err}"))
        finally:
            if started:
                ray.shutdown()

    def _check_cluster(self, available: dict[str, float]) -> None:
        """A job asking for more than any cluster has would wait for ever: refuse it now."""
        for key, wanted in (("CPU", self.resources.cpus), ("GPU", self.resources.gpus)):
            if wanted > available.get(key, 0):
                raise ConfigError(
                    f"each job asks for {wanted:g} {key}s (resources:), "
                    f"the Ray cluster has {available.get(key, 0):g}"
                )
