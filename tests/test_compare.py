"""`harness compare`: the paired bootstrap over hand-built run folders (no model runs).

``write_run`` builds a run folder the way `harness eval` leaves it (results.json with
the recorded scores, data descriptions and per-example predictions) over a small
XTREME-layout data folder; the first ``right`` units of each language are predicted
correctly and the rest wrongly, so every score is known in advance.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from harness.cli import main
from harness.compare import (
    FAMILIES,
    Stats,
    bootstrap_differences,
    compare_runs,
    minimum_units,
    p_value,
)
from harness.data import read_split
from harness.data.selection import describe, training_data
from harness.metrics.classification import classification_scores
from harness.metrics.qa import squad_scores
from harness.metrics.retrieval import pair_scores
from harness.metrics.tagging import tagging_scores
from harness.metrics.xtreme_score import rollup
from harness.registry import load_registry

REGISTRY = """\
targets:
  pawsx: {languages: [en, de]}
  panx: {languages: [en, de]}
  xquad: {languages: [en, de]}
  tatoeba: {languages: [de]}
  bucc2018: {languages: [zh]}
"""
SPLITS = {"pawsx": "dev", "panx": "dev", "xquad": "test", "tatoeba": "test", "bucc2018": "dev"}
SIZES = {"pawsx": 200, "panx": 30, "xquad": 12, "tatoeba": 10, "bucc2018": 5}
NER = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
FLIP = {"0": "1", "1": "0"}


def _squad(lang: str, n: int) -> str:
    paragraphs = []
    for i in range(n):
        context = f"In {lang} story {i} the cat number {i} sat on the mat."
        answer = f"cat number {i}"
        qa = {"id": f"{lang}{i}", "question": f"Who sat {i}?",
              "answers": [{"text": answer, "answer_start": context.index(answer)}]}  # fmt: skip
        paragraphs.append({"context": context, "qas": [qa]})
    return json.dumps({"data": [{"paragraphs": paragraphs}]})


def _tagged(rng: random.Random, n: int) -> str:
    sentences = []
    for _ in range(n):
        tags = [rng.choice(NER) for _ in range(rng.randint(3, 7))]
        sentences.append("".join(f"w{i}\t{t}\n" for i, t in enumerate(tags)))
    return "\n".join(sentences)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    rng = random.Random(0)
    root = tmp_path / "download"
    files = {
        f"pawsx/dev-{lang}.tsv": "".join(
            f"{lang} a {i}\t{lang} b {i}\t{rng.choice('01')}\n" for i in range(SIZES["pawsx"])
        )
        for lang in ("en", "de")
    }
    files |= {f"panx/dev-{lang}.tsv": _tagged(rng, SIZES["panx"]) for lang in ("en", "de")}
    files |= {f"xquad/xquad.{lang}.json": _squad(lang, SIZES["xquad"]) for lang in ("en", "de")}
    lines = [f"sentence {i}\n" for i in range(SIZES["tatoeba"])]
    files |= {"tatoeba/tatoeba.deu-eng.deu": "".join(lines), "tatoeba/tatoeba.deu-eng.eng": "".join(lines)}  # fmt: skip
    ids = range(SIZES["bucc2018"])
    files |= {
        "bucc2018/zh-en.dev.zh": "".join(f"zh-{i:09d}\tsatz {i}\n" for i in ids),
        "bucc2018/zh-en.dev.en": "".join(f"en-{i:09d}\tsentence {i}\n" for i in ids),
        "bucc2018/zh-en.dev.gold": "".join(f"zh-{i:09d}\ten-{i:09d}\n" for i in ids),
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    return root


@pytest.fixture
def registry_file(tmp_path: Path) -> Path:
    path = tmp_path / "small.yaml"
    path.write_text(REGISTRY)
    return path


def _predict(name: str, units: list[Any], right: int) -> list[Any]:
    """The first ``right`` units predicted correctly, the rest wrongly."""
    rows: list[Any] = []
    for i, unit in enumerate(units):
        ok = i < right
        if name == "pawsx":
            rows.append(unit.label if ok else FLIP[unit.label])
        elif name == "panx":
            rows.append(list(unit.tags) if ok else ["B-ORG"] * len(unit.tags))
        elif name == "xquad":
            rows.append({"id": unit.id, "answer": unit.answers[0].text if ok else "the mat"})
        else:
            rows.append(i if ok else (i + 1) % len(units))
    return rows


def _score(name: str, rows: list[Any], units: list[Any]) -> dict[str, float]:
    if name == "pawsx":
        return classification_scores(rows, [e.label for e in units])
    if name == "panx":
        return tagging_scores(rows, [e.tags for e in units])
    if name == "xquad":  # by position, as eval scores QA: ids may repeat
        return squad_scores(
            {str(i): r["answer"] for i, r in enumerate(rows)},
            {str(i): [a.text for a in e.answers] for i, e in enumerate(units)},
        )
    accuracy = 100.0 * sum(row == i for i, row in enumerate(rows)) / len(rows)
    return {"accuracy": accuracy, "accuracy_en_to_xx": accuracy}


def write_run(
    root: Path,
    data_dir: Path,
    registry_file: Path,
    right: Mapping[tuple[str, str], int],
    *,
    seed: int = 1,
    limit: int | None = None,
    held_out: frozenset[tuple[str, str]] = frozenset(),
) -> Path:
    """A run folder predicting each (task, language) of ``right`` (BUCC: pairs found).

    ``limit`` keeps the first N examples (as --limit does); ``held_out`` languages are
    scored on the examples held out of training (train and dev split both "dev")."""
    registry = load_registry([registry_file])
    results: dict[str, Any] = {}
    for (name, lang), good in right.items():
        task = registry.target(name)
        block = results.setdefault(name, {
            "kind": task.kind, "group": task.group, "metric": task.metric, "languages": {},
            "settings": {"seed": seed, "dev_holdout": 500, "limit": limit, "train_limit": None,
                         "splits": {"train": "dev", "dev": "dev", "eval": SPLITS[name]}},
            "task_languages": list(task.languages), "data": {}, "gaps": [],
        })  # fmt: skip
        split = SPLITS[name]
        data = read_split(task, split, lang, data_dir)
        if name == "bucc2018":
            gold = sorted(data.examples.gold)
            scores = pair_scores(gold[:good], gold) | {"threshold": 1.0}
            size = len(data.examples.source)
            block["languages"][lang] = scores | {"examples": size}
            block["data"][lang] = {"dev": describe(data, split, lang, size)}
            continue
        if (name, lang) in held_out:
            units = training_data(
                task, "dev", "dev", [task.train_language], data_dir, seed=seed, train_limit=None,
                dev_limit=limit, holdout=500, log=lambda _: None,
            ).dev  # fmt: skip
            info = describe(data, split, lang, len(units)) | {"held_out_from_train": True}
        else:
            examples = data.examples.source if name == "tatoeba" else data.examples
            units = list(examples[:limit] if limit else examples)
            info = describe(data, split, lang, len(units))
        rows = _predict(name, units, good)
        block["languages"][lang] = _score(name, rows, units) | {"examples": len(rows)}
        if name == "tatoeba":
            block["data"][lang] = info
        else:
            block["data"].setdefault("eval", {})[lang] = info
        path = root / "predictions" / name / f"{split}-{lang}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    summary = rollup(
        {name: block["languages"] for name, block in results.items()},
        {name: list(block["languages"]) for name, block in results.items()},
    )
    for name, block in results.items():
        block["score"] = summary.tasks[name].score
    options = {"data_dir": str(data_dir), "registry_files": [str(registry_file)], "seed": seed}
    root.mkdir(parents=True, exist_ok=True)
    (root / "results.json").write_text(json.dumps({
        "config": {"command": "eval", "targets": list(results), "options": options},
        "results": results, "groups": summary.groups, "xtreme_score": summary.xtreme,
        "missing_languages": {},
    }))  # fmt: skip
    return root


EVERYTHING = {
    ("pawsx", "en"): 150, ("pawsx", "de"): 100, ("panx", "en"): 20, ("panx", "de"): 15,
    ("xquad", "en"): 8, ("xquad", "de"): 6, ("tatoeba", "de"): 7, ("bucc2018", "zh"): 3,
}  # fmt: skip


@pytest.fixture
def make_run(data_dir: Path, registry_file: Path, tmp_path: Path) -> Any:
    def make(name: str, right: Mapping[tuple[str, str], int] = EVERYTHING, **kw: Any) -> Path:
        return write_run(tmp_path / name, data_dir, registry_file, right, **kw)

    return make


def pair_f1(found: int, gold: int = SIZES["bucc2018"]) -> float:
    return 100.0 * 2 * found / (found + gold)


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


# ---------------------------------------------------------------- the statistics


def test_a_large_difference_is_significant(make_run: Any) -> None:
    a = make_run("a", {("pawsx", "en"): 100, ("pawsx", "de"): 100})
    b = make_run("b", {("pawsx", "en"): 180, ("pawsx", "de"): 180})
    comparison = compare_runs([a], [b])
    (task,) = comparison.tasks
    assert task.unit == "examples" and not task.refused
    for c in task.languages:
        d = c.difference
        assert c.units == 200 and (d.a, d.b, d.diff) == pytest.approx((50.0, 90.0, 40.0))
        assert 30 < d.low < d.diff < d.high < 50 and d.p < 0.01 and d.significant
    assert task.total is not None and task.total.diff == pytest.approx(40.0)
    assert task.total.significant and task.total.high - task.total.low < d.high - d.low


def test_identical_runs_differ_by_nothing(make_run: Any) -> None:
    a = make_run("a")
    comparison = compare_runs([a], [a])
    assert not comparison.refused
    assert [t.task for t in comparison.tasks] == ["pawsx", "panx", "xquad", "tatoeba", "bucc2018"]
    for task in comparison.tasks:
        assert not task.refused, task.refused
        for d in [c.difference for c in task.languages] + [task.total]:
            assert d is not None and d.diff == 0 and not d.significant
            if task.task != "bucc2018":
                assert d.low <= 0 <= d.high and d.p == 1.0


def test_bucc_is_compared_without_an_interval(make_run: Any) -> None:
    a = make_run("a", {("bucc2018", "zh"): 2})
    b = make_run("b", {("bucc2018", "zh"): 4})
    (task,) = compare_runs([a], [b]).tasks
    (c,) = task.languages
    assert c.difference.diff == pytest.approx(pair_f1(4) - pair_f1(2))
    assert c.difference.low is None and c.difference.p is None and not c.difference.significant
    assert "no per-example units" in task.note and task.unit == ""


def test_qa_questions_are_matched_by_position_as_eval_scores_them(
    make_run: Any, data_dir: Path
) -> None:
    # two German questions share an id, as in TyDiQA-GoldP English train
    squad = json.loads((data_dir / "xquad" / "xquad.de.json").read_text())
    squad["data"][0]["paragraphs"][1]["qas"][0]["id"] = "de0"
    (data_dir / "xquad" / "xquad.de.json").write_text(json.dumps(squad))
    a = make_run("a", {("xquad", "de"): 1})  # right on the first "de0", wrong on the second
    b = make_run("b", {("xquad", "de"): 4})
    (task,) = compare_runs([a], [b]).tasks
    assert not task.refused
    (c,) = task.languages
    assert c.difference.diff == pytest.approx(100 * 3 / 12)


def test_seqeval_stats_reproduce_seqeval() -> None:
    """Per-sentence chunk counts summed over any resample give seqeval's F1 of that resample."""
    from harness.data import TaggedSentence

    rng = random.Random(1)
    pos = ["NOUN", "VERB", "SCONJ", "DET"]
    for labels in (NER, pos):  # IOB2 entities, and bare POS tags that seqeval chunks too
        gold = [[rng.choice(labels) for _ in range(rng.randint(1, 8))] for _ in range(40)]
        pred = [[t if rng.random() < 0.7 else rng.choice(labels) for t in s] for s in gold]
        sentences = [TaggedSentence(tuple(f"w{i}" for i in range(len(s))), tuple(s)) for s in gold]
        stats = FAMILIES["chunks"].stats(pred, sentences, "seqeval_f1", "en")
        identity = np.arange(len(gold))[None, :]
        assert stats.resample(identity)[0] == pytest.approx(tagging_scores(pred, gold)["f1"])
        draw = np.random.default_rng(0).integers(0, len(gold), size=(3, len(gold)))
        for row, value in zip(draw, stats.resample(draw), strict=True):
            expected = tagging_scores([pred[i] for i in row], [gold[i] for i in row])["f1"]
            assert value == pytest.approx(expected)


