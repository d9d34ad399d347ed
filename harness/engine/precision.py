"""Reduced precision for inference, the same ``--precision`` names as training.

Training's mixed precision goes through Accelerate; inference autocasts the matrix
multiplies directly. bfloat16 runs on CPUs with AMX/AVX-512 BF16 (several times
float32 there) and on GPUs; float16 only on GPUs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from harness.errors import ConfigError

PRECISIONS = {"no": None, "bf16": torch.bfloat16, "fp16": torch.float16}


@contextlib.contextmanager
def inference_precision(precision: str, device: torch.device | str) -> Iterator[None]:
    """Autocast for ``precision`` on ``device``'s type; "no" leaves float32 alone."""
    if precision not in PRECISIONS:
        raise ConfigError(f"precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
    device_type = torch.device(device).type
    dtype = PRECISIONS[precision]
    if dtype is torch.float16 and device_type == "cpu":
        raise ConfigError("precision fp16 needs a GPU; on a CPU use bf16")
    with torch.autocast(device_type, dtype=dtype, enabled=dtype is not None):
        yield


@contextlib.contextmanager
def inference(precision: str, device: torch.device | str) -> Iterator[None]:
    """No autograd, and autocast for ``precision``: both hold for the calling thread
    only, so every inference stream enters this itself.

    Under autocast this is ``no_grad`` rather than ``inference_mode``: autocast keeps
    its low-precision copy of each weight for the whole region, except in inference
    mode (pytorch#165068), where it casts every weight again at every call: 22% of
    bf16 encoding time on a CPU."""
    no_autograd = torch.inference_mode() if precision == "no" else torch.no_grad()
    with no_autograd, inference_precision(precision, device):
        yield
