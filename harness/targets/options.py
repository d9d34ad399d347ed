"""The settings of one evaluation, resolved from registry defaults and command-line overrides."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.models.adapters import AdapterSpec
from harness.registry import trained_summary
from harness.specs import HYPERPARAMETERS, ModelSpec, TaskSpec

# what a trained target uses when neither the registry nor the command line says
FALLBACK = {
    "lr": 2e-5,
    "epochs": 3.0,
    "batch_size": 32,
    "grad_accum": 1,
    "max_length": 128,
    "warmup": 0.1,
    "weight_decay": 0.01,
    "doc_stride": 128,
    "max_answer_length": 30,
    "eval_batch_size": 64,
    "eval_max_tokens": 0,  # padded tokens per inference batch; 0: the device's default
    "eval_streams": 0,  # inference batches run at once; 0: the device's default
}


def trained_from(model: ModelSpec) -> dict[str, Any] | None:
    """How a ``harness train`` checkpoint was made (its summary's settings and their
    hash), for the record of what a result came from; None for any other model."""
    recorded = trained_summary(Path(model.path)) if model.source == "local" else None
    if recorded is None:
        return None
    return {key: recorded.get(key) for key in ("config_hash", "settings")}


@dataclass
class EvalOptions:
    model: ModelSpec
    output: Path
    data_dir: Path | None = None
    languages: tuple[str, ...] = ()  # empty: every language of each target
    seed: int = 1
    overrides: dict[str, Any] = field(default_factory=dict)  # hyperparameters from the CLI
    limit: int | None = None  # at most this many eval (and dev) examples per language
    train_limit: int | None = None
    train_split: str | None = None  # None: the task's own (registry) choice
    dev_split: str | None = None
    eval_split: str | None = None
    dev_holdout: int = 500  # held-out examples when training and dev share a split
    precision: str = "no"
    freeze_embeddings: bool = False
    eval_every: int = 0
    save_model: bool = False
    adapter: AdapterSpec = field(default_factory=AdapterSpec)  # full fine-tuning or a peft method
    registry_files: tuple[str, ...] = ()  # user registries merged over the built-in one
    overwrite: bool = False  # replace finished results computed with other settings
    cache: bool = True  # reuse a model fine-tuned earlier on the same data with the same settings
    layer: int | None = None  # retrieval: hidden-state index (None: the model's default)
    pooling: str | None = None  # retrieval: mean or first (None: the model's default)

    def hyperparameters(self, task: TaskSpec) -> dict[str, Any]:
        merged = (
            FALLBACK | task.defaults | {k: v for k, v in self.overrides.items() if v is not None}
        )
        return {k: HYPERPARAMETERS[k](v) for k, v in merged.items()}

    def split(self, task: TaskSpec, role: str) -> str:
        chosen = {"train": self.train_split, "dev": self.dev_split, "eval": self.eval_split}[role]
        return chosen or task.splits[role]

    def model_record(self) -> dict[str, Any]:
        """The model as a result depends on it: its name, input prefix and the state of
        its weights (``cache.model_identity``), so that a checkpoint trained again in
        place (a study's intermediate step under other settings, say) is never taken for
        the one a finished result came from."""
        from harness.cache import model_state

        return {
            "name": self.model.name,
            "input_prefix": self.model.input_prefix,
            "identity": model_state(self.model),
        }

    def data_record(self) -> str | None:
        """The data folder as a result depends on it (``data.data_dir_setting``)."""
        from harness.data import data_dir_setting

        return data_dir_setting(self.data_dir)

    def describe(self) -> dict[str, Any]:
        described = asdict(self)
        described["model"] = asdict(self.model)
        if trained := trained_from(self.model):
            described["model"]["trained_from"] = trained
        described["adapter"] = self.adapter.describe()
        described["output"] = str(self.output)
        described["data_dir"] = str(self.data_dir) if self.data_dir else None
        return described
