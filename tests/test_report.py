"""`harness report`: the summary across run folders, its text formats and its plots.

Run folders are written by hand (results.json only: a report reads nothing else).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.cli import main
from harness.errors import ConfigError
from harness.metrics.xtreme_score import rollup, run_rollup
from harness.registry import load_registry
from harness.report import (
    load_runs,
    report_csv,
    report_json,
    report_markdown,
    run_names,
    transfer_gap,
    write_plots,
)
from harness.results import RunStore

KINDS = {
    "xnli": ("pair_classification", "accuracy"),
    "pawsx": ("pair_classification", "accuracy"),
    "udpos": ("tagging", "seqeval_f1"),
    "panx": ("tagging", "seqeval_f1"),
    "xquad": ("extractive_qa", "squad"),
    "mlqa": ("extractive_qa", "mlqa"),
    "tydiqa": ("extractive_qa", "squad"),
    "bucc2018": ("retrieval", "bucc_f1"),
    "tatoeba": ("retrieval", "tatoeba_accuracy"),
}
PANX_40 = load_registry().target("panx").languages


def _metrics(task: str, value: float) -> dict[str, float]:
    """Recorded metrics whose primary score is ``value`` (QA: EM and F1 around it)."""
    kind, _ = KINDS[task]
    if kind == "extractive_qa":
        return {"exact_match": value - 5, "f1": value + 5}
    if kind == "tagging" or task == "bucc2018":
        return {"f1": value, "precision": value, "recall": value}
    return {"accuracy": value}


def scored_run(
    root: Path,
    scores: Mapping[str, Mapping[str, float]],
    missing: Mapping[str, list[str]] | None = None,
) -> Path:
    """A run folder holding these primary scores per task and language, its task
    languages those scored plus ``missing``, rolled up as the runner does."""
    results = {
        task: {
            "kind": KINDS[task][0],
            "metric": KINDS[task][1],
            "languages": {
                lang: _metrics(task, v) | {"examples": 10} for lang, v in per_lang.items()
            },
            "task_languages": [*per_lang, *(missing or {}).get(task, [])],
        }
        for task, per_lang in scores.items()
    }
    summary = rollup(
        {task: block["languages"] for task, block in results.items()},
        {task: block["task_languages"] for task, block in results.items()},
    )
    for task, block in results.items():
        block["score"] = summary.tasks[task].score
    root.mkdir(parents=True)
    (root / "results.json").write_text(json.dumps({"results": results, **run_rollup(results)}))
    return root


ALL_NINE = {task: {"en": 80.0, "de": 70.0} for task in KINDS} | {
    "bucc2018": {"de": 60.0},
    "tatoeba": {"de": 50.0, "fr": 40.0},
}


@pytest.fixture
def runs(tmp_path: Path) -> list[Path]:
    a = scored_run(tmp_path / "base", ALL_NINE, missing={"xnli": ["fr"]})
    better = {task: {lang: v + 4 for lang, v in langs.items()} for task, langs in ALL_NINE.items()}
    b = scored_run(tmp_path / "tuned", {"pawsx": better["pawsx"], "panx": better["panx"]})
    return [a, b]


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def test_table_lists_tasks_groups_and_the_xtreme_score(runs: list[Path]) -> None:
    code, output = cli("report", *map(str, runs))
    assert code == 0, output
    assert "base" in output and "tuned" in output
    lines = output.splitlines()
    pawsx = next(line for line in lines if "pawsx" in line)
    assert "75.0" in pawsx and "79.0" in pawsx
    xnli = next(line for line in lines if " xnli " in line)
    assert "75.0†" in xnli and xnli.rstrip("│ ").endswith("-")  # tuned has no xnli
    # a mean over an incomplete task is marked too; one over complete tasks is not
    assert any("classification (group mean)" in line and "75.0†" in line for line in lines)
    assert any("retrieval (group mean)" in line and "52.5 " in line for line in lines)
    # QA: (EM + F1) / 2; the XTREME score: all nine tasks
    xtreme = next(line for line in lines if "XTREME" in line)
    assert f"{(75 * 7 + 60 + 45) / 9:.1f}†" in xtreme
    legend = "† not every language of the task (or of a task in the mean) was scored"
    assert legend in " ".join(output.split())  # the caption wraps at the table's width


def test_markdown_csv_and_json(runs: list[Path]) -> None:
    loaded = load_runs(runs)
    markdown = report_markdown(loaded).splitlines()
    assert markdown[:2] == ["| | base | tuned |", "|---|---:|---:|"]
    assert "| pawsx | 75.0 | 79.0 |" in markdown and "| xnli | 75.0† | - |" in markdown
    assert "| *retrieval (group mean)* | *52.5* | - |" in markdown
    assert markdown[-1].startswith("†")

    rows = list(csv.reader(io.StringIO(report_csv(loaded))))
    assert rows[0] == ["row", "kind", "base", "tuned"]
    assert ["panx", "task", "75.0", "79.0"] in rows and ["xnli", "task", "75.0", ""] in rows
    assert rows[-1][:2] == ["XTREME", "xtreme"] and float(rows[-1][2]) == pytest.approx(
        (75 * 7 + 60 + 45) / 9
    )

    data = report_json(loaded)
    assert [r["name"] for r in data["runs"]] == ["base", "tuned"]
    assert data["tasks"]["xquad"]["base"]["languages"] == {"en": 80.0, "de": 70.0}
    assert data["tasks"]["xnli"]["base"]["missing_languages"] == ["fr"]
    assert "tuned" not in data["tasks"]["xnli"]
    assert data["xtreme_score"]["tuned"] is None
    assert data["xtreme_score"]["base"] is None  # xnli lacks fr: XTREME's score needs it
    partial = data["over_languages_evaluated"]["base"]["xtreme_score"]
    assert partial == pytest.approx((75 * 7 + 60 + 45) / 9)
    code, output = cli("report", *map(str, runs), "--format", "json")
    assert code == 0 and json.loads(output) == json.loads(json.dumps(data))


def test_plots_are_written(runs: list[Path], tmp_path: Path) -> None:
    written, notes = write_plots(load_runs(runs), tmp_path / "plots")
    names = sorted(path.name for path in written)
    assert names == ["heatmap-base.png", "heatmap-tuned.png", "transfer-gap.png"]
    for path in written:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 1000
    assert notes == ["transfer gap: no English score (or no other language) for bucc2018, tatoeba"]


def test_heatmap_with_forty_languages(tmp_path: Path) -> None:
    run = scored_run(
        tmp_path / "wide", {"panx": {lang: 50.0 + i for i, lang in enumerate(PANX_40)}}
    )
    written, _ = write_plots(load_runs([run]), tmp_path / "plots")
    assert [p.name for p in written] == ["heatmap-wide.png", "transfer-gap.png"]
    assert all(p.stat().st_size > 1000 for p in written)


def test_cli_plots_default_to_the_first_run(runs: list[Path], tmp_path: Path) -> None:
    code, output = cli("report", *map(str, runs), "--format", "csv", "--plots")
    assert code == 0, output
    assert (runs[0] / "plots" / "transfer-gap.png").is_file()
    assert f"wrote {runs[0] / 'plots' / 'heatmap-tuned.png'}" in output
    code, output = cli("report", str(runs[1]), "--plots-dir", str(tmp_path / "figures"))
    assert code == 0 and (tmp_path / "figures" / "heatmap-tuned.png").is_file()


def test_transfer_gap_needs_english() -> None:
    assert transfer_gap({"en": 90.0, "de": 80.0, "fr": 70.0}) == pytest.approx(15.0)
    assert transfer_gap({"de": 80.0, "fr": 70.0}) is None
    assert transfer_gap({"en": 90.0}) is None


def test_run_names_are_printed_as_they_are(tmp_path: Path) -> None:
    run = scored_run(tmp_path / "xlmr[lora]", {"pawsx": {"en": 80.0}})
    code, output = cli("report", str(run))
    assert code == 0 and "xlmr[lora]" in output


def test_the_roll_up_is_recomputed_not_read_back(tmp_path: Path) -> None:
    """A results.json from before XTREME's definition was kept held the mean over the
    languages evaluated as ``groups``: the report does not take it for XTREME's."""
    run = scored_run(tmp_path / "old", ALL_NINE, missing={"tatoeba": ["ar"]})
    data = json.loads((run / "results.json").read_text())
    data["groups"]["retrieval"] = 55.0
    data["xtreme_score"] = 60.0
    del data["over_languages_evaluated"]
    (run / "results.json").write_text(json.dumps(data))
    (loaded,) = load_runs([run])
    assert loaded.mean("retrieval") == (52.5, True)
    assert loaded.mean(None)[1] is True


