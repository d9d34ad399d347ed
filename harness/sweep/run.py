"""The sweep: decide which jobs still need running, run them on a backend, and keep
``sweep.json`` up to date after every job, so an interrupted sweep is resumed by running
it again and a finished one says what happened to each job."""

from __future__ import annotations

import contextlib
import os
import platform
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from harness.errors import ConfigError
from harness.registry import trained_summary
from harness.results import write_json
from harness.sweep.backends import Backend, Outcome, Runner
from harness.sweep.jobs import INTERMEDIATE, Job, expand, job_done, run_job
from harness.sweep.study import StudySpec

Log = Callable[[str], None]
SWEEP_JSON = "sweep.json"
LOCK_FILE = ".sweep.lock"
PROBLEMS = ("failed", "not_run")


def pending_jobs(jobs: list[Job]) -> list[Job]:
    """The jobs to run: not finished with the same settings; an intermediate training
    only while one of its target jobs still needs it (a checkpoint deleted after its
    targets finished is not trained again). A checkpoint on disk trained with other
    settings (one of the study's changed) makes every target of it pending: their
    results came from the old checkpoint."""
    stale = {job.id for job in jobs if job.kind == INTERMEDIATE and not job_done(job)}
    changed = {
        job.id for job in jobs if job.id in stale and trained_summary(job.output) is not None
    }
    targets = {
        job.id
        for job in jobs
        if job.kind != INTERMEDIATE and (job.depends_on in changed or not job_done(job))
    }
    needed = {job.depends_on for job in jobs if job.id in targets}
    return [job for job in jobs if job.id in targets or job.id in needed & stale]


@contextlib.contextmanager
def sweep_lock(folder: Path) -> Iterator[None]:
    """Held while a sweep runs into ``folder``: a second sweep of it (the same command
    started twice) would run the same jobs into the same run folders at once, and the
    last to write ``sweep.json`` would win. An advisory lock the system drops with its
    process, so a killed sweep leaves none behind."""
    import fcntl

    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / LOCK_FILE, "a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise ConfigError(
                f"{folder}: another sweep is running into this folder ({holder}); "
                "wait for it, or stop it and run this one again"
            ) from None
        handle.truncate(0)
        handle.write(f"pid {os.getpid()} on {platform.node()}\n")
        handle.flush()
        yield


def run_sweep(
    study: StudySpec,
    backend: Backend,
    backend_name: str,
    runner: Runner = run_job,
    retries: int | None = None,
    log: Log = print,
) -> dict[str, Any]:
    """Run the study's unfinished jobs; returns what ``sweep.json`` holds."""
    with sweep_lock(study.output):
        return _run_sweep(study, backend, backend_name, runner, retries, log)


def _run_sweep(
    study: StudySpec, backend: Backend, backend_name: str, runner: Runner,
    retries: int | None, log: Log,
) -> dict[str, Any]:  # fmt: skip
    started = time.time()
    jobs = expand(study)
    todo = pending_jobs(jobs)
    outcomes = {job.id: Outcome(job.id, "skipped") for job in jobs}
    outcomes |= {job.id: Outcome(job.id, "pending") for job in todo}
    retries = study.retries if retries is None else retries
    log(f"{len(jobs)} jobs: {len(jobs) - len(todo)} already finished, {len(todo)} to run")

    def save() -> dict[str, Any]:
        summary = _summary(study, jobs, outcomes, backend_name, retries, time.time() - started)
        write_json(study.output / SWEEP_JSON, summary)
        return summary

    def done(outcome: Outcome) -> None:
        outcomes[outcome.id] = outcome
        tries = f" after {outcome.attempts} attempts" if outcome.attempts > 1 else ""
        said = f": {outcome.error}" if outcome.status in PROBLEMS else ""
        log(f"{outcome.status}{tries}: {outcome.id} ({outcome.seconds:.0f} s){said}")
        save()

    save()
    backend.run(todo, runner, retries, done)
    return save()


def _summary(study: StudySpec, jobs: list[Job], outcomes: dict[str, Outcome], backend: str,
             retries: int, seconds: float) -> dict[str, Any]:  # fmt: skip
    statuses = [outcomes[job.id].status for job in jobs]
    return {
        "name": study.name,
        "study": str(study.path),
        "backend": backend,
        "retries": retries,
        "seconds": round(seconds, 1),
        "counts": {status: statuses.count(status) for status in dict.fromkeys(statuses)},
        "jobs": [
            {
                "id": job.id,
                "kind": job.kind,
                "status": outcomes[job.id].status,
                "attempts": outcomes[job.id].attempts,
                "seconds": outcomes[job.id].seconds,
                "run_folder": str(job.output),
                "depends_on": job.depends_on,
                "error": outcomes[job.id].error,
            }
            for job in jobs
        ],
    }


def problems(summary: dict[str, Any]) -> list[str]:
    """One line per job that failed or could not run, naming it and its last error."""
    return [
        f"{job['id']}: failed ({job['attempts']} attempt{'s' * (job['attempts'] > 1)}), "
        f"last error: {job['error']}"
        if job["status"] == "failed"
        else f"{job['id']}: {job['error']}"
        for job in summary["jobs"]
        if job["status"] in PROBLEMS
    ]
