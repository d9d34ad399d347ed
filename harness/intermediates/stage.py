"""The intermediate stage: train the encoder on English intermediate tasks, hand it on.

One shared encoder, one head per task; with several tasks a sampler picks the task of
each optimiser step. The checkpoint folder is a plain Hugging Face encoder (adapter
merged) that ``harness eval --model CKPT`` takes; each task's head is kept beside it
under ``heads/TASK`` so the intermediate model can still be evaluated on its own task.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeGuard

import torch
from transformers import set_seed

from harness.cache import model_state
from harness.data import data_dir_setting
from harness.data.selection import training_data
from harness.engine.batching import token_budget
from harness.engine.distributed import is_main, process_count, wait
from harness.engine.predict import predict_outputs
from harness.engine.streams import stream_count
from harness.engine.train import Stream, TrainSettings, train_streams
from harness.errors import ConfigError
from harness.intermediates.sampler import SamplerSpec
from harness.models.adapters import AdapterSpec, apply_adapter, merge_adapter, parameter_counts
from harness.models.encoder import fit_max_length, load_model, load_tokenizer
from harness.registry import TRAINED_FROM, trained_summary
from harness.results import (
    check_output_folder,
    config_hash,
    environment,
    guard_replacement,
    write_json,
)
from harness.specs import HYPERPARAMETERS, ModelSpec, TaskSpec
from harness.targets.options import FALLBACK
from harness.tasks import task_kind
from harness.tasks.base import EncodeSettings, TaskKind

Log = Callable[[str], None]


@dataclass
class IntermediateOptions:
    model: ModelSpec
    tasks: list[TaskSpec]
    output: Path
    data_dir: Path | None = None  # folder of the local intermediate data
    seed: int = 1
    overrides: dict[str, Any] = field(default_factory=dict)
    train_limit: int | None = None
    limit: int | None = None  # dev examples per task
    dev_holdout: int = 500
    sampler: SamplerSpec = field(default_factory=SamplerSpec)
    adapter: AdapterSpec = field(default_factory=AdapterSpec)
    precision: str = "no"
    freeze_embeddings: bool = False
    eval_every: int = 0
    overwrite: bool = False  # replace a finished checkpoint trained with other settings

    def hyperparameters(self) -> dict[str, Any]:
        """One optimiser for all tasks: the first task's defaults, then the command line."""
        merged = (
            FALLBACK
            | self.tasks[0].defaults
            | {k: v for k, v in self.overrides.items() if v is not None}
        )
        return {k: HYPERPARAMETERS[k](v) for k, v in merged.items()}

    def settings(self) -> dict[str, Any]:
        return {
            "model": asdict(self.model),
            # the starting weights' state: a base checkpoint changed in place is retrained from
            "model_identity": model_state(self.model),
            "tasks": [t.name for t in self.tasks],
            "seed": self.seed,
            # each process draws its own dropout: N processes train another model
            "processes": process_count(),
            "hyperparameters": self.hyperparameters(),
            "train_limit": self.train_limit,
            "limit": self.limit,
            "dev_holdout": self.dev_holdout,
            "sampler": asdict(self.sampler),
            "adapter": self.adapter.describe(),
            "precision": self.precision,
            "freeze_embeddings": self.freeze_embeddings,
            "eval_every": self.eval_every,
            "data_dir": data_dir_setting(self.data_dir),
        }


@dataclass
class _Task:
    spec: TaskSpec
    kind: TaskKind
    model: Any
    train: list[Any]
    dev: list[Any]
    dev_features: list[Any]
    info: dict[str, Any]


def _trained_with(
    summary: dict[str, Any] | None, settings: dict[str, Any]
) -> TypeGuard[dict[str, Any]]:
    return summary is not None and summary.get("config_hash") == config_hash(settings)


def finished(output: Path, settings: dict[str, Any]) -> dict[str, Any] | None:
    """The summary of a finished intermediate training with these settings, if any."""
    summary = trained_summary(output)
    return summary if _trained_with(summary, settings) else None


def _guard(
    options: IntermediateOptions, settings: dict[str, Any], summary: dict[str, Any], log: Log
) -> None:
    """A finished checkpoint trained with other settings is never replaced silently."""
    guard_replacement(
        settings, summary.get("settings", {}),
        f"{options.output} holds an intermediate checkpoint trained",
        f"{options.output}: replacing the checkpoint trained", options.overwrite, log,
    )  # fmt: skip


