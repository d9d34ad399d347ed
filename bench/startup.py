"""CLI start-up: ``harness --help`` and ``harness list`` against importing the stack
they avoid (torch, transformers, datasets, faiss load only inside the commands)."""

from __future__ import annotations

import subprocess
import sys
from functools import partial

from bench.measure import ROOT, Figure, compare

EAGER = "import torch, transformers, datasets, faiss"


def _python(*args: str) -> None:
    subprocess.run([sys.executable, *args], cwd=ROOT, check=True, capture_output=True)


def run(repeat: int) -> list[Figure]:
    eager = partial(_python, "-c", EAGER)
    return [
        compare("start-up", "harness --help", partial(_python, "-m", "harness.cli", "--help"),
                eager, f"python -c '{EAGER}'", repeat),
        compare("start-up", "harness list", partial(_python, "-m", "harness.cli", "list"),
                eager, f"python -c '{EAGER}'", repeat),
    ]  # fmt: skip
