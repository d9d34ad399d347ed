"""``harness compare``: is run B better than run A? A paired bootstrap per task and language.

Why paired: both runs predicted the very same examples, so resampling example indices
once and scoring both runs on the same resample cancels the variance that comes from
which examples happen to be in the test set; only the difference between the systems
is left to vary.

Each language's primary metric is rewritten as a ratio of per-unit sums,
``100 * sum(num) / sum(den)``, computed once from the stored predictions and the gold
re-read through each run's registry and data folder:

- accuracy (pair classification, multiple choice; unit: example): num = correct, den = 1;
- seqeval F1 (udpos, panx; unit: sentence): num = 2 * true-positive chunks, den =
  predicted + gold chunks, chunks by seqeval's own ``get_entities`` per sentence (summing
  them gives exactly seqeval's micro F1, since seqeval joins sentences with "O");
- token accuracy (CCG; unit: sentence): num = correct tokens, den = tokens;
- QA (unit: question): num = (EM + F1) / 2 of the question, den = 1 (XTREME's task score);
- Tatoeba (unit: source sentence): num = the nearest English sentence is the gold one.

A bootstrap sample draws n unit indices with replacement (the same indices for A and B)
and recomputes both corpus-level metrics, so one sample is a few array sums. From the
``samples`` differences B - A:

- the confidence interval is the percentile interval (alpha/2 and 1 - alpha/2 quantiles);
  a difference is *significant* when that interval excludes 0;
- the p-value is two-sided: twice the share of bootstrap differences at zero or on the
  other side of zero from the observed difference, capped at 1 (1 when the observed
  difference is 0). Its resolution is 2/samples; 0 means below 1/samples.

Too few units give no test at all: with n units, every resample of n units that all
favour B is the same, so the bootstrap calls any such difference significant (one
example: CI [100, 100], p 0), where an exact two-sided sign test could not get below
p = 2^(1-n). Below the n at which that p reaches alpha (6 units at alpha 0.05,
``minimum_units``) a language, or a task's languages together, is compared without a
CI or p-value, and the legend says so.

A task's difference is the mean of its languages' differences, with each language
resampled on its own (the same draws as the per-language rows), over the languages
compared. BUCC has no per-example units (F1 over pairs mined from a whole corpus), so
its recorded dev F1 is compared without an interval.

Seeds: each side may be several run folders (one per seed). Their per-unit num and den
are averaged before resampling: the mean correctness per example for accuracy, and for
F1 the pooled micro F1 (as if the seeds' predictions were extra rows of one corpus).

Every run must have predicted the same examples for a language (same split, origin,
data fingerprint and example count; English scored on examples held out of training
also the same seed and hold-out size), and its predictions must reproduce its recorded
score against the gold read now; otherwise that language is refused with the reason
and the others go on. Each (task, language) draws from its own seeded stream, so its
result does not depend on which other tasks are compared.
"""

from __future__ import annotations

import json
import math
import warnings
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.markup import escape
from rich.table import Table

from harness.errors import ConfigError, HarnessError
from harness.report import Run, load_runs, primary_score

TOLERANCE = 1e-6  # recomputed vs recorded score, in percentage points
CHUNK = 1 << 20  # unit draws per bootstrap block: bounds memory on large test sets
P_VALUE = (
    "two-sided: 2 x the share of bootstrap differences at or beyond zero on the side "
    "opposite the observed difference, capped at 1 (1 for an observed difference of 0)"
)


class Refused(Exception):
    """Why one language (or task) cannot be compared; the comparison goes on without it."""


# --- per-unit statistics ---------------------------------------------------------------------


@dataclass(frozen=True)
class Stats:
    """Per-unit numerators and denominators: the metric is 100 * sum(num) / sum(den)."""

    num: np.ndarray
    den: np.ndarray

    def __len__(self) -> int:
        return len(self.num)

    def resample(self, indices: np.ndarray) -> np.ndarray:
        """The metric on each row of unit indices (k x n -> k); 0 where nothing counts."""
        num = self.num[indices].sum(axis=-1)
        den = self.den[indices].sum(axis=-1)
        return 100.0 * np.divide(num, den, out=np.zeros_like(num), where=den > 0)

    def score(self) -> float:
        return float(self.resample(np.arange(len(self))[None, :])[0])

    @staticmethod
    def pooled(stats: Sequence[Stats]) -> Stats:
        """Seeds of one side: the mean num and den per unit."""
        return Stats(
            np.mean([s.num for s in stats], axis=0), np.mean([s.den for s in stats], axis=0)
        )