def check_replaceable(options: IntermediateOptions) -> None:
    """Raise as ``train_intermediate`` would, at once, on a checkpoint in its folder
    trained with other settings (without ``overwrite``); nothing is changed."""
    settings = options.settings()
    summary = trained_summary(options.output)
    if summary is not None and not _trained_with(summary, settings):
        _guard(options, settings, summary, lambda _: None)


def _replace(
    options: IntermediateOptions, settings: dict[str, Any], summary: dict[str, Any], log: Log
) -> None:
    """Replace a checkpoint trained with other settings (``_guard`` permitting): nothing
    of it outlives it, no summary, adapter or head."""
    _guard(options, settings, summary, log)
    if is_main():
        (options.output / TRAINED_FROM).unlink()
        _remove_parts(options.output)


def _remove_parts(output: Path) -> None:
    """The adapter and heads of an earlier training: gone before a new one is saved, so
    none outlives a training stopped before its summary was written."""
    for part in ("adapter", "heads"):
        shutil.rmtree(output / part, ignore_errors=True)


def train_intermediate(options: IntermediateOptions, log: Log) -> dict[str, Any]:
    check_output_folder(options.output, options.model.folder, "checkpoint")
    settings = options.settings()
    summary = trained_summary(options.output)
    if _trained_with(summary, settings):
        log(f"intermediate checkpoint {options.output} already trained with these settings: reused")
        return summary
    if summary is not None:
        _replace(options, settings, summary, log)
    if not options.tasks:
        raise ConfigError("no intermediate task given")
    started = time.time()
    hp = fit_max_length(options.model, options.hyperparameters(), options.overrides, log)
    tokenizer = load_tokenizer(options.model)
    encode = EncodeSettings(
        max_length=hp["max_length"], prefix=options.model.input_prefix, doc_stride=hp["doc_stride"]
    )
    tasks: list[_Task] = []
    set_seed(options.seed)  # the new heads' initialisation is part of what the seed fixes
    for spec in options.tasks:
        data = training_data(
            spec, spec.splits["train"], spec.splits["dev"], spec.languages, options.data_dir,
            seed=options.seed, train_limit=options.train_limit, dev_limit=options.limit,
            holdout=options.dev_holdout, log=log,
        )  # fmt: skip
        kind = task_kind(spec, data.train)
        model = load_model(options.model, kind.auto_class, **kind.model_kwargs())
        dev_features = kind.encode(data.dev, tokenizer, encode)
        kind.prepare_eval(dev_features)
        tasks.append(_Task(spec, kind, model, data.train, data.dev, dev_features, data.info))
        log(f"{spec.name}: {len(data.train)} training and {len(data.dev)} dev examples")
    encoder = share_encoder([t.model for t in tasks])
    peft_encoder = apply_adapter(tasks[0].model, options.adapter)
    everything = torch.nn.ModuleDict({t.spec.name: t.model for t in tasks})
    if options.freeze_embeddings:
        encoder.get_input_embeddings().weight.requires_grad_(False)
    counts = parameter_counts(everything)
    log(
        f"trainable parameters: {counts['trainable']:,} of {counts['total']:,} ({options.adapter.method})"
    )

    def dev_scores(models: Mapping[str, Any]) -> dict[str, dict[str, float]]:
        scores = {}
        for t in tasks:
            model = models[t.spec.name]
            device = next(model.parameters()).device
            outputs = predict_outputs(
                model,
                t.kind,
                t.dev_features,
                tokenizer.pad_token_id,
                hp["eval_batch_size"],
                device,
                options.precision,
                token_budget(hp["eval_max_tokens"], device, model.config.hidden_size),
                stream_count(hp["eval_streams"], device, process_count()),
            )
            scores[t.spec.name] = t.kind.score(
                t.kind.decode(outputs, t.dev_features, t.dev), t.dev, t.spec.train_language
            )
        return scores

    def mean_dev(models: Mapping[str, Any]) -> float:
        scores = dev_scores(models)
        log(
            "  "
            + ", ".join(
                f"{name} {tasks[i].kind.primary(s):.2f}"
                for i, (name, s) in enumerate(scores.items())
            )
        )
        return sum(t.kind.primary(scores[t.spec.name]) for t in tasks) / len(tasks)

    streams = [
        Stream(
            t.spec.name,
            t.model,
            t.kind,
            t.kind.encode(t.train, tokenizer, encode),
            tokenizer.pad_token_id,
        )
        for t in tasks
    ]
    probabilities = options.sampler.probabilities({s.name: len(s.features) for s in streams})
    train_settings = TrainSettings.from_hyperparameters(
        hp, seed=options.seed, eval_every=options.eval_every, precision=options.precision,
        freeze_embeddings=options.freeze_embeddings,
    )  # fmt: skip
    outcome = train_streams(streams, train_settings, probabilities, mean_dev, log)
    final = dev_scores({t.spec.name: t.model for t in tasks})
    summary = {
        "config_hash": config_hash(settings),
        "settings": settings,
        "tasks": {
            t.spec.name: {
                "kind": t.spec.kind,
                "metric": t.spec.metric,
                "dev": final[t.spec.name],
                "data": t.info,
                "labels": list(t.kind.labels),
                "steps": outcome.task_steps[t.spec.name],
                "sampling_probability": probabilities[t.spec.name],
            }
            for t in tasks
        },
        "parameters": counts,
        "training": asdict(outcome) | {"settings": train_settings.as_dict()},
        "environment": environment(),
        "seconds": round(time.time() - started, 1),
    }
    if is_main():
        _save(options.output, tasks, encoder, peft_encoder, tokenizer)
        write_json(options.output / TRAINED_FROM, summary)
    wait()  # the checkpoint is complete before any process loads it for the targets
    return summary