def test_p_value_definition() -> None:
    diffs = np.array([-1.0, 0.0, 1.0, 2.0, 3.0])
    assert p_value(2.0, diffs) == pytest.approx(2 * 2 / 5)  # -1 and 0 are not above zero
    assert p_value(-2.0, diffs) == 1.0  # 2 x 4/5, capped
    assert p_value(0.0, diffs) == 1.0
    assert p_value(5.0, np.array([1.0, 2.0])) == 0.0


def test_minimum_units_is_where_a_sign_test_can_reach_alpha() -> None:
    assert [minimum_units(a) for a in (0.05, 0.1, 0.0625, 0.01, 0.5)] == [6, 5, 5, 8, 2]
    for alpha in (0.05, 0.1, 0.01, 0.3):
        n = minimum_units(alpha)
        assert 2.0 ** (1 - n) <= alpha < 2.0 ** (2 - n)


def test_too_few_units_get_no_test(make_run: Any) -> None:
    """Three Tatoeba sentences all better in B: the bootstrap alone would call it
    significant (CI [+66.7, +66.7], p 0); a sign test of 3 units cannot."""
    a = make_run("a", {("tatoeba", "de"): 0}, limit=3)
    b = make_run("b", {("tatoeba", "de"): 3}, limit=3)
    (task,) = compare_runs([a], [b]).tasks
    (c,) = task.languages
    assert c.units == 3 and c.difference.diff == pytest.approx(100.0)
    for d in (c.difference, task.total):
        assert d is not None and d.low is None and d.p is None and not d.significant
    assert "too few source sentences for a test at alpha 0.05 (fewer than 6) in de (3)" in task.note
    # a looser alpha needs fewer units: 3 suffice at 0.25
    (task,) = compare_runs([a], [b], alpha=0.25).tasks
    assert task.languages[0].difference.significant and not task.note


