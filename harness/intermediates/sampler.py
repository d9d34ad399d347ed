"""How often each intermediate task is drawn in multi-task training.

One task per optimiser step (as jiant does), drawn with probability:

- ``uniform``: 1 / number of tasks;
- ``proportional``: proportional to the task's training size, counted in the inputs
  the model trains on (a long SQuAD passage's windows each count, as each is a step's
  worth of training);
- ``temperature``: proportional to min(size, cap) ** (1 / T): T = 1 with no cap is
  proportional, a large T approaches uniform, and the cap keeps one huge task (MNLI,
  QQP) from crowding out the small ones.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from harness.errors import ConfigError

METHODS = ("uniform", "proportional", "temperature")


@dataclass(frozen=True)
class SamplerSpec:
    method: str = "proportional"
    temperature: float = 1.0
    cap: int | None = None

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"sampler {self.method!r}: expected one of {', '.join(METHODS)}")
        if not 0 < self.temperature < math.inf:
            raise ConfigError(f"sampler temperature must be positive, got {self.temperature}")
        if self.cap is not None and self.cap < 1:
            raise ConfigError(f"sampler cap must be at least 1, got {self.cap}")
        if self.method != "temperature" and (self.temperature != 1.0 or self.cap is not None):
            raise ConfigError(
                f"a sampler temperature and cap shape only the temperature sampler, not "
                f"{self.method} (temperature 1 with a cap samples in proportion to capped sizes)"
            )

    def probabilities(self, sizes: Mapping[str, int]) -> dict[str, float]:
        if not sizes:
            raise ConfigError("no tasks to sample from")
        if self.method == "uniform":
            raw = dict.fromkeys(sizes, 1.0)
        elif self.method == "proportional":
            raw = {name: float(n) for name, n in sizes.items()}
        else:
            cap = self.cap or max(sizes.values())
            raw = {name: min(n, cap) ** (1.0 / self.temperature) for name, n in sizes.items()}
        total = sum(raw.values())
        return {name: value / total for name, value in raw.items()}