def _stats(num: Sequence[float], den: Sequence[float] | None = None) -> Stats:
    numerators = np.asarray(num, dtype=float)
    return Stats(numerators, np.ones_like(numerators) if den is None else np.asarray(den, float))


def _label_stats(rows: list[Any], examples: list[Any], metric: str, lang: str) -> Stats:
    return _stats([row == e.label for row, e in zip(rows, examples, strict=True)])


def _aligned_tags(rows: list[Any], sentences: list[Any]) -> list[tuple[list[str], list[str]]]:
    pairs = []
    for i, (row, sentence) in enumerate(zip(rows, sentences, strict=True), 1):
        if not isinstance(row, list) or len(row) != len(sentence.tags):
            raise ValueError(f"sentence {i}: predicted tags do not match its gold tokens")
        pairs.append((row, list(sentence.tags)))
    return pairs


def _chunk_stats(rows: list[Any], sentences: list[Any], metric: str, lang: str) -> Stats:
    from seqeval.metrics.sequence_labeling import get_entities

    tp, found = [], []
    with warnings.catch_warnings():
        # seqeval warns once per bare POS tag; that chunking is the intended behaviour
        warnings.filterwarnings("ignore", message=".* seems not to be NE tag", category=UserWarning)
        for predicted, gold in _aligned_tags(rows, sentences):
            p, g = set(get_entities(predicted)), set(get_entities(gold))
            tp.append(2 * len(p & g))
            found.append(len(p) + len(g))
    return _stats(tp, found)


def _token_stats(rows: list[Any], sentences: list[Any], metric: str, lang: str) -> Stats:
    pairs = _aligned_tags(rows, sentences)
    correct = [sum(a == b for a, b in zip(p, g, strict=True)) for p, g in pairs]
    return _stats(correct, [len(g) for _, g in pairs])


def _qa_stats(rows: list[Any], questions: list[Any], metric: str, lang: str) -> Stats:
    from harness.metrics.qa import mlqa_scores, squad_scores

    # by position, as the QA scores read them: question ids are not always unique
    # (TyDiQA-GoldP English train, which held-out English is scored on)
    values = []
    for row, question in zip(rows, questions, strict=True):
        if str(row["id"]) != question.id:
            raise Refused(
                f"a prediction for question {row['id']!r} where the gold has {question.id!r}"
            )
        predicted = {question.id: row["answer"]}
        gold = {question.id: [a.text for a in question.answers]}
        scores = (
            mlqa_scores(predicted, gold, lang)
            if metric == "mlqa"
            else squad_scores(predicted, gold)
        )
        values.append((scores["exact_match"] + scores["f1"]) / 200)
    return _stats(values)


def _tatoeba_stats(rows: list[Any], sources: list[Any], metric: str, lang: str) -> Stats:
    return _stats([row == i for i, row in enumerate(rows)])


@dataclass(frozen=True)
class Family:
    """How one metric breaks into units; ``stats`` takes (rows, gold units, metric, lang)."""

    unit: str
    stats: Callable[[list[Any], list[Any], str, str], Stats]


FAMILIES = {
    "labels": Family("examples", _label_stats),
    "chunks": Family("sentences", _chunk_stats),
    "tokens": Family("sentences", _token_stats),
    "questions": Family("questions", _qa_stats),
    "tatoeba": Family("source sentences", _tatoeba_stats),
}


def family(kind: str, metric: str) -> Family | None:
    """The unit family of a task; None for BUCC, which has no per-example units."""
    if kind in ("pair_classification", "multiple_choice"):
        return FAMILIES["labels"]
    if kind == "tagging":
        return FAMILIES["tokens" if metric == "token_accuracy" else "chunks"]
    if kind == "extractive_qa":
        return FAMILIES["questions"]
    if kind == "retrieval" and metric != "bucc_f1":
        return FAMILIES["tatoeba"]
    return None


# --- the bootstrap ---------------------------------------------------------------------------