def test_a_task_total_is_tested_over_all_its_units(make_run: Any) -> None:
    a = make_run("a", {("panx", "en"): 0, ("panx", "de"): 0}, limit=4)
    b = make_run("b", {("panx", "en"): 4, ("panx", "de"): 4}, limit=4)
    (task,) = compare_runs([a], [b]).tasks
    assert all(c.units == 4 and c.difference.p is None for c in task.languages)
    assert task.total is not None and task.total.p is not None and task.total.significant
    assert "in en (4), de (4)" in task.note


def test_the_seed_fixes_the_draws(make_run: Any) -> None:
    a, b = make_run("a"), make_run("b", {k: v + 1 for k, v in EVERYTHING.items()})
    first, again = (compare_runs([a], [b], samples=300, seed=3).to_json() for _ in range(2))
    assert first == again
    assert compare_runs([a], [b], samples=300, seed=4).to_json()["tasks"] != first["tasks"]
    # a language's draws do not depend on the other tasks compared
    alone = compare_runs([make_run("a2", {("pawsx", "de"): 100})],
                         [make_run("b2", {("pawsx", "de"): 101})], samples=300, seed=3)  # fmt: skip
    assert (
        alone.to_json()["tasks"]["pawsx"]["languages"]["de"]
        == first["tasks"]["pawsx"]["languages"]["de"]
    )


