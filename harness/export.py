"""XTREME leaderboard submissions: write a run's test predictions, and check a folder.

XTREME's evaluator reads ``{task}/test-{lang}.{tsv|json}`` for every language of each
task and asserts little more than line counts, so a submission holding dev predictions,
a ``--limit`` run's first N examples or a misaligned file would score silently wrong.
The writer therefore refuses a run that did not predict the whole test split of every
language, and the validator checks a folder against the test files themselves. One
format object per file layout does both the writing and the checking, so the writer's
output passes exactly the checks ``harness export --check`` applies.

Tatoeba indices refer to XTREME's processed English file, the raw LASER English file
with each line stripped and sorted by Python's stable ``sorted``; identical lines keep
their raw order there, so raw row i maps to the very line XTREME wrote for row i (see
``sorted_positions``).
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.atomic import scratch_folder
from harness.data import SplitData, read_split
from harness.errors import ConfigError, HarnessError
from harness.metrics import xtreme_score
from harness.registry import Registry, load_registry
from harness.results import read_results
from harness.specs import TaskSpec

# the leaderboard scores test (for TyDiQA, the GoldP dev file, which the registry names test)
SPLIT = "test"
SHOWN = 5  # offending items listed per problem; the rest are counted
_INDEX = re.compile(r"0|[1-9][0-9]*")  # XTREME compares index strings, so no "007" or "7.0"


@dataclass(frozen=True)
class Reference:
    """The test file one submission file answers (``data`` None: the format needs none)."""

    task: TaskSpec
    lang: str
    data: SplitData | None

    @property
    def examples(self) -> Any:
        assert self.data is not None  # only formats with needs_data read examples
        return self.data.examples


class _Format:
    """One file layout: how many rows the test file asks for, how rows are written, how a
    file is checked. ``check`` reads text the way XTREME's evaluator does."""

    extension = "tsv"
    needs_data = True

    def size(self, ref: Reference) -> int | None:
        return len(ref.examples)

    def render(self, rows: list[Any], ref: Reference) -> str:
        raise NotImplementedError

    def check(self, text: str, ref: Reference) -> list[str]:
        raise NotImplementedError


class _Labels(_Format):
    """xnli, pawsx: one label string per line, in test-file order."""

    def render(self, rows: list[Any], ref: Reference) -> str:
        return "".join(f"{_string(row, i, 'a label')}\n" for i, row in enumerate(rows, 1))

    def check(self, text: str, ref: Reference) -> list[str]:
        lines = _lines(text)
        problems = _count(len(lines), "line", self.size(ref), "example")
        bad = [f"line {i} {_show(v)}" for i, v in enumerate(lines, 1) if v not in ref.task.labels]
        if bad:
            problems.append(
                f"{_n(len(bad), 'line')} with a label outside {', '.join(ref.task.labels)}: {_listed(bad)}"
            )
        return problems


class _Tags(_Format):
    """udpos, panx: one tag per line per token, a blank line between sentences."""

    def render(self, rows: list[Any], ref: Reference) -> str:
        sentences = []
        for i, row in enumerate(rows, 1):
            if not isinstance(row, list):
                raise ValueError(f"row {i}: expected a list of tags, got {_show(row)}")
            sentences.append("\n".join(_string(tag, i, "a tag") for tag in row))
        return "\n\n".join(sentences) + "\n" if sentences else ""

    def check(self, text: str, ref: Reference) -> list[str]:
        sentences = _sentences(_lines(text))
        problems = _count(len(sentences), "sentence", self.size(ref), "sentence")
        if not problems:
            lengths = [
                f"sentence {i} ({len(tags)} tags for {len(gold.tokens)} tokens)"
                for i, (tags, gold) in enumerate(zip(sentences, ref.examples, strict=True), 1)
                if len(tags) != len(gold.tokens)
            ]
            if lengths:
                problems.append(
                    f"{_n(len(lengths), 'sentence')} of another length than in the test file: {_listed(lengths)}"
                )
        labels = set(ref.task.labels)
        bad = sorted({tag for tags in sentences for tag in tags if tag not in labels})
        if bad:
            problems.append(
                f"tags outside {', '.join(ref.task.labels)}: {_listed([_show(t) for t in bad])}"
            )
        return problems