def bootstrap_differences(a: Stats, b: Stats, samples: int, rng: np.random.Generator) -> np.ndarray:
    """``samples`` paired resamples of B's metric minus A's, the same unit indices for both."""
    n = len(a)
    if len(b) != n or n == 0:
        raise ValueError(
            f"paired resampling needs the same units on both sides, got {n} and {len(b)}"
        )
    out = np.empty(samples)
    step = max(1, CHUNK // n)
    for start in range(0, samples, step):
        indices = rng.integers(0, n, size=(min(step, samples - start), n))
        out[start : start + len(indices)] = b.resample(indices) - a.resample(indices)
    return out


def minimum_units(alpha: float) -> int:
    """The fewest units with which a two-sided paired test could reach ``alpha``: the
    smallest n with 2^(1-n) <= alpha, the sign test's p when all n units favour one side."""
    return max(1, math.ceil(1 - math.log2(alpha)))


def p_value(observed: float, differences: np.ndarray) -> float:
    """Two-sided bootstrap p-value (see ``P_VALUE``)."""
    if observed == 0:
        return 1.0
    beyond = differences <= 0 if observed > 0 else differences >= 0
    return min(1.0, 2.0 * float(beyond.mean()))


@dataclass(frozen=True)
class Difference:
    """B minus A on one metric; ``low``/``high``/``p`` are None where no bootstrap applies."""

    a: float
    b: float
    diff: float
    low: float | None = None
    high: float | None = None
    p: float | None = None

    @property
    def significant(self) -> bool:
        return self.low is not None and self.high is not None and (self.low > 0 or self.high < 0)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"significant": self.significant}


def summarise(a: float, b: float, differences: np.ndarray, alpha: float, units: int) -> Difference:
    """B - A with its percentile CI and p-value, or without them under ``minimum_units``."""
    if units < minimum_units(alpha):
        return Difference(a, b, b - a)
    low, high = np.quantile(differences, [alpha / 2, 1 - alpha / 2])
    return Difference(a, b, b - a, float(low), float(high), p_value(b - a, differences))


def stream(seed: int, task: str, lang: str) -> np.random.Generator:
    """The random stream of one (task, language): fixed by the seed alone."""
    return np.random.default_rng([seed, zlib.crc32(task.encode()), zlib.crc32(lang.encode())])


# --- reading the runs ------------------------------------------------------------------------


@dataclass(frozen=True)
class Labelled:
    """A run and the label that names it in reasons: its side and folder name ("A seed1")."""

    label: str
    run: Run


def _side(label: str, paths: Sequence[Path]) -> list[Labelled]:
    runs = load_runs(paths)
    if len(runs) == 1:
        return [Labelled(label, runs[0])]
    return [Labelled(f"{label} {run.name}", run) for run in runs]


def _evaluation(block: dict[str, Any], lang: str) -> dict[str, Any] | None:
    """What the run recorded about the examples behind ``lang``'s score (BUCC: dev)."""
    from harness.export import evaluated_info

    if block.get("metric") == "bucc_f1":
        info = block.get("data", {}).get(lang)
        return info.get("dev") if isinstance(info, dict) else None
    return evaluated_info(block, lang)


IDENTITY = ("split", "origin", "fingerprint", "examples")


def _identity(block: dict[str, Any], info: dict[str, Any]) -> dict[str, Any]:
    """What makes two runs' examples the same; held-out examples also depend on the seed."""
    key = {name: info.get(name) for name in IDENTITY}
    if info.get("held_out_from_train"):
        settings = block.get("settings", {})
        key |= {"held-out seed": settings.get("seed"), "hold-out size": settings.get("dev_holdout")}
    return key


def _mismatch(keys: Mapping[str, dict[str, Any]]) -> str | None:
    fields = list(dict.fromkeys(name for key in keys.values() for name in key))
    differing = [
        name for name in fields if len({json.dumps(key.get(name)) for key in keys.values()}) > 1
    ]
    if not differing:
        return None
    parts = [
        f"{name} " + ", ".join(f"{label}: {_short(key.get(name))}" for label, key in keys.items())
        for name in differing
    ]
    return "not the same examples (" + "; ".join(parts) + ")"


def _short(value: Any) -> str:
    text = str(value)
    return text[:12] if len(text) == 64 else text  # fingerprints: a prefix tells them apart