def _save(
    output: Path, tasks: list[_Task], encoder: Any, peft_encoder: Any, tokenizer: Any
) -> None:
    """The merged encoder (the hand-off), the adapter, and each task's head."""
    from safetensors.torch import save_file

    output.mkdir(parents=True, exist_ok=True)
    _remove_parts(output)
    if peft_encoder is not None:
        peft_encoder.save_pretrained(output / "adapter")
    merge_adapter(peft_encoder)
    encoder.save_pretrained(output)
    tokenizer.save_pretrained(output)
    for t in tasks:
        folder = output / "heads" / t.spec.name
        folder.mkdir(parents=True, exist_ok=True)
        prefix = t.model.base_model_prefix + "."
        # clones: an MLM head ties tensors (decoder bias), which safetensors will not share
        state = t.model.state_dict()
        head = {
            k: v.detach().clone().contiguous() for k, v in state.items() if not k.startswith(prefix)
        }
        save_file(head, str(folder / "head.safetensors"))
        meta = {"kind": t.spec.kind, "auto_class": t.kind.auto_class, "head": t.kind.model_kwargs()}
        write_json(folder / "head.json", meta)


def share_encoder(models: Sequence[Any]) -> Any:
    """One encoder for every task model, returned. It is one built with a pooler where
    any is: a head that reads the pooled output (multiple choice on XLM-R, sequence
    classification on BERT) fails on an encoder built without one, whatever the order
    of the tasks. A masked-LM head is tied again to the shared input embeddings, as it
    was to its own model's."""
    pooled = [m.base_model for m in models if getattr(m.base_model, "pooler", None) is not None]
    encoder = pooled[0] if pooled else models[0].base_model
    for model in models:
        if model.base_model is not encoder:
            setattr(model, model.base_model_prefix, encoder)
            model.tie_weights()
    return encoder


def load_task_model(checkpoint: Path, task: str) -> Any:
    """The intermediate model for one of its own tasks: the encoder plus that task's head."""
    from safetensors.torch import load_file

    folder = checkpoint / "heads" / task
    if not (folder / "head.json").is_file():
        raise ConfigError(
            f"{checkpoint} has no head for task {task!r} (heads: {', '.join(p.name for p in (checkpoint / 'heads').glob('*'))})"
        )
    meta = json.loads((folder / "head.json").read_text(encoding="utf-8"))
    spec = ModelSpec(name=str(checkpoint), source="local", path=str(checkpoint))
    model = load_model(spec, meta["auto_class"], **meta["head"])
    model.load_state_dict(load_file(str(folder / "head.safetensors")), strict=False)
    return model