def test_bootstrap_pairs_the_draws() -> None:
    """The same unit indices for both sides: a constant shift has a zero-width interval."""
    a = Stats(np.array([1.0, 0.0, 1.0, 0.0]), np.ones(4))
    b = Stats(np.array([1.0, 1.0, 1.0, 0.0]), np.ones(4))
    diffs = bootstrap_differences(a, a, 200, np.random.default_rng(0))
    assert not diffs.any()
    assert (bootstrap_differences(a, b, 200, np.random.default_rng(0)) >= 0).all()
    with pytest.raises(ValueError, match="same units"):
        bootstrap_differences(a, Stats(np.ones(3), np.ones(3)), 10, np.random.default_rng(0))


# ---------------------------------------------------------------- refusals


def test_other_examples_are_refused_with_the_reason(make_run: Any) -> None:
    a = make_run("a", {("pawsx", "en"): 100, ("pawsx", "de"): 100, ("panx", "de"): 10})
    b = make_run("b", {("pawsx", "en"): 100, ("pawsx", "de"): 20, ("xquad", "de"): 3}, limit=40)
    comparison = compare_runs([a], [b])
    assert comparison.refused == {"panx": "not in B", "xquad": "not in A"}
    (task,) = comparison.tasks
    assert not task.languages and set(task.refused) == {"en", "de"}
    assert task.refused["de"] == "not the same examples (examples A: 200, B: 40)"

    path = b / "results.json"
    data = json.loads(path.read_text())
    info = data["results"]["pawsx"]["data"]["eval"]["de"]
    info |= {"fingerprint": "f" * 64, "split": "test", "examples": 200}
    path.write_text(json.dumps(data))
    reason = compare_runs([a], [b]).tasks[0].refused["de"]
    assert (
        "split A: dev, B: test" in reason and "fingerprint" in reason and "ffffffffffff" in reason
    )


