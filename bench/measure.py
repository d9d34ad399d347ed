"""Timing and reporting shared by the benchmarks.

A figure is measured over several repetitions, the reference approach interleaved
with ours so that drift in machine load hits both; ratios are taken per repetition
and summarised as median, min and max.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"


def spread(values: Sequence[float]) -> dict[str, float]:
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
    }


@dataclass
class Figure:
    """One benchmark line: our value, the reference's, and their ratio (>1: ours better)."""

    bench: str
    case: str
    measure: str  # what ``value`` counts, e.g. "tokens/s", "seconds", "GB"
    value: dict[str, float]
    reference: str = ""
    reference_value: dict[str, float] | None = None
    ratio: dict[str, float] | None = None
    notes: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def seconds(run: Callable[[], Any]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def compare(
    bench: str,
    case: str,
    ours: Callable[[], Any],
    reference: Callable[[], Any],
    reference_name: str,
    repeat: int,
    work: float | None = None,
    unit: str = "seconds",
    reference_work: float | None = None,
    warmup: bool = True,
) -> Figure:
    """Time ``ours`` and ``reference`` alternately. With ``work`` (items per call) the
    values are throughputs (work / s) and the ratio ours / reference; without, the
    values are seconds and the ratio reference / ours (a speed-up either way).
    ``reference_work`` lets a slow reference run on a sample of the same items."""
    if warmup:
        ours()
        reference()
    mine, theirs = [], []
    for _ in range(repeat):
        mine.append(seconds(ours))
        theirs.append(seconds(reference))
    if work is not None:
        mine = [work / s for s in mine]
        theirs = [(reference_work or work) / s for s in theirs]
        ratios = [a / b for a, b in zip(mine, theirs, strict=True)]
    else:
        ratios = [b / a for a, b in zip(mine, theirs, strict=True)]
    return Figure(bench, case, unit, spread(mine), reference_name, spread(theirs), spread(ratios))