class _Answers(_Format):
    """xquad, mlqa, tydiqa: a JSON object {question_id: answer_text}."""

    extension = "json"

    def render(self, rows: list[Any], ref: Reference) -> str:
        answers: dict[str, str] = {}
        for i, row in enumerate(rows, 1):
            if not isinstance(row, dict) or not {"id", "answer"} <= row.keys():
                raise ValueError(
                    f"row {i}: expected {{'id': ..., 'answer': ...}}, got {_show(row)}"
                )
            if not isinstance(row["answer"], str):
                raise ValueError(f"row {i}: expected answer text, got {_show(row['answer'])}")
            answers[str(row["id"])] = row["answer"]
        return json.dumps(answers, ensure_ascii=False) + "\n"

    def check(self, text: str, ref: Reference) -> list[str]:
        try:
            answers = json.loads(text)
        except json.JSONDecodeError as err:
            return [f"not valid JSON ({err})"]
        if not isinstance(answers, dict):
            return [
                f"expected a JSON object {{question_id: answer}}, got a {type(answers).__name__}"
            ]
        ids = [e.id for e in ref.examples]
        known = set(ids)
        problems = []
        missing = [qid for qid in ids if qid not in answers]
        if missing:
            problems.append(
                f"{_n(len(missing), 'question id')} of the test file missing: {_listed(missing)}"
            )
        extra = [qid for qid in answers if qid not in known]
        if extra:
            problems.append(f"{_n(len(extra), 'id')} not in the test file: {_listed(extra)}")
        odd = [qid for qid, answer in answers.items() if not isinstance(answer, str)]
        if odd:
            problems.append(f"{_n(len(odd), 'answer')} not text: {_listed(odd)}")
        return problems


class _Tatoeba(_Format):
    """tatoeba: per source sentence, the index of the retrieved line of XTREME's sorted
    English file. The run stores raw LASER row indices; ``render`` maps them."""

    def size(self, ref: Reference) -> int | None:
        return len(ref.examples.source)

    def render(self, rows: list[Any], ref: Reference) -> str:
        positions = sorted_positions(ref.examples.target)
        out = []
        for i, row in enumerate(rows, 1):
            if not isinstance(row, int) or isinstance(row, bool) or not 0 <= row < len(positions):
                raise ValueError(
                    f"row {i}: expected a row of the English file (0..{len(positions) - 1}), got {_show(row)}"
                )
            out.append(f"{positions[row]}\n")
        return "".join(out)

    def check(self, text: str, ref: Reference) -> list[str]:
        lines = _lines(text)
        problems = _count(len(lines), "line", self.size(ref), "source sentence")
        english = len(ref.examples.target)
        bad, outside = [], []
        for i, value in enumerate(lines, 1):
            if not _INDEX.fullmatch(value):
                bad.append(f"line {i} {_show(value)}")
            elif int(value) >= english:
                outside.append(f"line {i} ({value})")
        if bad:
            problems.append(f"{_n(len(bad), 'line')} not a non-negative integer: {_listed(bad)}")
        if outside:
            problems.append(
                f"{_n(len(outside), 'line')} beyond the English file's {_n(english, 'line')}: {_listed(outside)}"
            )
        return problems


