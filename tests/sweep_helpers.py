"""Job functions for the sweep tests. Module-level, so Ray runs them in its workers (which
import this module: tests/ must be on their PYTHONPATH); state lives in files, not memory."""

from __future__ import annotations

import os
from pathlib import Path

from harness.sweep.jobs import INTERMEDIATE, Job, run_job

FLAKY_JOB = "SWEEP_TEST_FLAKY_JOB"  # the id of the job whose first attempt fails
FLAKY_MARK = "SWEEP_TEST_FLAKY_MARK"  # a file written by that first attempt


def flaky_run_job(job: Job) -> None:
    """The real job, except that the first attempt of one chosen job fails."""
    mark = Path(os.environ[FLAKY_MARK])
    if job.id == os.environ[FLAKY_JOB] and not mark.exists():
        mark.write_text(job.id, encoding="utf-8")
        raise RuntimeError("injected failure of the first attempt")
    run_job(job)


def broken_intermediate(job: Job) -> None:
    """Every intermediate training fails; a target job that runs at all is a bug."""
    if job.kind == INTERMEDIATE:
        raise RuntimeError("injected intermediate failure")
    raise AssertionError(f"{job.id} ran although its intermediate training failed")
