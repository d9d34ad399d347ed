"""What running a sweep's jobs as Ray tasks costs against running them in this process:
the same six tiny target jobs (tiny model, tiny data, as the tests build them), timed
with the local backend and with the Ray backend, with and without starting Ray.

    PYTHONPATH=. python -m bench.sweep_overhead [REPEAT]
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from bench.measure import Figure, spread
from harness.sweep.backends import Backend, LocalBackend, RayBackend
from harness.sweep.run import run_sweep
from harness.sweep.study import StudySpec, load_study
from tests.tiny_model import build_tiny_model, write_xtreme


def _study(root: Path) -> StudySpec:
    """The baseline on PAWS-X and Tatoeba, three seeds: six independent jobs. No cache of
    fine-tuned models, so every run trains."""
    path = root / "study.yaml"
    settings = {"data_dir": str(write_xtreme(root / "download")), "languages": "en,de",
                "epochs": 1, "batch_size": 8, "max_length": 32, "limit": 10, "train_limit": 16,
                "cache": False}  # fmt: skip
    fields = {"models": [str(build_tiny_model(root / "model"))], "baseline": True,
              "targets": ["pawsx", "tatoeba"], "seeds": [1, 2, 3], "settings": settings}  # fmt: skip
    path.write_text(yaml.safe_dump(fields), encoding="utf-8")
    return load_study(path)


def _seconds(study: StudySpec, backend: Backend, name: str, run: int) -> float:
    fresh = replace(study, output=study.path.parent / f"{name}-{run}")
    started = time.perf_counter()
    summary = run_sweep(fresh, backend, name, log=lambda _: None)
    seconds = time.perf_counter() - started
    if summary["counts"] != {"finished": 6}:
        raise RuntimeError(f"{name}: not every job finished: {summary['counts']}")
    return seconds


def _row(case: str, timed: list[float], local: list[float]) -> Figure:
    """Ray's seconds against the local backend's, repetition by repetition (ratio < 1:
    Ray is slower)."""
    ratios = [b / a for a, b in zip(timed, local, strict=True)]
    return Figure(
        "sweep", case, "seconds", spread(timed), "local backend", spread(local), spread(ratios)
    )


def measure(repeat: int = 3) -> list[Figure]:
    import ray

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        os.environ["HARNESS_CACHE"] = str(root / "cache")
        study = _study(root)
        ray_backend = RayBackend(None, study.resources)

        def times(name: str, backend: Backend, before: Callable[[], Any] = lambda: None,
                  after: Callable[[], Any] = lambda: None) -> list[float]:  # fmt: skip
            timed = []
            for run in range(repeat):
                before()
                timed.append(_seconds(study, backend, name, run))
                after()
            return timed

        _seconds(study, LocalBackend(), "warm-up", 0)  # imports and first loads, not timed
        local = times("local", LocalBackend())
        with_init = times("ray", ray_backend)  # the backend starts and stops Ray itself
        started = times("ray-running", ray_backend,
                        lambda: ray.init(num_cpus=os.cpu_count(), include_dashboard=False),
                        ray.shutdown)  # fmt: skip
    return [
        _row("ray vs local, 6 tiny jobs (Ray started and stopped by the sweep)", with_init, local),
        _row("ray vs local, 6 tiny jobs (Ray already running)", started, local),
    ]


def main() -> None:
    figures = measure(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
    print(json.dumps([f.as_dict() for f in figures], indent=2))


if __name__ == "__main__":
    main()