class GoldReader:
    """The gold behind a run's predictions, read through the run's registry and data
    folder, once per distinct source (seeds of one study share it)."""

    def __init__(self) -> None:
        self._registries: dict[tuple[str, ...], Any] = {}
        self._gold: dict[str, list[Any]] = {}

    def read(
        self, run: Run, task: str, block: dict[str, Any], lang: str, info: dict[str, Any]
    ) -> list[Any]:
        from harness.registry import load_registry

        options = run.part(task).data.get("config", {}).get("options", {})
        files = tuple(options.get("registry_files") or ())
        data_dir = Path(options["data_dir"]) if options.get("data_dir") else None
        cache_key = json.dumps([files, str(data_dir), task, lang, _identity(block, info)])
        if cache_key not in self._gold:
            if files not in self._registries:
                self._registries[files] = load_registry(files)
            spec = self._registries[files].target(task)
            self._gold[cache_key] = _read_gold(spec, block, lang, info, data_dir)
        return self._gold[cache_key]


def _read_gold(
    spec: Any, block: dict[str, Any], lang: str, info: dict[str, Any], data_dir: Path | None
) -> list[Any]:
    """The evaluated examples in prediction order: the first ``examples`` of the split, or,
    for English scored on examples held out of training, the first ``examples`` of the
    same seeded hold-out again.

    A held-out language's evaluated file *is* its training data (that is why examples
    were held out), so the hold-out is redrawn from that file alone: no other split (nor
    its hub source) is read.
    """
    from harness.data import Bitext, read_split
    from harness.data.selection import training_data

    if info.get("held_out_from_train"):
        settings = block["settings"]
        data = training_data(
            spec, info["split"], info["split"], [lang], data_dir, seed=settings["seed"],
            train_limit=None, dev_limit=info["examples"], holdout=settings["dev_holdout"],
            log=lambda _: None,
        )  # fmt: skip
        found, examples = data.info["dev"].get("fingerprint"), list(data.dev)
    else:
        split = read_split(spec, info["split"], lang, data_dir)
        found = split.fingerprint()
        units = split.examples.source if isinstance(split.examples, Bitext) else split.examples
        examples = list(units[: info["examples"]])
    if info.get("fingerprint") and found != info["fingerprint"]:
        raise Refused(f"the data ({info.get('origin')}) changed since the run predicted it")
    if len(examples) != info["examples"]:
        raise Refused(
            f"the data holds {len(examples)} examples, the run predicted {info['examples']}"
        )
    return examples


def _read_predictions(path: Path) -> list[Any]:
    try:
        # split at \n only: answers may hold U+2028, which splitlines() would break at
        return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line]
    except FileNotFoundError:
        raise Refused(f"{path} missing") from None
    except ValueError as err:
        raise Refused(f"{path}: not JSON lines ({err})") from None


def _run_stats(reader: GoldReader, who: Labelled, task: str, lang: str, unit: Family) -> Stats:
    """One run's per-unit statistics, checked against the score the run recorded."""
    block = who.run.results[task]
    info = _evaluation(block, lang)
    assert info is not None  # _compare_language checked every run
    try:
        gold = reader.read(who.run, task, block, lang, info)
    except HarnessError as err:
        raise Refused(f"{who.label}: cannot read the gold: {err}") from None
    except Refused as err:
        raise Refused(f"{who.label}: {err}") from None
    path = who.run.part(task).path / "predictions" / task / f"{info['split']}-{lang}.jsonl"
    try:
        rows = _read_predictions(path)
        if len(rows) != len(gold):
            raise Refused(f"{len(rows)} predictions for {len(gold)} examples")
        stats = unit.stats(rows, gold, _scoring(block)[1], lang)
    except Refused as err:
        raise Refused(f"{who.label}: {err}") from None
    except (ValueError, TypeError, KeyError, AttributeError) as err:
        raise Refused(f"{who.label}: predictions unusable ({type(err).__name__}: {err})") from None
    recorded = primary_score(*_scoring(block), block["languages"][lang])
    if abs(stats.score() - recorded) > TOLERANCE:
        raise Refused(
            f"{who.label}: its predictions score {stats.score():.4f} against the gold read "
            f"now, but the run recorded {recorded:.4f}"
        )
    return stats


# --- the comparison --------------------------------------------------------------------------


@dataclass(frozen=True)
class LanguageComparison:
    lang: str
    units: int  # resampled per draw (BUCC: source sentences, not resampled)
    difference: Difference


@dataclass
class TaskComparison:
    task: str
    metric: str
    unit: str  # what is resampled; "" where nothing is (BUCC)
    languages: list[LanguageComparison] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)  # lang -> reason
    total: Difference | None = None  # over the languages compared
    note: str = ""


