"""BUCC-style mining benchmark: time and peak memory of ``mine_candidates``.

Exact two-way search (float32 and bfloat16 proposals) on random unit vectors up to
100k per side; the IVF option at larger sizes on a synthetic parallel corpus with
structure (clustered sources, targets = shuffled noisy copies), where its recall
against exact search is measured on a sample. That recall says how IVF does on this
corpus, not on every corpus: its 2,000 clusters suit the index's 2,048 lists, and on
200k vectors around 20,000 clusters the same nprobe of 4 found 40% of the exact
neighbours (a corpus of your own: measure it with more probes, ``nprobe``). The
reference builds the full similarity matrix and is run only where that matrix fits
in memory.

Each case runs in a fresh subprocess, which reports its own peak RSS (VmHWM).

    PYTHONPATH=. python -m bench.mining [--sizes 10000,100000,1000000] [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Any

import numpy as np

from bench.measure import Figure, spread
from harness.metrics.retrieval import KnnSearch, margin_candidates, mine_candidates

DIM = 384  # e5-small's width
K = 4
EXACT_UP_TO = 100_000
REFERENCE_BYTES = 8 * 2**30  # run the full matrix only where it takes at most this
RECALL_SAMPLE = 1000
IVF = KnnSearch(ivf_lists=2048, nprobe=4, ivf_storage="sq8")


def _label(n: int) -> str:
    return f"{n // 1_000_000}M" if n % 1_000_000 == 0 else f"{n // 1000}k"


def _random_unit(n: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, DIM), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def _parallel_corpus(n: int, seed: int, chunk: int = 65536) -> tuple[np.ndarray, np.ndarray]:
    """Float16 sources around 2000 centres and their translations (source + noise,
    normalised, shuffled): true neighbours exist, as in a real comparable corpus.
    Built in chunks so that only the two float16 matrices are ever whole."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((2000, DIM), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    src = np.empty((n, DIM), dtype=np.float16)
    trg = np.empty((n, DIM), dtype=np.float16)
    place = rng.permutation(n)
    for start in range(0, n, chunk):
        rows = min(chunk, n - start)
        x = centres[rng.integers(0, len(centres), rows)]
        x += rng.standard_normal((rows, DIM), dtype=np.float32) / np.sqrt(DIM)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        y = x + 0.5 * rng.standard_normal((rows, DIM), dtype=np.float32) / np.sqrt(DIM)
        y /= np.linalg.norm(y, axis=1, keepdims=True)
        src[start : start + rows] = x
        trg[place[start : start + rows]] = y
    return src, trg


def _ids(n: int, side: str) -> dict[str, int]:
    return {f"{side}{i}": i for i in range(n)}


def _reference(src: np.ndarray, trg: np.ndarray) -> None:
    """Mining from the full similarity matrix: argpartition along rows and columns."""
    sim = src @ trg.T

    def top(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        idx = np.argpartition(-m, K, axis=1)[:, :K]
        return np.take_along_axis(m, idx, 1), idx

    forward, backward = top(sim), top(sim.T)
    del sim
    margin_candidates(forward, backward, _ids(len(src), "s"), _ids(len(trg), "t"))


def _recall(search: KnnSearch, queries: np.ndarray, base: np.ndarray, found: np.ndarray) -> float:
    """Share of the exact k nearest neighbours of a sample of queries that ``found`` has."""
    sample = np.random.default_rng(1).choice(len(queries), RECALL_SAMPLE, replace=False)
    exact = KnnSearch().search_both(queries[sample], base, K)[0][1]
    hits = [len(set(e) & set(f)) for e, f in zip(exact, found[sample], strict=True)]
    return sum(hits) / (K * RECALL_SAMPLE)


def _child(case: dict[str, Any]) -> dict[str, Any]:
    n, repeat, how = case["n"], case["repeat"], case["how"]
    out: dict[str, Any] = {}
    if how == "ivf":
        src, trg = _parallel_corpus(n, 0)
    else:
        src, trg = _random_unit(n, 0), _random_unit(n, 1)
    src_ids, trg_ids = _ids(n, "s"), _ids(n, "t")
    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        if how == "reference":
            _reference(src, trg)
        elif how == "ivf":
            forward, backward = IVF.search_both(src, trg, K)
            margin_candidates(forward, backward, src_ids, trg_ids)
        else:
            mine_candidates(src, src_ids, trg, trg_ids, K, KnnSearch(precision=how))
        seconds.append(time.perf_counter() - started)
    # the peak of the mining itself, before the recall check's own exact search
    with open("/proc/self/status") as status:
        hwm = next(line for line in status if line.startswith("VmHWM"))
    out |= {"seconds": seconds, "peak_rss_mb": int(hwm.split()[1]) / 1024}
    if how == "ivf":
        out["recall"] = (
            _recall(IVF, src, trg, forward[1]) + _recall(IVF, trg, src, backward[1])
        ) / 2
    return out


def _run_case(n: int, how: str, repeat: int) -> dict[str, Any]:
    case = json.dumps({"n": n, "how": how, "repeat": repeat})
    done = subprocess.run(
        [sys.executable, "-m", "bench.mining", "--child", case],
        capture_output=True,
        text=True,
        check=True,
        env=os.environ,
    )
    return json.loads(done.stdout.splitlines()[-1])


def run(repeat: int, sizes: list[int]) -> list[Figure]:
    """Every approach once per repetition, in turn (each in its own process), so that
    drift in machine load hits them alike; ratios are taken per repetition."""
    rows = []
    for n in sizes:
        reps = repeat if n <= 10_000 else 1
        matrix_bytes = 4 * n * n
        fits = matrix_bytes <= REFERENCE_BYTES
        hows = ("float32", "bfloat16") if n <= EXACT_UP_TO else ("ivf",)
        runs: dict[str, list[dict[str, Any]]] = {
            h: [] for h in (("reference",) if fits else ()) + hows
        }
        for _ in range(reps):
            for how, results in runs.items():
                results.append(_run_case(n, how, 1))
        reference = [r["seconds"][0] for r in runs.get("reference", [])]
        note = None if fits else f"does not fit: {matrix_bytes / 1e9:g} GB float32 matrix"
        for how in hows:
            seconds = [r["seconds"][0] for r in runs[how]]
            name = {"float32": "exact", "bfloat16": "exact, bfloat16 proposals"}.get(
                how, f"IVF {IVF.ivf_lists} lists, nprobe {IVF.nprobe}, {IVF.ivf_storage}"
            )
            rows.append(
                Figure(
                    "mining", f"{_label(n)} x {_label(n)} {name}", "seconds", spread(seconds),
                    "full similarity matrix" + ("" if fits else " (does not fit)"),
                    spread(reference) if reference else None,
                    spread([a / b for a, b in zip(reference, seconds, strict=True)]) if reference else None,
                    {"repeat": reps, "peak_rss_gb": _peak_gb(runs[how]),
                     "reference_peak_rss_gb": _peak_gb(runs.get("reference", [])),
                     "reference_note": note, "recall": runs[how][-1].get("recall")},
                )
            )  # fmt: skip
    return rows


def _peak_gb(results: list[dict[str, Any]]) -> float | None:
    return round(max(r["peak_rss_mb"] for r in results) / 1024, 2) if results else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(json.loads(args.child))))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    print(json.dumps([f.as_dict() for f in run(args.repeat, sizes)], indent=1))


if __name__ == "__main__":
    main()
