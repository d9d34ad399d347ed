"""The target stage for trained targets: fine-tune on English, predict every language.

Train on the English training split, keep the best weights on English dev, then
predict each language's evaluation split zero-shot. What the run could not have
(a missing file, a test split without gold, a split read through its fallback) is
said in one line, recorded in the results, and the rest goes on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

from transformers import set_seed

from harness.cache import ContentCache, cache_root, model_identity
from harness.data import SplitData
from harness.data.examples import has_gold
from harness.data.selection import describe, read_logged, training_data
from harness.engine.batching import token_budget
from harness.engine.distributed import is_main, process_count, process_device, wait
from harness.engine.predict import predict_outputs
from harness.engine.streams import stream_count
from harness.engine.train import TrainOutcome, TrainSettings, train
from harness.errors import DataError, HarnessError
from harness.models.adapters import apply_adapter, merge_adapter, parameter_counts
from harness.models.encoder import (
    fit_max_length,
    load_model,
    load_tokenizer,
    model_location,
    model_width,
)
from harness.models.finetuned import FinetuneCache
from harness.results import Progress
from harness.specs import ModelSpec, TaskSpec
from harness.targets.options import EvalOptions
from harness.tasks import task_kind
from harness.tasks.base import EncodeSettings

Log = Callable[[str], None]
Store = Callable[[str, list[Any]], None]


def target_languages(task: TaskSpec, options: EvalOptions) -> list[str]:
    languages = [
        lang for lang in task.languages if not options.languages or lang in options.languages
    ]
    if not languages:
        raise HarnessError(
            f"{task.name}: none of the languages {', '.join(options.languages)} belongs to it"
        )
    return languages


class TrainedTarget:
    """One target evaluation: everything it needs resolved once, then ``run``."""

    def __init__(self, task: TaskSpec, options: EvalOptions, log: Log):
        self.task = task
        self.options = options
        self.log = log
        self.hp = fit_max_length(
            options.model, options.hyperparameters(task), options.overrides, log
        )
        # the padded-token cap of a prediction batch in force on this process's device:
        # recorded with the result, but no setting of it (batching moves a prediction by
        # float rounding at most, as the device does, and a sweep's driver decides what is
        # done on another device than its workers)
        self.token_cap = token_budget(
            self.hp["eval_max_tokens"], process_device(), model_width(options.model)
        )
        # how many prediction batches run at once: no setting of the result (tested)
        self.streams = stream_count(self.hp["eval_streams"], process_device(), process_count())
        self.splits = {role: options.split(task, role) for role in ("train", "dev", "eval")}
        self.languages = target_languages(task, options)
        self.scored_split = self.splits["eval"]  # a language is scored only if it reads

    def settings(self) -> dict[str, Any]:
        """What the result depends on (besides data content); hashed to decide resume."""
        o = self.options
        return {
            "task": self.task.name,
            "kind": self.task.kind,
            "model": o.model_record(),
            "data_dir": o.data_record(),
            "seed": o.seed,
            "hyperparameters": self.hp,
            # each process draws its own dropout: N processes train another model
            "processes": process_count(),
            "splits": self.splits,
            "languages": self.languages,
            "limit": o.limit,
            "train_limit": o.train_limit,
            "dev_holdout": o.dev_holdout,
            "precision": o.precision,
            "freeze_embeddings": o.freeze_embeddings,
            "eval_every": o.eval_every,
            "adapter": o.adapter.describe(),
        }

    def _read(self, role: str, lang: str) -> SplitData:
        return read_logged(self.task, self.splits[role], lang, self.options.data_dir, self.log)

    def _evaluation(self, lang: str) -> tuple[SplitData, str]:
        """The split to score ``lang`` on. Unless the user chose one, a test split without
        gold (XTREME's public test files) gives way to dev, and the run says so."""
        data = self._read("eval", lang)
        split = self.splits["eval"]
        dev = self.splits["dev"]
        if (
            self.options.eval_split is None
            and dev != split
            and not all(map(has_gold, data.examples))
        ):
            self.log(
                f"{self.task.name}/{lang}: the {split} split has no gold labels: scoring the {dev} split instead"
            )
            return self._read("dev", lang), dev
        return data, split

    def run(self, store_predictions: Store, progress: Progress) -> dict[str, Any]:
        task, o, hp = self.task, self.options, self.hp
        started = time.time()
        tokenizer = _Lazy(lambda: load_tokenizer(o.model))  # not needed when all is cached
        encode = EncodeSettings(
            max_length=hp["max_length"], prefix=o.model.input_prefix, doc_stride=hp["doc_stride"]
        )
        data = training_data(
            task, self.splits["train"], self.splits["dev"], [task.train_language], o.data_dir,
            seed=o.seed, train_limit=o.train_limit, dev_limit=o.limit, holdout=o.dev_holdout, log=self.log,
        )  # fmt: skip
        kind = task_kind(task, data.train)

        def predict(m: Any, features: list[Any], examples: Sequence[Any]) -> list[Any]:
            device = next(m.parameters()).device
            outputs = predict_outputs(
                m,
                kind,
                features,
                tokenizer().pad_token_id,
                hp["eval_batch_size"],
                device,
                o.precision,
                self.token_cap,
                self.streams,
            )
            return kind.decode(outputs, features, examples)

        settings = TrainSettings.from_hyperparameters(
            hp,
            seed=o.seed,
            eval_every=o.eval_every,
            precision=o.precision,
            freeze_embeddings=o.freeze_embeddings,
        )
        cache = FinetuneCache(cache_root() if o.cache else None)
        key = cache.key(
            {
                "model": model_identity(o.model, model_location(o.model)),
                "kind": task.kind,
                "labels": kind.labels,
                "metric": kind.selection_metric(),
                "decoding": kind.decoding(),
                "encode": asdict(encode),
                "train": settings.as_dict(),
                "adapter": o.adapter.describe(),
                "processes": process_count(),
                # the data by content, not by split name: targets sharing data share a model
                "data": {
                    role: [
                        info.get(k)
                        for k in ("origin", "fingerprint", "examples", "held_out_from_train")
                    ]
                    for role, info in data.info.items()
                },
            }
        )
        cached = cache.get(key)
        # keyed by the fine-tuned model's key: the predictions of the model that entry holds
        prediction_cache = ContentCache("predictions", cache_root() if o.cache else None)
        if cached is not None:
            folder, outcome_dict = cached
            self.log(
                f"{task.name}: reusing the model fine-tuned on the same data with the same settings ({folder})"
            )
            outcome = TrainOutcome(**outcome_dict)
            model = _Lazy(
                lambda: load_model(
                    ModelSpec(name=str(folder), source="local", path=str(folder)), kind.auto_class
                )
            )
        else:
            self.log(
                f"{task.name}: training on {len(data.train)} English examples ({data.train_origin})"
            )
            set_seed(o.seed)  # the new head's initialisation is part of what the seed fixes
            fresh = load_model(o.model, kind.auto_class, **kind.model_kwargs())
            peft_encoder = apply_adapter(fresh, o.adapter)
            if o.freeze_embeddings:
                fresh.get_input_embeddings().weight.requires_grad_(False)
            parameters = parameter_counts(fresh)
            self.log(
                f"{task.name}: {parameters['trainable']:,} of {parameters['total']:,} parameters trainable ({o.adapter.method})"
            )
            dev_features = kind.encode(data.dev, tokenizer(), encode)
            kind.prepare_eval(dev_features)

            def dev_score(m: Any) -> float:
                predictions = predict(m, dev_features, data.dev)
                return kind.primary(kind.score(predictions, data.dev, None))

            train_features = kind.encode(data.train, tokenizer(), encode)
            outcome = train(
                fresh, kind, train_features, tokenizer().pad_token_id, settings, dev_score, self.log
            )
            merge_adapter(peft_encoder)  # the saved and cached model is a plain checkpoint
            outcome.parameters = parameters
            if is_main():
                cache.put(key, fresh, tokenizer(), asdict(outcome))
            wait()  # a later target trained alike finds the entry on every process
            model = _Lazy(lambda: fresh)
        train_seconds = time.time() - started
        if o.save_model and is_main():
            checkpoint = o.output / "checkpoints" / task.name
            model().save_pretrained(checkpoint)
            tokenizer().save_pretrained(checkpoint)

        for lang in self.languages:
            if progress.done(lang):
                continue
            try:
                split_data, split = self._evaluation(lang)
            except DataError as err:
                self.log(f"{task.name}/{lang}: skipped: {err}")
                progress.record(lang, gap=str(err))
                continue
            examples = list(split_data.examples[: o.limit] if o.limit else split_data.examples)
            info = describe(split_data, split, lang, len(examples))
            if split_data.origin == data.train_origin:
                # never score a language on what it was trained on: the held-out examples instead
                examples = data.dev
                info |= {"examples": len(examples), "held_out_from_train": True}
                self.log(
                    f"{task.name}/{lang}: scored on the {len(examples)} examples held out of training"
                )
            prediction_key = prediction_cache.key(
                {
                    "model": key,
                    "precision": o.precision,
                    "batch": hp["eval_batch_size"],
                    "max_tokens": self.token_cap,
                }
                | info
            )
            stored = prediction_cache.load_json(prediction_key)
            if stored is None:
                features = kind.encode(examples, tokenizer(), encode)
                kind.prepare_eval(features)
                stored = [kind.serialise(p) for p in predict(model(), features, examples)]
                prediction_cache.save_json(prediction_key, stored)
            predictions = [kind.deserialise(row) for row in stored]
            store_predictions(f"{split}-{lang}", stored)
            if all(map(has_gold, examples)):
                progress.record(
                    lang,
                    kind.score(predictions, examples, lang) | {"examples": len(examples)},
                    info,
                )
            else:
                gap = f"no gold labels in the {split} split: predictions saved, no score"
                self.log(f"{task.name}/{lang}: {gap}")
                progress.record(lang, info=info, gap=gap)
        languages, evaluated, gaps = progress.languages, progress.evaluated, progress.gaps
        if not evaluated:
            raise HarnessError(
                f"{task.name}: no language could be evaluated:\n  " + "\n  ".join(gaps)
            )
        scores = [kind.primary(m) for m in languages.values()]
        return {
            "kind": task.kind,
            "group": task.group,
            "metric": task.metric,
            "languages": languages,
            "score": sum(scores) / len(scores) if scores else None,
            "data": data.info | {"eval": evaluated},
            "training": {
                "steps": outcome.steps,
                "best_step": outcome.best_step,
                "best_dev": outcome.best_score,
                "history": outcome.history,
                "seconds": round(train_seconds, 1),
                "settings": settings.as_dict(),
                "parameters": outcome.parameters,
            },
            "eval_token_cap": self.token_cap,
            "gaps": gaps,
            "seconds": round(time.time() - started, 1),
        }


class _Lazy:
    """A model or tokenizer loaded on first use: a run whose predictions all come from
    the cache never pays for loading it."""

    def __init__(self, load: Callable[[], Any]):
        self._load = load
        self._model: Any = None

    def __call__(self) -> Any:
        if self._model is None:
            self._model = self._load()
        return self._model