@dataclass
class Comparison:
    a: list[str]
    b: list[str]
    samples: int
    seed: int
    alpha: float
    tasks: list[TaskComparison]
    refused: dict[str, str]  # task -> reason

    @property
    def empty(self) -> bool:
        """Whether every task and language was refused: nothing was compared."""
        return not any(t.languages for t in self.tasks)

    def to_json(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "samples": self.samples,
            "seed": self.seed,
            "alpha": self.alpha,
            "confidence_interval": f"percentile, {100 * (1 - self.alpha):g}%",
            "p_value": P_VALUE,
            "tasks": {
                t.task: {
                    "metric": t.metric,
                    "unit": t.unit,
                    "languages": {
                        c.lang: {"units": c.units, **c.difference.as_dict()} for c in t.languages
                    },
                    "total": t.total.as_dict() if t.total else None,
                    "refused": t.refused,
                    "note": t.note,
                }
                for t in self.tasks
            },
            "refused_tasks": self.refused,
        }


def compare_runs(
    a_paths: Sequence[Path],
    b_paths: Sequence[Path],
    samples: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> Comparison:
    """B minus A for every task both sides hold (each side: one run folder per seed)."""
    if samples < 1 or not 0 < alpha < 1 or seed < 0:
        raise ConfigError(
            f"need samples >= 1, 0 < alpha < 1 and seed >= 0, got {samples}, {alpha}, {seed}"
        )
    a_side, b_side = _side("A", a_paths), _side("B", b_paths)
    everyone = a_side + b_side
    reader = GoldReader()
    tasks, refused = [], {}
    for task in dict.fromkeys(t for who in everyone for t in who.run.results):
        lacking = [who.label for who in everyone if task not in who.run.results]
        if lacking:
            refused[task] = f"not in {', '.join(lacking)}"
            continue
        first = a_side[0].run.results[task]
        kinds = {_scoring(who.run.results[task]) for who in everyone}
        if len(kinds) > 1:
            refused[task] = (
                f"scored differently: {', '.join(f'{k} ({m})' for k, m in sorted(kinds))}"
            )
            continue
        unit = family(*_scoring(first))
        if unit is None and first.get("metric") != "bucc_f1":
            refused[task] = f"no paired comparison for kind {first['kind']}"
            continue
        tasks.append(_compare_task(reader, task, a_side, b_side, unit, samples, seed, alpha))
    return Comparison(
        [str(w.run.path) for w in a_side], [str(w.run.path) for w in b_side],
        samples, seed, alpha, tasks, refused,
    )  # fmt: skip


def _compare_task(
    reader: GoldReader,
    task: str,
    a_side: list[Labelled],
    b_side: list[Labelled],
    unit: Family | None,
    samples: int,
    seed: int,
    alpha: float,
) -> TaskComparison:
    everyone = a_side + b_side
    metric = _scoring(a_side[0].run.results[task])[1]
    result = TaskComparison(task, metric, unit.unit if unit else "")
    if unit is None:
        result.note = "BUCC: F1 over pairs mined from a whole corpus has no per-example units; compared without a CI"
    draws, few = [], []
    languages = dict.fromkeys(
        lang for who in everyone for lang in who.run.results[task]["languages"]
    )
    for lang in languages:
        try:
            n = _same_examples(task, lang, everyone)
            if unit is None:
                a, b = (_mean_recorded(side, task, lang) for side in (a_side, b_side))
                result.languages.append(LanguageComparison(lang, n, Difference(a, b, b - a)))
                continue
            a_stats, b_stats = (
                Stats.pooled([_run_stats(reader, who, task, lang, unit) for who in side])
                for side in (a_side, b_side)
            )
        except Refused as err:
            result.refused[lang] = str(err)
            continue
        differences = bootstrap_differences(a_stats, b_stats, samples, stream(seed, task, lang))
        draws.append(differences)
        units = len(a_stats)
        if units < minimum_units(alpha):
            few.append(f"{lang} ({units})")
        result.languages.append(
            LanguageComparison(
                lang, n, summarise(a_stats.score(), b_stats.score(), differences, alpha, units)
            )
        )
    notes = [result.note]
    if few:
        notes.append(
            f"too few {result.unit} for a test at alpha {alpha:g} (fewer than "
            f"{minimum_units(alpha)}) in {', '.join(few)}: no CI or p-value"
        )
    if result.languages:
        a = float(np.mean([c.difference.a for c in result.languages]))
        b = float(np.mean([c.difference.b for c in result.languages]))
        units = sum(c.units for c in result.languages)
        result.total = (
            summarise(a, b, np.mean(draws, axis=0), alpha, units)
            if draws
            else Difference(a, b, b - a)
        )
    if result.refused and result.languages:
        notes.append(f"task difference over {len(result.languages)} of {len(languages)} languages")
    result.note = "; ".join(filter(None, notes))
    return result


def _same_examples(task: str, lang: str, everyone: list[Labelled]) -> int:
    """The example count every run predicted for ``lang``, or why they differ."""
    keys = {}
    for who in everyone:
        block = who.run.results[task]
        if block.get("partial"):
            raise Refused(
                f"{who.label}: {task} unfinished (interrupted; the same command resumes it)"
            )
        if lang not in block["languages"]:
            gaps = [g.split(": ", 1)[1] for g in block.get("gaps", []) if g.startswith(f"{lang}: ")]
            raise Refused(f"{who.label}: no score" + (f" ({'; '.join(gaps)})" if gaps else ""))
        info = _evaluation(block, lang)
        if info is None:
            raise Refused(f"{who.label}: no record of the examples it predicted")
        keys[who.label] = _identity(block, info)
    reason = _mismatch(keys)
    if reason:
        raise Refused(reason)
    return int(next(iter(keys.values()))["examples"])


def _mean_recorded(side: list[Labelled], task: str, lang: str) -> float:
    blocks = [who.run.results[task] for who in side]
    return float(np.mean([primary_score(*_scoring(b), b["languages"][lang]) for b in blocks]))


def _scoring(block: dict[str, Any]) -> tuple[str, str]:
    """A task block's kind and metric, which decide its primary score and its units."""
    return block["kind"], block.get("metric", "")


# --- rendering -------------------------------------------------------------------------------


def _signed(value: float) -> str:
    return f"{value:+.1f}"


def _p(p: float | None, samples: int) -> str:
    if p is None:
        return "-"
    return f"<{1 / samples:.2g}" if p == 0 else f"{p:.3f}"


def _cells(difference: Difference, samples: int) -> list[str]:
    diff = _signed(difference.diff) + ("*" if difference.significant else "")
    ci = (
        f"[{_signed(difference.low)}, {_signed(difference.high)}]"
        if difference.low is not None and difference.high is not None
        else "-"
    )
    return [
        f"{difference.a:.1f}",
        f"{difference.b:.1f}",
        f"[bold]{diff}[/]" if difference.significant else diff,
        ci,
        _p(difference.p, samples),
    ]


def comparison_table(comparison: Comparison) -> Table:
    level = f"{100 * (1 - comparison.alpha):g}%"
    table = Table(title="B - A (paired bootstrap)", title_justify="left")
    for column in ("task", "lang", "n", "A", "B", "B - A", f"{level} CI", "p"):
        table.add_column(column, justify="left" if column in ("task", "lang") else "right")
    for t in comparison.tasks:
        for c in t.languages:
            cells = _cells(c.difference, comparison.samples)
            table.add_row(escape(t.task), escape(c.lang), str(c.units), *cells)
        if t.total is not None:
            table.add_row(
                f"[bold]{escape(t.task)}[/]",
                "[bold]all[/]",
                f"{len(t.languages)} lang{'' if len(t.languages) == 1 else 's'}",
                *_cells(t.total, comparison.samples),
                end_section=True,
            )
    return table


def legend(comparison: Comparison) -> list[str]:
    """The lines printed under the table: sides, definitions, notes and refusals."""
    level = f"{100 * (1 - comparison.alpha):g}%"
    lines = [
        f"A: {', '.join(comparison.a)}",
        f"B: {', '.join(comparison.b)}",
        f"* significant: the {level} CI of B - A excludes 0 (percentile interval of "
        f"{comparison.samples} paired resamples, seed {comparison.seed}); n: units resampled "
        "(examples, sentences, questions, source sentences)",
        f"p: {P_VALUE}",
    ]
    if any(len(side) > 1 for side in (comparison.a, comparison.b)):
        lines.append("seeds pooled: per-unit statistics averaged over each side's runs")
    for t in comparison.tasks:
        if t.note:
            lines.append(f"{t.task}: {t.note}")
        lines += [f"refused {t.task} {lang}: {reason}" for lang, reason in t.refused.items()]
    lines += [f"refused {task}: {reason}" for task, reason in comparison.refused.items()]
    return lines