class _Pairs(_Format):
    """bucc2018: one accepted pair per line, ``src_id TAB trg_id`` (de-000413461, en-...).
    Any number of lines; checked on its own, since the test corpora are rarely at hand."""

    needs_data = False

    def size(self, ref: Reference) -> int | None:
        return None

    def render(self, rows: list[Any], ref: Reference) -> str:
        out = []
        for i, row in enumerate(rows, 1):
            if not isinstance(row, list) or len(row) != 2:
                raise ValueError(f"row {i}: expected [src_id, trg_id], got {_show(row)}")
            out.append(f"{_string(row[0], i, 'an id')}\t{_string(row[1], i, 'an id')}\n")
        return "".join(out)

    def check(self, text: str, ref: Reference) -> list[str]:
        bad = []
        for i, line in enumerate(_lines(text), 1):
            ids = line.split("\t")
            if not (
                len(ids) == 2 and ids[0].startswith(f"{ref.lang}-") and ids[1].startswith("en-")
            ):
                bad.append(f"line {i} {_show(line)}")
        if bad:
            return [f"{_n(len(bad), 'line')} not '{ref.lang}-ID TAB en-ID': {_listed(bad)}"]
        return []


# the nine XTREME tasks, in XTREME's order, and the layout of each one's files
FORMATS: dict[str, _Format] = {
    "udpos": _Tags(),
    "panx": _Tags(),
    "xnli": _Labels(),
    "pawsx": _Labels(),
    "xquad": _Answers(),
    "mlqa": _Answers(),
    "tydiqa": _Answers(),
    "bucc2018": _Pairs(),
    "tatoeba": _Tatoeba(),
}
SUBMISSION_TASKS = tuple(FORMATS)


def sorted_positions(english: Sequence[str]) -> list[int]:
    """Raw LASER English row -> its line in XTREME's processed (sorted) English file.

    XTREME strips every line and sorts (line, row) pairs by line with Python's stable
    sort. Identical lines therefore keep their raw order: each raw row gets its own
    position, the one XTREME wrote that row at, and rows map one to one.
    """
    order = sorted(range(len(english)), key=lambda row: english[row].strip())
    positions = [0] * len(english)
    for position, row in enumerate(order):
        positions[row] = position
    return positions


def submission_tasks(names: Sequence[str] | None) -> list[str]:
    """The tasks to write or check, in XTREME's order (None or empty: all nine)."""
    if not names:
        return list(SUBMISSION_TASKS)
    unknown = [name for name in names if name not in FORMATS]
    if unknown:
        raise ConfigError(
            f"--tasks: {', '.join(unknown)} not XTREME tasks; expected some of {', '.join(SUBMISSION_TASKS)}"
        )
    return [name for name in SUBMISSION_TASKS if name in names]


def file_name(task: str, lang: str) -> str:
    return f"test-{lang}.{FORMATS[task].extension}"


def read_reference(task: TaskSpec, lang: str, data_dir: Path | None) -> Reference:
    """The test file of ``task`` in ``lang``; a split read through its fallback (MLQA's
    dev set when its test file is absent) is refused, since ids and counts would differ."""
    if not FORMATS[task.name].needs_data:
        return Reference(task, lang, None)
    data = read_split(task, SPLIT, lang, data_dir)
    if data.note:
        raise HarnessError(f"no test file: {data.note}")
    return Reference(task, lang, data)


# --- the validator -------------------------------------------------------------------------


def check_submission(
    folder: Path, data_dir: Path | None, registry: Registry, tasks: Sequence[str] | None = None
) -> list[str]:
    """Every problem of the submission in ``folder`` (empty: it is complete and consistent).

    The languages are XTREME's (``xtreme_languages``), whatever a user registry lists;
    files are compared with the test files read through the registry from ``data_dir``.
    With ``tasks`` only those task folders are checked.
    """
    if not folder.is_dir():
        return [f"{folder}: no such folder"]
    problems = [
        f"{entry.name}: unexpected (a submission holds only the folders {', '.join(SUBMISSION_TASKS)})"
        for entry in sorted(folder.iterdir())
        if entry.name not in FORMATS or not entry.is_dir()
    ]
    for name in submission_tasks(tasks):
        task = registry.target(name)
        task_dir = folder / name
        if not task_dir.is_dir():
            problems.append(f"{name}/: missing task folder")
            continue
        languages = xtreme_score.xtreme_languages()[name]
        expected = {file_name(name, lang): lang for lang in languages}
        problems += [
            f"{name}/{entry.name}: unexpected file (expected test-LANG.{FORMATS[name].extension} "
            f"for {', '.join(languages)})"
            for entry in sorted(task_dir.iterdir())
            if entry.name not in expected
        ]
        for file, lang in expected.items():
            problems += [
                f"{name}/{file}: {p}" for p in _check_file(task_dir / file, task, lang, data_dir)
            ]
    return problems


