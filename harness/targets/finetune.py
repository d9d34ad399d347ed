"""The target stage for trained targets: fine-tune on English, predict every language.

Train on the English training split, keep the best weights on English dev, then
predict each language's evaluation split zero-shot. A language whose file is missing
is reported in one line and recorded as a gap; the rest goes on.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from typing import Any

from harness.data import SplitData, fingerprint, read_split
from harness.data.examples import has_gold
from harness.engine.predict import predict_outputs
from harness.engine.train import TrainSettings, train
from harness.errors import DataError, HarnessError
from harness.models.encoder import load_model, load_tokenizer
from harness.specs import TaskSpec
from harness.targets.options import EvalOptions
from harness.tasks import task_kind
from harness.tasks.base import EncodeSettings, TaskKind

Log = Callable[[str], None]


def _describe(data: SplitData, split: str, lang: str, used: int) -> dict[str, Any]:
    return {
        "split": split,
        "lang": lang,
        "origin": data.origin,
        "fingerprint": fingerprint(data.files) if data.files else None,
        "examples": used,
        "available": len(data.examples),
    }


def _sample(examples: Sequence[Any], limit: int | None, seed: int) -> list[Any]:
    """A seeded random subset (files are often sorted, so a prefix would be biased)."""
    if limit is None or limit >= len(examples):
        return list(examples)
    return random.Random(seed).sample(list(examples), limit)


class TrainedTarget:
    """One target evaluation: everything it needs resolved once, then ``run``."""

    def __init__(self, task: TaskSpec, options: EvalOptions, log: Log):
        self.task = task
        self.options = options
        self.log = log
        self.hp = options.hyperparameters(task)
        self.splits = {role: options.split(task, role) for role in ("train", "dev", "eval")}
        self.languages = [
            lang for lang in task.languages if not options.languages or lang in options.languages
        ]
        if not self.languages:
            raise HarnessError(
                f"{task.name}: none of the languages {', '.join(options.languages)} belongs to it"
            )

    def settings(self) -> dict[str, Any]:
        """What the result depends on (besides data content); hashed to decide resume."""
        o = self.options
        return {
            "task": self.task.name,
            "kind": self.task.kind,
            "model": o.model.name,
            "seed": o.seed,
            "hyperparameters": self.hp,
            "splits": self.splits,
            "languages": self.languages,
            "limit": o.limit,
            "train_limit": o.train_limit,
            "dev_holdout": o.dev_holdout,
            "precision": o.precision,
            "freeze_embeddings": o.freeze_embeddings,
            "eval_every": o.eval_every,
        }

    def _english(self) -> tuple[list[Any], list[Any], dict[str, Any]]:
        task, o = self.task, self.options
        en = task.train_language
        train_data = read_split(task, self.splits["train"], en, o.data_dir)
        pool = [e for e in train_data.examples if has_gold(e)]
        random.Random(o.seed).shuffle(pool)
        if self.splits["dev"] == self.splits["train"]:
            holdout = min(o.dev_holdout, len(pool) // 5)
            dev, pool = pool[:holdout], pool[holdout:]
            dev_info = {
                "split": self.splits["dev"],
                "lang": en,
                "origin": train_data.origin,
                "held_out_from_train": True,
                "examples": len(dev),
            }
            self.log(
                f"{task.name}: train and dev share split {self.splits['train']!r}: {len(dev)} examples held out for model selection"
            )
        else:
            dev_data = read_split(task, self.splits["dev"], en, o.data_dir)
            dev = _sample(dev_data.examples, o.limit, o.seed)
            dev_info = _describe(dev_data, self.splits["dev"], en, len(dev))
        train_examples = pool[: o.train_limit] if o.train_limit else pool
        info = {
            "train": _describe(train_data, self.splits["train"], en, len(train_examples)),
            "dev": dev_info,
        }
        return train_examples, dev, info

    def run(self, store_predictions: Callable[[str, list[Any]], None]) -> dict[str, Any]:
        task, o, hp = self.task, self.options, self.hp
        started = time.time()
        tokenizer = load_tokenizer(o.model)
        encode = EncodeSettings(
            max_length=hp["max_length"], prefix=o.model.input_prefix, doc_stride=hp["doc_stride"]
        )
        train_examples, dev_examples, data_info = self._english()
        kind: TaskKind = task_kind(task, train_examples)
        model = load_model(o.model, kind.auto_class, **kind.model_kwargs())
        pad_id = tokenizer.pad_token_id
        dev_features = kind.encode(dev_examples, tokenizer, encode)

        def dev_score(m: Any) -> float:
            outputs = predict_outputs(
                m, kind, dev_features, pad_id, hp["eval_batch_size"], _device(m)
            )
            return kind.primary(
                kind.score(
                    kind.decode(outputs, dev_features, dev_examples),
                    dev_examples,
                    task.train_language,
                )
            )

        self.log(
            f"{task.name}: training on {len(train_examples)} English examples ({self.splits['train']} split)"
        )
        settings = TrainSettings(
            lr=hp["lr"],
            epochs=hp["epochs"],
            batch_size=hp["batch_size"],
            grad_accum=hp["grad_accum"],
            warmup=hp["warmup"],
            weight_decay=hp["weight_decay"],
            seed=o.seed,
            eval_every=o.eval_every,
            precision=o.precision,
            freeze_embeddings=o.freeze_embeddings,
        )
        outcome = train(
            model,
            kind,
            kind.encode(train_examples, tokenizer, encode),
            pad_id,
            settings,
            dev_score,
            self.log,
        )
        train_seconds = time.time() - started
        if o.save_model:
            folder = o.output / "checkpoints" / task.name
            model.save_pretrained(folder)
            tokenizer.save_pretrained(folder)

        languages: dict[str, Any] = {}
        evaluated: dict[str, Any] = {}
        gaps: list[str] = []
        for lang in self.languages:
            try:
                data = read_split(task, self.splits["eval"], lang, o.data_dir)
            except DataError as err:
                gaps.append(f"{lang}: {err}")
                self.log(f"{task.name}/{lang}: skipped: {err}")
                continue
            examples = list(data.examples[: o.limit] if o.limit else data.examples)
            if lang == task.train_language and self.splits["eval"] == self.splits["train"]:
                # never score English on what it was trained on: use the held-out examples
                examples = dev_examples
                self.log(f"{task.name}/{lang}: evaluated on the {len(examples)} held-out examples")
            features = kind.encode(examples, tokenizer, encode)
            outputs = predict_outputs(
                model, kind, features, pad_id, hp["eval_batch_size"], _device(model)
            )
            predictions = kind.decode(outputs, features, examples)
            store_predictions(lang, [kind.serialise(p) for p in predictions])
            evaluated[lang] = _describe(data, self.splits["eval"], lang, len(examples))
            if kind.has_gold(examples):
                languages[lang] = kind.score(predictions, examples, lang) | {
                    "examples": len(examples)
                }
            else:
                gaps.append(
                    f"{lang}: no gold labels in the {self.splits['eval']} split: predictions saved, no score"
                )
                self.log(f"{task.name}/{lang}: {gaps[-1].split(': ', 1)[1]}")
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
            "data": data_info | {"eval": evaluated},
            "training": {
                "steps": outcome.steps,
                "best_step": outcome.best_step,
                "best_dev": outcome.best_score,
                "history": outcome.history,
                "seconds": round(train_seconds, 1),
                "settings": settings.as_dict(),
            },
            "gaps": gaps,
            "seconds": round(time.time() - started, 1),
        }


def _device(model: Any) -> Any:
    return next(model.parameters()).device