def test_nothing_comparable_is_an_error_after_the_reasons(make_run: Any) -> None:
    a = make_run("a", {("pawsx", "de"): 100})
    b = make_run("b", {("panx", "de"): 10})
    code, output = cli("compare", str(a), str(b))
    assert code == 2
    assert "refused pawsx: not in B" in output and "refused panx: not in A" in output
    assert "nothing to compare: every task and language was refused" in output


def test_a_language_one_run_lacks_is_refused_and_the_rest_compared(make_run: Any) -> None:
    a = make_run("a", {("pawsx", "en"): 100, ("pawsx", "de"): 100})
    b = make_run("b", {("pawsx", "en"): 120})
    (task,) = compare_runs([a], [b]).tasks
    assert [c.lang for c in task.languages] == ["en"]
    assert task.refused == {"de": "B: no score"}
    assert task.note == "task difference over 1 of 2 languages"
    assert task.total is not None and task.total.diff == pytest.approx(10.0)


def test_predictions_that_do_not_reproduce_the_score_are_refused(make_run: Any) -> None:
    a, b = make_run("a"), make_run("b")
    rows = b / "predictions" / "xquad" / "test-de.jsonl"
    rows.write_text(rows.read_text().replace("the mat", "cat number 11"))
    task = next(t for t in compare_runs([a], [b]).tasks if t.task == "xquad")
    assert "B: its predictions score" in task.refused["de"] and "recorded" in task.refused["de"]
    (b / "predictions" / "panx" / "dev-en.jsonl").unlink()
    task = next(t for t in compare_runs([a], [b]).tasks if t.task == "panx")
    assert task.refused["en"].startswith("B: ") and "dev-en.jsonl missing" in task.refused["en"]


def test_changed_data_is_refused(make_run: Any, data_dir: Path) -> None:
    a = make_run("a")
    with (data_dir / "tatoeba" / "tatoeba.deu-eng.deu").open("a") as handle:
        handle.write("one more\n")
    with (data_dir / "tatoeba" / "tatoeba.deu-eng.eng").open("a") as handle:
        handle.write("one more\n")
    task = next(t for t in compare_runs([a], [a]).tasks if t.task == "tatoeba")
    assert "changed since the run predicted it" in task.refused["de"]