def _check_file(path: Path, task: TaskSpec, lang: str, data_dir: Path | None) -> list[str]:
    if not path.is_file():
        return ["missing"]
    try:
        text = path.read_text(encoding="utf-8")  # universal newlines, as XTREME reads it
    except UnicodeDecodeError as err:
        return [f"not UTF-8 text ({err.reason})"]
    try:
        ref = read_reference(task, lang, data_dir)
    except HarnessError as err:
        return [f"cannot be checked: {err}"]
    return FORMATS[task.name].check(text, ref)


# --- the writer ----------------------------------------------------------------------------


def export_submission(
    run_dir: Path,
    out_dir: Path,
    tasks: Sequence[str] | None = None,
    data_dir: Path | None = None,
) -> list[str]:
    """Write the run's test predictions as a submission; returns the files written.

    The languages are XTREME's (``xtreme_languages``); the tasks are read through the
    registry as the run loaded it (its registry files), the test files from
    ``data_dir``, by default the run's own data folder. Nothing is written unless every
    language of every task passes; then each task folder is built aside and
    swapped in whole, so ``out_dir`` never holds a half-written task (other task folders
    there are left alone, which lets a submission be assembled from several runs).
    """
    run = read_results(run_dir)
    options = run.get("config", {}).get("options", {})
    registry = load_registry(options.get("registry_files") or ())
    if data_dir is None and options.get("data_dir"):
        data_dir = Path(options["data_dir"])
    results = run.get("results", {})
    names = submission_tasks(tasks)
    problems: list[str] = []
    files: dict[str, str] = {}
    for name in names:
        task = registry.target(name)
        block = results.get(name)
        if block is None:
            problems.append(f"{name}: not in the run (it holds: {', '.join(results) or 'nothing'})")
            continue
        if block.get("partial"):
            done = len(block.get("evaluated", {}))  # a gap is tried again on resume
            problems.append(
                f"{name}: the run stopped before finishing it ({done} languages done); "
                "rerun the same `harness eval` command to resume it"
            )
            continue
        for lang in xtreme_score.xtreme_languages()[name]:
            text, found = _export_file(run_dir, block, task, lang, data_dir, options.get("limit"))
            problems += [f"{name} {lang}: {p}" for p in found]
            if text is not None:
                files[f"{name}/{file_name(name, lang)}"] = text
    if problems:
        raise HarnessError(
            f"cannot export {run_dir}: a submission needs the full test split of every language "
            f"(name a subset with --tasks); {len(problems)} problem(s):\n  " + "\n  ".join(problems)
        )
    _install(files, out_dir, names)
    return [str(out_dir / rel) for rel in files]


def evaluated_info(block: dict[str, Any], lang: str) -> dict[str, Any] | None:
    """What the run recorded about predicting ``lang``: trained targets keep it under
    ``data.eval``, Tatoeba under ``data[lang]``, BUCC under ``data[lang].eval``."""
    data = block.get("data", {})
    info = data["eval"].get(lang) if "eval" in data else data.get(lang)
    if isinstance(info, dict) and "split" not in info:
        info = info.get("eval")
    return info


