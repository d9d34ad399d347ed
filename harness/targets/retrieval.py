"""The target stage for retrieval (Tatoeba, BUCC): no training, the encoder as it is.

Sentences are de-duplicated and each distinct sentence embedded once, with the layer
and pooling recorded in the results. Tatoeba scores top-1 accuracy xx -> en (en -> xx
beside it); BUCC mines with the ratio margin, tunes its threshold on dev gold and
applies that threshold to test, where no gold is public. The task's ``retrieval:``
block sets k and the search (``KnnSearch``: exact by default, IVF for large corpora),
recorded with the settings.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, replace
from typing import Any

from harness.cache import ContentCache, cache_root
from harness.data import SplitData, read_split
from harness.data.selection import describe
from harness.engine.batching import token_budget
from harness.engine.distributed import process_count, process_device
from harness.engine.streams import stream_count
from harness.errors import DataError, HarnessError
from harness.metrics.retrieval import (
    KnnSearch,
    apply_threshold,
    mine_candidates,
    pair_scores,
    tatoeba_scores,
    tune_threshold,
)
from harness.models.embed import Embedder, EmbedSettings
from harness.models.encoder import fit_max_length, model_width
from harness.results import Progress
from harness.specs import TaskSpec
from harness.targets.finetune import target_languages
from harness.targets.options import EvalOptions

Log = Callable[[str], None]


class RetrievalTarget:
    def __init__(self, task: TaskSpec, options: EvalOptions, log: Log):
        self.task = task
        self.options = options
        self.log = log
        self.splits = {role: options.split(task, role) for role in ("dev", "eval")}
        self.languages = target_languages(task, options)
        # a language is scored only if this split reads (BUCC tunes its threshold on dev)
        self.scored_split = self.splits["dev" if task.metric == "bucc_f1" else "eval"]
        model = options.model
        hp = fit_max_length(model, options.hyperparameters(task), options.overrides, log)
        self.embed = EmbedSettings(
            layer=model.layer if options.layer is None else options.layer,
            pooling=options.pooling or model.pooling,
            prefix=model.input_prefix,
            max_length=hp["max_length"],
            batch_size=hp["eval_batch_size"],
            max_tokens=token_budget(hp["eval_max_tokens"], process_device(), model_width(model)),
            precision=options.precision,
        )
        self.max_tokens_setting = hp["eval_max_tokens"]
        self.streams = stream_count(hp["eval_streams"], process_device(), process_count())
        settings = dict(task.retrieval)
        self.k = settings.pop("k", 4)
        try:
            self.search = KnnSearch(**settings)
        except ValueError as err:
            raise HarnessError(f"{task.name}.retrieval: {err}") from None

    def settings(self) -> dict[str, Any]:
        return {
            "task": self.task.name,
            "kind": self.task.kind,
            "model": self.options.model_record(),
            "data_dir": self.options.data_record(),
            # the token cap as set (0: the device's own), not the cap it resolves to on
            # this device, which the result records: batching moves a vector by float
            # rounding at most, and a sweep's driver decides what is done on another
            # device than its workers
            "embedding": asdict(replace(self.embed, max_tokens=self.max_tokens_setting)),
            "k": self.k,
            "search": asdict(self.search),
            "splits": self.splits,
            "languages": self.languages,
            # BUCC mines its whole corpus whatever the limit: no setting of its result
            "limit": None if self.task.metric == "bucc_f1" else self.options.limit,
        }

    def run(
        self, store_predictions: Callable[[str, list[Any]], None], progress: Progress
    ) -> dict[str, Any]:
        started = time.time()
        embedder = Embedder(
            self.options.model,
            self.embed,
            ContentCache("embeddings", cache_root() if self.options.cache else None),
            self.streams,
        )
        evaluate = self._bucc if self.task.metric == "bucc_f1" else self._tatoeba
        if self.options.limit and self.task.metric == "bucc_f1":
            self.log(
                f"{self.task.name}: --limit does not cut a mining corpus (its gold pairs are "
                "spread over it, so a cut one has few): every sentence is mined"
            )
        for lang in self.languages:
            if progress.done(lang):
                continue
            try:
                scores, info = evaluate(lang, embedder, store_predictions, progress.gaps)
            except DataError as err:
                self.log(f"{self.task.name}/{lang}: skipped: {err}")
                progress.record(lang, gap=str(err))
                continue
            progress.record(lang, scores, info)
        languages, used, gaps = progress.languages, progress.evaluated, progress.gaps
        if not languages:
            raise HarnessError(
                f"{self.task.name}: no language could be evaluated:\n  " + "\n  ".join(gaps)
            )
        primary = "f1" if self.task.metric == "bucc_f1" else "accuracy"
        scores = [values[primary] for values in languages.values()]
        return {
            "kind": self.task.kind,
            "group": self.task.group,
            "metric": self.task.metric,
            "languages": languages,
            "score": sum(scores) / len(scores),
            "embedding": asdict(self.embed),
            "data": used,
            "gaps": gaps,
            "seconds": round(time.time() - started, 1),
        }

    def _tatoeba(
        self,
        lang: str,
        embedder: Embedder,
        store: Callable[[str, list[Any]], None],
        gaps: list[str],
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        data = read_split(self.task, self.splits["eval"], lang, self.options.data_dir)
        source = list(
            data.examples.source[: self.options.limit]
            if self.options.limit
            else data.examples.source
        )
        target = list(data.examples.target[: len(source)])
        vectors, rows = embedder.embed_unique(source + target)
        src, trg = vectors[rows[: len(source)]], vectors[rows[len(source) :]]
        forward = tatoeba_scores(src, trg, self.search)
        backward = tatoeba_scores(trg, src, self.search)
        store(f"{self.splits['eval']}-{lang}", forward.predictions.tolist())
        scores = {
            "accuracy": forward.accuracy,
            "accuracy_en_to_xx": backward.accuracy,
            "examples": len(source),
        }
        return scores, describe(data, self.splits["eval"], lang, len(source))

    def _mine(self, data: SplitData, embedder: Embedder) -> list[Any]:
        corpus = data.examples
        src_ids, trg_ids = list(corpus.source), list(corpus.target)
        texts = [corpus.source[i] for i in src_ids] + [corpus.target[i] for i in trg_ids]
        vectors, rows = embedder.embed_unique(texts)
        src_rows, trg_rows = rows[: len(src_ids)], rows[len(src_ids) :]
        # one vector block per side, indexed by each side's distinct rows
        src_unique = sorted(set(src_rows))
        trg_unique = sorted(set(trg_rows))
        src_pos = {r: i for i, r in enumerate(src_unique)}
        trg_pos = {r: i for i, r in enumerate(trg_unique)}
        return mine_candidates(
            vectors[src_unique],
            {sid: src_pos[r] for sid, r in zip(src_ids, src_rows, strict=True)},
            vectors[trg_unique],
            {tid: trg_pos[r] for tid, r in zip(trg_ids, trg_rows, strict=True)},
            k=self.k,
            search=self.search,
        )

    def _bucc(
        self,
        lang: str,
        embedder: Embedder,
        store: Callable[[str, list[Any]], None],
        gaps: list[str],
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        dev = read_split(self.task, self.splits["dev"], lang, self.options.data_dir)
        if not dev.examples.gold:
            raise DataError(dev.origin, "the dev split has no gold pairs to tune the threshold on")
        candidates = self._mine(dev, embedder)
        tuned = tune_threshold(candidates, dev.examples.gold)
        scores = pair_scores(apply_threshold(candidates, tuned.threshold), dev.examples.gold)
        scores |= {"threshold": tuned.threshold, "examples": len(dev.examples.source)}
        info = {"dev": describe(dev, self.splits["dev"], lang, len(dev.examples.source))}
        try:
            test = read_split(self.task, self.splits["eval"], lang, self.options.data_dir)
        except DataError as err:
            gaps.append(
                f"{lang}: no {self.splits['eval']} split ({err}): scored on dev, no test predictions"
            )
            self.log(f"{self.task.name}/{lang}: {gaps[-1].split(': ', 1)[1]}")
            return scores, info
        pairs = apply_threshold(self._mine(test, embedder), tuned.threshold)
        store(f"{self.splits['eval']}-{lang}", [list(p) for p in pairs])
        info["eval"] = describe(test, self.splits["eval"], lang, len(test.examples.source))
        return scores, info