def test_a_study_folder_stands_for_its_runs(tmp_path: Path) -> None:
    study = tmp_path / "study"
    for arm in ("baseline-seed1", "baseline-seed2", "targets-seed1", "targets-seed2"):
        scored_run(study / arm, {"pawsx": {"en": 80.0, "de": 70.0}})
    (study / "intermediate-seed1").mkdir()  # a checkpoint: no results.json
    (study / "study.json").write_text("{}")
    names = [run.name for run in load_runs([study])]
    assert names == ["baseline-seed1", "baseline-seed2", "targets-seed1", "targets-seed2"]


def test_run_names_tell_runs_apart(tmp_path: Path) -> None:
    paths = [tmp_path / "study-a" / "seed1", tmp_path / "study-b" / "seed1", tmp_path / "x"]
    assert run_names(paths) == ["study-a/seed1", "study-b/seed1", "x"]
    assert run_names([tmp_path / "one"]) == ["one"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{a}", "{a}"], "run folder given more than once"),
        (["{a}", "/no/such/run"], "/no/such/run: not a run folder"),
        (["{a}", "--format", "html"], "Invalid value for '--format'"),
    ],
)
def test_cli_report_bad_input(runs: list[Path], args: list[str], message: str) -> None:
    code, output = cli("report", *(arg.format(a=runs[0]) for arg in args))
    assert code == 2 and message in output and "Traceback" not in output


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[]", "the top level: expected an object"),
        ('{"results": []}', "results: expected an object of task blocks"),
        ('{"results": {"pawsx": "x"}}', "results.pawsx: expected an object"),
        ('{"results": {"pawsx": {"settings": 5}}}', "results.pawsx.languages: expected an object"),
        (
            '{"results": {"pawsx": {"languages": {}, "task_languages": "en"}}}',
            "results.pawsx.task_languages: expected an array",
        ),
    ],
)
def test_a_results_file_of_another_shape_is_refused_by_name(
    tmp_path: Path, text: str, expected: str
) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "results.json").write_text(text)
    for command in (["report"], ["export", "--out", str(tmp_path / "sub")]):
        code, output = cli(*command[:1], str(tmp_path / "run"), *command[1:])
        assert code == 2, output
        assert "not a harness results file" in output and expected in " ".join(output.split())
    with pytest.raises(ConfigError, match="not a harness results file"):
        RunStore(tmp_path / "run")