def _export_file(
    run_dir: Path,
    block: dict[str, Any],
    task: TaskSpec,
    lang: str,
    data_dir: Path | None,
    limit: int | None,
) -> tuple[str | None, list[str]]:
    """One submission file's text, or None and why the run cannot give it."""
    info = evaluated_info(block, lang)
    if info is None:
        gaps = [
            gap.split(": ", 1)[1] for gap in block.get("gaps", []) if gap.startswith(f"{lang}: ")
        ]
        evaluated = block.get("settings", {}).get("languages", [])
        why = "; ".join(gaps) or f"the run's languages were {', '.join(evaluated) or 'none'}"
        return None, [f"no test predictions ({why})"]
    if info.get("split") != SPLIT:
        return None, [
            f"the run predicted the {info.get('split')} split, not {SPLIT} (rerun with --eval-split {SPLIT})"
        ]
    if info.get("note"):
        return None, [f"the run read its {SPLIT} split through a fallback: {info['note']}"]
    if info.get("held_out_from_train"):
        return None, ["the run predicted examples held out of training, not the test file"]
    path = run_dir / "predictions" / task.name / f"{SPLIT}-{lang}.jsonl"
    try:
        # split at \n only: answers may hold U+2028, which splitlines() would break at
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line]
    except FileNotFoundError:
        return None, [f"{path} missing"]
    except ValueError as err:
        return None, [f"{path}: not JSON lines ({err})"]
    try:
        ref = read_reference(task, lang, data_dir)
    except HarnessError as err:
        return None, [f"cannot read the test file: {err}"]
    if ref.data and info.get("fingerprint") not in (None, ref.data.fingerprint()):
        return None, [f"the test file ({ref.data.origin}) changed since the run predicted it"]
    fmt = FORMATS[task.name]
    short = _count(len(rows), "prediction", fmt.size(ref), "example")
    if short:
        return None, [short[0] + (f" (the run used --limit {limit})" if limit else "")]
    try:
        text = fmt.render(rows, ref)
    except ValueError as err:
        return None, [f"{path}: {err}"]
    problems = fmt.check(text, ref)
    return (None if problems else text), problems


def _install(files: dict[str, str], out_dir: Path, names: Sequence[str]) -> None:
    """Write every file into a folder beside ``out_dir``, then swap each task folder in."""
    out_dir = out_dir.resolve()
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"--out {out_dir}: exists and is not a folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    stage = scratch_folder(out_dir.parent, prefix=f".{out_dir.name}.")
    try:
        for rel, text in files.items():
            (stage / rel).parent.mkdir(parents=True, exist_ok=True)
            (stage / rel).write_text(text, encoding="utf-8")
        for name in names:
            target = out_dir / name
            if target.exists():
                target.rename(stage / f"{name}.replaced")
            (stage / name).rename(target)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


# --- reading text as XTREME's evaluator does -----------------------------------------------


def _lines(text: str) -> list[str]:
    """XTREME's ``[l.strip() for l in open(f)]``: every line counts, blank ones included."""
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line.strip() for line in lines]


def _sentences(lines: list[str]) -> list[list[str]]:
    """XTREME's ``read_tag``: each blank line ends a sentence (so two in a row make an
    empty one); the last sentence needs no blank line after it."""
    sentences: list[list[str]] = []
    current: list[str] = []
    for line in lines:
        if line:
            current.append(line)
        else:
            sentences.append(current)
            current = []
    if current:
        sentences.append(current)
    return sentences


def _count(found: int, unit: str, expected: int | None, what: str) -> list[str]:
    if expected is None or found == expected:
        return []
    return [f"{_n(found, unit)}, but the test file has {_n(expected, what)}"]


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _string(value: Any, row: int, what: str) -> str:
    """A value written into a line-based file: a string that cannot break the layout."""
    if not isinstance(value, str) or "\n" in value or "\r" in value or "\t" in value:
        raise ValueError(f"row {row}: expected {what} (one-line text), got {_show(value)}")
    return value


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _listed(items: Sequence[str]) -> str:
    shown = ", ".join(items[:SHOWN])
    return shown + (f" and {len(items) - SHOWN} more" if len(items) > SHOWN else "")
