"""Several processes under ``accelerate launch`` or torchrun: who writes, who waits, what is gathered.

Accelerate's process state is started on first use; with one process it starts no
process group and every helper here answers as that only process would, so a
single-process run is exactly what it was before.
"""

from __future__ import annotations

import os
from typing import Any

from harness.errors import ConfigError


def _state() -> Any:
    """Accelerate's (shared, once-initialised) process state.

    Accelerate runs several CPU processes only when told to use the CPU; without that a
    CPU-only launch would run N independent copies all writing the same files, so it
    is refused."""
    from accelerate import PartialState
    from accelerate.utils import parse_flag_from_env

    state = PartialState(cpu=parse_flag_from_env("ACCELERATE_USE_CPU"))
    launched = int(os.environ.get("WORLD_SIZE", "1"))
    if state.num_processes != launched:
        raise ConfigError(
            f"launched as {launched} processes but Accelerate set up {state.num_processes}; "
            "on a machine without GPUs set ACCELERATE_USE_CPU=1 (gloo backend)"
        )
    return state


def process_count() -> int:
    return _state().num_processes


def process_index() -> int:
    return _state().process_index


def process_device() -> Any:
    """This process's device: its GPU under a launcher, the only GPU, or the CPU."""
    return _state().device


def is_main() -> bool:
    """The one process that writes results, logs, caches and checkpoints."""
    return _state().is_main_process


def wait() -> None:
    """Every process waits here for the others (e.g. for a file the main process writes).

    CPU processes wait in a plain barrier: Accelerate's names a GPU per process (its
    local index), which fails on a machine with fewer GPUs than CPU processes."""
    state = _state()
    if state.num_processes > 1 and state.device.type == "cpu":
        import torch

        torch.distributed.barrier()
    else:
        state.wait_for_everyone()


def gather_lists(items: list[Any]) -> list[Any]:
    """Every process's ``items`` concatenated in process order, on every process."""
    if process_count() == 1:
        return items
    from accelerate.utils import gather_object

    return gather_object(items)


def mean_over_processes(value: float) -> float:
    """The mean of one number across processes (the value itself with one process)."""
    if process_count() == 1:
        return value
    import torch

    total = torch.tensor(value, dtype=torch.float64, device=_state().device)
    torch.distributed.all_reduce(total)
    return total.item() / process_count()
