"""A second identical ``harness eval`` against the first, in fresh processes.

Both write to new output folders (no resume), sharing one fresh ``HARNESS_CACHE``: the
second reuses the fine-tuned model, its predictions and the retrieval embeddings.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.measure import ROOT, SHARED_DATA, Figure, spread

ARGS = ["--model", "e5-small", "--targets", "pawsx,tatoeba", "--languages", "de,en,es,fr,ja,ko,zh",
        "--train-limit", "400", "--limit", "400", "--epochs", "1", "--batch-size", "8"]  # fmt: skip


def _eval(out: Path, cache: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "harness.cli", "eval", *ARGS, "--data-dir", str(SHARED_DATA / "xtreme"), "--output", str(out)],
        cwd=ROOT, env=os.environ | {"HARNESS_CACHE": str(cache)}, check=True, capture_output=True,
    )  # fmt: skip
    return time.perf_counter() - started


def _scores(out: Path) -> dict:
    results = json.loads((out / "results.json").read_text())["results"]
    return {task: block["languages"] for task, block in results.items()}


def run(repeat: int) -> list[Figure]:
    from harness.models.e5_small import e5_small_path

    # the e5-small conversion (built once per machine, in the user's cache) is no part
    # of either eval: each fresh cache gets it as it is, and is empty otherwise
    converted = e5_small_path()
    firsts, seconds_, ratios = [], [], []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as scratch:
            root = Path(scratch)
            (root / "cache" / "models").mkdir(parents=True)
            (root / "cache" / "models" / converted.name).symlink_to(converted)
            first = _eval(root / "first", root / "cache")
            second = _eval(root / "second", root / "cache")
            if _scores(root / "first") != _scores(root / "second"):
                raise RuntimeError("the cached eval gave other results than the first")
            firsts.append(first)
            seconds_.append(second)
            ratios.append(first / second)
    return [
        Figure("cache", "second identical harness eval vs the first", "seconds", spread(seconds_),
               "first eval (empty cache)", spread(firsts), spread(ratios),
               {"command": "harness eval " + " ".join(ARGS), "repeat": repeat})
    ]  # fmt: skip
