"""Where jobs run: one after another in this process, or spread over a Ray cluster.

Both take the same jobs and the same job function and hand back the same outcomes. The
"not run: its intermediate job failed" rule lives once, in ``execute`` (one attempt at a
job, run wherever the job runs, a Ray worker included), and the retry rule once, in
``again``, asked by both backends after each attempt. On Ray each attempt is a task of
its own, so a worker that dies (killed for memory, crashed) costs one counted attempt,
as a job that raises does: a count kept in the worker would die with it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from harness.errors import ConfigError
from harness.sweep.jobs import Job
from harness.sweep.study import Resources

Runner = Callable[[Job], None]  # runs one job, raises on failure; module-level for Ray
ANSI = re.compile(r"\x1b\[[0-9;]*m")  # Ray colours its errors for a terminal


@dataclass(frozen=True)
class Outcome:
    id: str
    status: str  # finished, failed, skipped or not_run
    attempts: int = 0
    seconds: float = 0.0
    error: str | None = None


Done = Callable[[Outcome], None]


def execute(
    job: Job, runner: Runner, *dependencies: Outcome, before: Outcome | None = None
) -> Outcome:
    """One attempt at the job, counted after the failed ones ``before`` it; none if its
    intermediate job did not finish. A failure is an outcome, never raised."""
    failed = [d.id for d in dependencies if d.status in ("failed", "not_run")]
    if failed:
        return Outcome(job.id, "not_run", error=f"not run: {failed[0]} did not finish")
    started = time.time()
    try:
        runner(job)
    except Exception as err:
        return attempted(job, before, time.time() - started, err)
    return attempted(job, before, time.time() - started)


def attempted(
    job: Job, before: Outcome | None, seconds: float, error: BaseException | None = None
) -> Outcome:
    """The outcome of one more attempt: attempts and seconds add up over a job's attempts,
    the error is the last one's, in plain text (sweep.json and the log are no terminal)."""
    attempts, spent = (before.attempts, before.seconds) if before else (0, 0.0)
    said = None if error is None else ANSI.sub("", f"{type(error).__name__}: {error}")
    status = "finished" if error is None else "failed"
    return Outcome(job.id, status, attempts + 1, round(spent + seconds, 1), said)


def again(outcome: Outcome, retries: int) -> bool:
    """Whether a job gets another attempt: its last one failed, with fewer than
    ``retries`` + 1 made."""
    return outcome.status == "failed" and outcome.attempts <= retries


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
            outcome = execute(job, runner, *needs)
            while again(outcome, retries):
                outcome = execute(job, runner, *needs, before=outcome)
            outcomes[job.id] = outcome
            done(outcome)


class RayBackend:
    """Each attempt at a job a Ray task asking for the study's CPUs and GPUs. A target job
    is submitted once its intermediate job's outcome is in, and handed it (a value, not a
    Ray reference: one whose worker died would fail the target itself); a worker that
    dies fails its attempt like a job that raised. Without an address (and no Ray already
    initialised here), Ray's own search decides: the cluster ``RAY_ADDRESS`` names, else
    one ``ray start`` began on this machine, else a new local instance on its cores."""

    def __init__(self, address: str | None, resources: Resources):
        self.address = address
        self.resources = resources

    def run(self, jobs: Sequence[Job], runner: Runner, retries: int, done: Done) -> None:
        import ray

        started = not ray.is_initialized()
        if started:  # no CPU count: Ray refuses one when it joins a running cluster
            ray.init(address=self.address, include_dashboard=False)
        try:
            self._check_cluster(ray.cluster_resources())
            task = ray.remote(execute).options(
                num_cpus=self.resources.cpus, num_gpus=self.resources.gpus, max_retries=0
            )
            running: dict[ray.ObjectRef, tuple[Job, tuple[Outcome, ...], Outcome | None]] = {}

            def submit(job: Job, needs: tuple[Outcome, ...], before: Outcome | None) -> None:
                running[task.remote(job, runner, *needs, before=before)] = (job, needs, before)

            ids = {job.id for job in jobs}
            targets: dict[str, list[Job]] = {}
            for job in jobs:
                if job.depends_on in ids:
                    targets.setdefault(job.depends_on, []).append(job)
                else:
                    submit(job, (), None)
            while running:
                (ready,), _ = ray.wait(list(running), num_returns=1)
                job, needs, before = running.pop(ready)
                try:
                    outcome = ray.get(ready)
                except ray.exceptions.RayError as err:  # the worker died (killed, crashed)
                    outcome = attempted(job, before, 0.0, err)  # for how long, it cannot say
                if again(outcome, retries):
                    submit(job, needs, outcome)
                    continue
                done(outcome)
                for target in targets.pop(job.id, []):
                    submit(target, (outcome,), None)
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