def test_held_out_english_is_rebuilt_from_the_seed(make_run: Any) -> None:
    held = frozenset({("pawsx", "en")})
    a = make_run("a", {("pawsx", "en"): 10}, held_out=held)
    b = make_run("b", {("pawsx", "en"): 30}, held_out=held)
    (task,) = compare_runs([a], [b]).tasks
    (c,) = task.languages
    assert c.units == 40 and c.difference.diff == pytest.approx(50.0)  # 200 // 5 held out
    other_seed = make_run("c", {("pawsx", "en"): 30}, held_out=held, seed=2)
    (task,) = compare_runs([a], [other_seed]).tasks
    assert "held-out seed A: 1, B: 2" in task.refused["en"]
    # under --limit the first N of the hold-out were scored: the same N are rebuilt
    limited = [make_run(n, {("pawsx", "en"): 5}, held_out=held, limit=15) for n in ("d", "e")]
    (task,) = compare_runs(limited[:1], limited[1:]).tasks
    assert not task.refused and task.languages[0].units == 15


# ---------------------------------------------------------------- seeds and the command


def test_seeds_are_pooled_per_side(make_run: Any) -> None:
    right = [{("pawsx", "de"): n, ("panx", "de"): m} for n, m in ((100, 10), (140, 20))]
    seeds = [make_run(f"a/seed{i}", r) for i, r in enumerate(right, 1)]
    b = make_run("b", {("pawsx", "de"): 180, ("panx", "de"): 30})
    comparison = compare_runs(seeds, [b])
    pawsx, panx = comparison.tasks
    assert pawsx.languages[0].difference.a == pytest.approx(60.0)  # the mean of 50 and 70
    assert pawsx.languages[0].difference.significant
    # F1 pools the seeds' chunk counts: between the two seeds' own F1
    f1s = [json.loads((s / "results.json").read_text())["results"]["panx"]["languages"]["de"]["f1"] for s in seeds]  # fmt: skip
    assert min(f1s) < panx.languages[0].difference.a < max(f1s)
    assert panx.languages[0].difference.b == pytest.approx(100.0)


def test_cli_compare_table_and_json(make_run: Any) -> None:
    a = make_run("a", {("pawsx", "de"): 100, ("bucc2018", "zh"): 2, ("xquad", "de"): 6})
    b1 = make_run("b/seed1", {("pawsx", "de"): 180, ("bucc2018", "zh"): 3, ("xquad", "de"): 6})
    b2 = make_run("b/seed2", {("pawsx", "de"): 170, ("bucc2018", "zh"): 3})
    code, output = cli("compare", str(a), f"{b1},{b2}", "--samples", "200")
    assert code == 0, output
    assert "+37.5*" in output and "* significant: the 95% CI of B - A excludes 0" in output
    assert "p: two-sided" in output and "seeds pooled" in output
    assert "bucc2018: BUCC: F1 over pairs mined" in output
    assert "refused xquad: not in B seed2" in output
    code, output = cli("compare", str(a), str(b1), "--format", "json", "--alpha", "0.1")
    assert code == 0, output
    data = json.loads(output)
    assert data["alpha"] == 0.1 and data["confidence_interval"] == "percentile, 90%"
    de = data["tasks"]["pawsx"]["languages"]["de"]
    assert de["significant"] is True and de["diff"] == pytest.approx(40.0) and de["units"] == 200
    assert data["tasks"]["xquad"]["languages"]["de"]["p"] == 1.0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{a}", "{a}", "--samples", "0"], "--samples"),
        (["{a}", "{a}", "--alpha", "1"], "--alpha"),
        (["{a}", "/no/such/run"], "/no/such/run: not a run folder"),
        (["{a},{a}", "{a}"], "run folder given more than once"),
        (["{a}", ","], "expected one run folder or a comma-separated list"),
    ],
)
def test_cli_compare_bad_input(make_run: Any, args: list[str], message: str) -> None:
    a = make_run("a", {("pawsx", "de"): 100})
    code, output = cli("compare", *(arg.format(a=a) for arg in args))
    assert code == 2 and message in output and "Traceback" not in output
