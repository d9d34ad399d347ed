"""The one training loop every stage uses, built on Accelerate.

The same code runs on CPU, one GPU, or many processes under ``accelerate launch``;
mixed precision comes from Accelerate's settings. The best weights on the dev metric
are kept (in memory) and restored at the end.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from harness.engine.batching import training_batches
from harness.tasks.base import Feature, TaskKind


@dataclass(frozen=True)
class TrainSettings:
    lr: float = 2e-5
    epochs: float = 3.0
    batch_size: int = 32
    grad_accum: int = 1
    warmup: float = 0.1  # fraction of optimiser steps
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    seed: int = 1
    eval_every: int = 0  # optimiser steps between dev evaluations; 0 = once per epoch
    precision: str = "no"  # Accelerate mixed precision: no, bf16, fp16
    freeze_embeddings: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TrainOutcome:
    steps: int = 0
    best_step: int = 0
    best_score: float | None = None
    history: list[dict[str, float]] = field(default_factory=list)


def _optimiser(model: torch.nn.Module, settings: TrainSettings) -> torch.optim.Optimizer:
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if param.requires_grad:
            (no_decay if param.ndim < 2 or "LayerNorm" in name else decay).append(param)
    groups = [
        {"params": decay, "weight_decay": settings.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=settings.lr)


def train(
    model: torch.nn.Module,
    kind: TaskKind,
    features: Sequence[Feature],
    pad_id: int,
    settings: TrainSettings,
    evaluate: Callable[[torch.nn.Module], float] | None = None,
    log: Callable[[str], None] = print,
) -> TrainOutcome:
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from transformers import get_linear_schedule_with_warmup

    if not features:
        raise ValueError("no training examples")
    set_seed(settings.seed)
    accelerator = Accelerator(
        mixed_precision=settings.precision, gradient_accumulation_steps=settings.grad_accum
    )
    if settings.freeze_embeddings:
        model.get_input_embeddings().weight.requires_grad_(False)

    lengths = [kind.length(f) for f in features]
    rng = random.Random(settings.seed)
    epochs = max(1, math.ceil(settings.epochs))
    batches_per_epoch = math.ceil(len(features) / settings.batch_size)
    total_batches = math.ceil(settings.epochs * batches_per_epoch)
    total_steps = max(1, math.ceil(total_batches / settings.grad_accum))

    optimiser = _optimiser(model, settings)
    schedule = get_linear_schedule_with_warmup(
        optimiser, int(settings.warmup * total_steps), total_steps
    )
    # frozen weights never change, so the best-state copy skips them
    frozen = {name for name, param in model.named_parameters() if not param.requires_grad}
    model, optimiser, schedule = accelerator.prepare(model, optimiser, schedule)

    outcome = TrainOutcome()
    best_state: dict[str, torch.Tensor] | None = None
    losses: list[float] = []  # training losses since the last evaluation

    def checkpoint() -> None:
        nonlocal best_state
        if evaluate is None:
            return
        score = evaluate(accelerator.unwrap_model(model))
        model.train()
        loss = sum(losses) / max(1, len(losses))
        losses.clear()
        outcome.history.append({"step": outcome.steps, "train_loss": round(loss, 4), "dev": score})
        log(f"step {outcome.steps}/{total_steps}: train loss {loss:.4f}, dev {score:.2f}")
        if outcome.best_score is None or score > outcome.best_score:
            outcome.best_score, outcome.best_step = score, outcome.steps
            state = accelerator.unwrap_model(model).state_dict()
            best_state = {
                k: v.detach().to("cpu", copy=True) for k, v in state.items() if k not in frozen
            }

    done = 0
    model.train()
    for _ in range(epochs):
        order = training_batches(lengths, settings.batch_size, rng)[: total_batches - done]
        loader = torch.utils.data.DataLoader(
            features, batch_sampler=order, collate_fn=lambda items: kind.collate(items, pad_id)
        )
        for batch in accelerator.prepare(loader):
            with accelerator.accumulate(model):
                loss = model(**batch).loss
                accelerator.backward(loss)
                losses.append(loss.item())
                if accelerator.sync_gradients:
                    accelerator.clip_grad_norm_(model.parameters(), settings.max_grad_norm)
                optimiser.step()
                schedule.step()
                optimiser.zero_grad()
            done += 1
            if accelerator.sync_gradients:
                outcome.steps += 1
                if settings.eval_every and outcome.steps % settings.eval_every == 0:
                    checkpoint()
        if not settings.eval_every and done < total_batches:
            checkpoint()
        if done >= total_batches:
            break
    if not outcome.history or outcome.history[-1]["step"] != outcome.steps:
        checkpoint()
    unwrapped = accelerator.unwrap_model(model)
    if best_state is not None:
        unwrapped.load_state_dict(best_state, strict=False)
    return outcome
