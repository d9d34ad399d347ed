"""``python -m bench``: run the benchmarks, print a table, write JSON.

python -m bench                      # everything (about 30 min on 2 cores)
python -m bench --only encoding,cache --repeat 3 --out runs/bench.json
python -m bench --quick              # smaller inputs, a smoke run of every benchmark
"""

from __future__ import annotations

import argparse
import importlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.measure import Figure
from harness.results import environment, write_json


def _e5() -> tuple[Any, Any, Any]:
    from harness.models.encoder import load_model, load_tokenizer
    from harness.registry import load_registry

    spec = load_registry().model("e5-small")
    return spec, load_model(spec, "AutoModel").eval(), load_tokenizer(spec)


def _benchmarks(quick: bool) -> dict[str, Callable[[int, Any], list[Any]]]:
    """name -> run(repeat, e5) where e5() gives the lazily loaded (spec, model, tokenizer);
    each benchmark module is imported only when it runs."""

    def bench(name: str) -> Any:
        return importlib.import_module(f"bench.{name}")

    return {
        "startup": lambda r, e5: bench("startup").run(r),
        "encoding": lambda r, e5: bench("encoding").run(
            e5()[1], e5()[2], r, 500 if quick else 2000
        ),
        "accuracy": lambda r, e5: bench("accuracy").run(e5()[1], e5()[2], 100 if quick else None),
        "prediction": lambda r, e5: bench("prediction").run(e5()[0], e5()[2], r),
        "training": lambda r, e5: bench("training").run(e5()[0], e5()[2], r),
        "mining": lambda r, e5: bench("mining").run(
            r, [10_000] if quick else [10_000, 100_000, 1_000_000]
        ),
        "cache": lambda r, e5: bench("cache").run(1 if quick else min(r, 2)),
        "sweep": lambda r, e5: bench("sweep_overhead").measure(1 if quick else r),
    }


def _row(item: Figure | dict[str, Any]) -> dict[str, Any]:
    return item.as_dict() if isinstance(item, Figure) else item


def _span(values: dict[str, float] | None, digits: int = 1) -> str:
    if not values:
        return ""
    centre = values["median"] if "median" in values else values["mean"]  # accuracy: a mean
    return f"{centre:,.{digits}f} [{values['min']:,.{digits}f}-{values['max']:,.{digits}f}]"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--only", default="", help="comma-separated benchmark names")
    parser.add_argument("--repeat", type=int, default=5, help="repetitions per figure")
    parser.add_argument("--quick", action="store_true", help="smaller inputs")
    parser.add_argument("--out", type=Path, default=Path("runs/bench.json"))
    args = parser.parse_args()
    benchmarks = _benchmarks(args.quick)
    chosen = [n for n in args.only.split(",") if n] or list(benchmarks)
    unknown = sorted(set(chosen) - set(benchmarks))
    if unknown:
        parser.error(
            f"--only: unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(benchmarks)}"
        )
    loaded: list[Any] = []

    def e5() -> Any:
        if not loaded:
            loaded.append(_e5())
        return loaded[0]

    rows: list[dict[str, Any]] = []
    measured_on = environment()  # the code and packages as the run starts
    for name in chosen:
        started = time.perf_counter()
        rows += [_row(item) for item in benchmarks[name](args.repeat, e5)]
        print(f"{name}: {time.perf_counter() - started:.0f} s", flush=True)
        write_json(args.out, {"environment": measured_on, "repeat": args.repeat,
                              "quick": args.quick, "figures": rows})  # fmt: skip
    _print(rows)
    print(f"written: {args.out}")


def _print(rows: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        "bench",
        "case",
        "ours: median (a mean: accuracy) [min-max]",
        "unit",
        "reference",
        "reference value",
        "ratio",
    )
    for row in rows:
        table.add_row(
            row["bench"], row["case"], _span(row.get("value")), row.get("measure", ""),
            row.get("reference", ""), _span(row.get("reference_value")), _span(row.get("ratio"), 2),
        )  # fmt: skip
    Console(width=200).print(table)
    for row in rows:
        if row.get("notes"):
            print(f"{row['bench']} / {row['case']}: {json.dumps(row['notes'], default=str)[:400]}")


if __name__ == "__main__":
    main()
