"""`harness export`: a run's test predictions as an XTREME submission, and `--check`.

Fast tests use a hand-built run folder over a small XTREME-layout data folder, with a
user registry restricting every target to one or two languages and XTREME's language
lists narrowed to match (a submission needs XTREME's); no model runs. The
realdata test checks a synthetic submission against the real XNLI and PAWS-X test files.
"""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from harness.cli import main
from harness.data import fingerprint, read_split
from harness.errors import HarnessError
from harness.export import check_submission, export_submission, sorted_positions
from harness.metrics import xtreme_score
from harness.registry import Registry, load_registry

REGISTRY = """\
targets:
  xnli: {languages: [en, de]}
  pawsx: {languages: [en, de]}
  udpos: {languages: [en, de]}
  panx: {languages: [en, de]}
  xquad: {languages: [en, de]}
  mlqa: {languages: [en, de]}
  tydiqa: {languages: [en]}
  bucc2018: {languages: [zh]}
  tatoeba: {languages: [de, fr]}
"""


def _squad(ids: list[str]) -> str:
    qas = [{"id": qid, "question": f"Question {qid}?", "answers": []} for qid in ids]
    return json.dumps({"data": [{"paragraphs": [{"context": "The cat sat.", "qas": qas}]}]})


# the test files, XTREME's download/ layout (labels stripped as XTREME ships them)
DATA = {
    "xnli/test-en.tsv": "A man eats.\tSomeone eats.\nIt rains.\tIt is dry.\nHe runs.\tHe moves.\n",
    "xnli/test-de.tsv": "Er isst.\tJemand isst.\nEs regnet.\tEs ist trocken.\n",
    "pawsx/test-en.tsv": "a b\tb a\nc d\tc d\n",
    "pawsx/test-de.tsv": "e f\tf e\ng h\tg h\n",
    "udpos/test-en.tsv": "The\tDET\ncat\tNOUN\n\nRun\tVERB\n",
    "udpos/test-de.tsv": "Die\tDET\nKatze\tNOUN\n",
    "panx/test-en.tsv": "Paris\nis\nnice\n\nBob\n",
    "panx/test-de.tsv": "Berlin\n",
    "xquad/xquad.en.json": _squad(["q1", "q2"]),
    "xquad/xquad.de.json": _squad(["q3"]),
    "mlqa/MLQA_V1/test/test-context-en-question-en.json": _squad(["m1"]),
    "mlqa/MLQA_V1/test/test-context-de-question-de.json": _squad(["m2"]),
    "tydiqa/tydiqa-goldp-v1.1-dev/tydiqa.goldp.en.dev.json": _squad(["t1"]),
    "bucc2018/zh-en.test.zh": "zh-000000001\t猫\nzh-000000002\t狗\n",
    "bucc2018/zh-en.test.en": "en-000000001\tdog\nen-000000002\tcat\n",
    "tatoeba/tatoeba.deu-eng.deu": "Der Hund\nEine Katze\nApfel\nZebra\nEine Katze!\n",
    # raw order differs from sorted order; " apple" sorts as "apple" (XTREME strips);
    # "a cat" twice keeps its raw order
    "tatoeba/tatoeba.deu-eng.eng": "the dog\na cat\n apple\nzebra\na cat\n",
    "tatoeba/tatoeba.fra-eng.fra": "Bonjour\nMerci\n",
    "tatoeba/tatoeba.fra-eng.eng": "thanks\nhello\n",
}

# what the run stored per (task, language), in the order of each test file
PREDICTIONS: dict[tuple[str, str], list[Any]] = {
    ("udpos", "en"): [["DET", "NOUN"], ["VERB"]],
    ("udpos", "de"): [["DET", "PROPN"]],
    ("panx", "en"): [["B-LOC", "O", "O"], ["B-PER"]],
    ("panx", "de"): [["B-LOC"]],
    ("xnli", "en"): ["entailment", "contradiction", "entailment"],
    ("xnli", "de"): ["neutral", "contradiction"],
    ("pawsx", "en"): ["1", "0"],
    ("pawsx", "de"): ["1", "1"],
    ("xquad", "en"): [{"id": "q1", "answer": "cat"}, {"id": "q2", "answer": "sat"}],
    ("xquad", "de"): [{"id": "q3", "answer": "Die Katze\u2028saß"}],
    ("mlqa", "en"): [{"id": "m1", "answer": "The cat"}],
    ("mlqa", "de"): [{"id": "m2", "answer": "Katze"}],
    ("tydiqa", "en"): [{"id": "t1", "answer": ""}],
    ("bucc2018", "zh"): [["zh-000000001", "en-000000002"], ["zh-000000002", "en-000000001"]],
    ("tatoeba", "de"): [0, 1, 2, 3, 4],
    ("tatoeba", "fr"): [1, 0],
}

# the submission those predictions make, file by file
EXPECTED = {
    "udpos/test-en.tsv": "DET\nNOUN\n\nVERB\n",
    "udpos/test-de.tsv": "DET\nPROPN\n",
    "panx/test-en.tsv": "B-LOC\nO\nO\n\nB-PER\n",
    "panx/test-de.tsv": "B-LOC\n",
    "xnli/test-en.tsv": "entailment\ncontradiction\nentailment\n",
    "xnli/test-de.tsv": "neutral\ncontradiction\n",
    "pawsx/test-en.tsv": "1\n0\n",
    "pawsx/test-de.tsv": "1\n1\n",
    "xquad/test-en.json": '{"q1": "cat", "q2": "sat"}\n',
    "xquad/test-de.json": '{"q3": "Die Katze\u2028saß"}\n',
    "mlqa/test-en.json": '{"m1": "The cat"}\n',
    "mlqa/test-de.json": '{"m2": "Katze"}\n',
    "tydiqa/test-en.json": '{"t1": ""}\n',
    "bucc2018/test-zh.tsv": "zh-000000001\ten-000000002\nzh-000000002\ten-000000001\n",
    # sorted English: a cat (row 1), a cat (row 4), apple (2), the dog (0), zebra (3)
    "tatoeba/test-de.tsv": "3\n0\n2\n4\n1\n",
    # sorted English: hello (row 1), thanks (row 0)
    "tatoeba/test-fr.tsv": "0\n1\n",
}


XTREME_LANGUAGES = xtreme_score.xtreme_languages


@pytest.fixture(autouse=True)
def _xtreme_as_narrow_as_the_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    lists = {name: tuple(t["languages"]) for name, t in yaml.safe_load(REGISTRY)["targets"].items()}
    monkeypatch.setattr(xtreme_score, "xtreme_languages", lambda: lists)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    root = tmp_path / "download"
    for rel, text in DATA.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    return root


@pytest.fixture
def registry_file(tmp_path: Path) -> Path:
    path = tmp_path / "two-languages.yaml"
    path.write_text(REGISTRY)
    return path


@pytest.fixture
def registry(registry_file: Path) -> Registry:
    return load_registry([registry_file])


@pytest.fixture
def run_dir(tmp_path: Path, data_dir: Path, registry_file: Path, registry: Registry) -> Path:
    """A run folder as `harness eval --eval-split test` leaves it, built by hand."""
    root = tmp_path / "run"
    results: dict[str, Any] = {}
    for (name, lang), rows in PREDICTIONS.items():
        task = registry.target(name)
        data = read_split(task, "test", lang, data_dir)
        info = {"split": "test", "lang": lang, "origin": data.origin,
                "fingerprint": fingerprint(data.files), "examples": len(rows)}  # fmt: skip
        block = results.setdefault(
            name,
            {"kind": task.kind, "settings": {"languages": list(task.languages)},
             "task_languages": list(task.languages), "languages": {}, "data": {}, "gaps": []},
        )  # fmt: skip
        if name == "tatoeba":
            block["data"][lang] = info
        elif name == "bucc2018":
            block["data"][lang] = {"dev": info | {"split": "dev"}, "eval": info}
        else:
            block["data"].setdefault("eval", {})[lang] = info
        path = root / "predictions" / name / f"test-{lang}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    options = {"data_dir": str(data_dir), "registry_files": [str(registry_file)],
               "limit": None, "eval_split": "test"}  # fmt: skip
    config = {"command": "eval", "targets": list(results), "options": options}
    (root / "results.json").write_text(json.dumps({"config": config, "results": results}))
    return root


def edit_run(run_dir: Path, change: Callable[[dict[str, Any]], None]) -> None:
    path = run_dir / "results.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def refusal(run_dir: Path, out: Path, tasks: list[str] | None = None) -> str:
    with pytest.raises(HarnessError) as err:
        export_submission(run_dir, out, tasks)
    assert not out.exists()  # nothing written, not even the folder
    return str(err.value)


# ---------------------------------------------------------------- the writer


def test_user_registry_restricts_languages_field_by_field(registry: Registry) -> None:
    xnli = registry.target("xnli")
    assert xnli.languages == ("en", "de")
    assert xnli.labels == ("contradiction", "entailment", "neutral")  # the rest is built-in
    assert registry.target("tatoeba").languages == ("de", "fr")


def test_sorted_positions_follow_xtreme_stable_sort() -> None:
    assert sorted_positions(["the dog", "a cat", " apple", "zebra", "a cat"]) == [3, 0, 2, 4, 1]
    assert sorted_positions([]) == []


def test_export_writes_every_task_in_xtreme_format(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "submission"
    written = export_submission(run_dir, out)
    assert sorted(written) == sorted(str(out / rel) for rel in EXPECTED)
    for rel, text in EXPECTED.items():
        assert (out / rel).read_text(encoding="utf-8") == text, rel
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["udpos", "panx", "xnli", "pawsx", "xquad", "mlqa", "tydiqa", "bucc2018", "tatoeba"]
    )
    assert not list(tmp_path.glob(".submission.*"))  # the staging folder is gone


def test_export_of_a_subset_writes_only_those_tasks(run_dir: Path, tmp_path: Path) -> None:
    edit_run(run_dir, lambda d: d["results"].pop("udpos"))  # not needed for the subset
    out = tmp_path / "submission"
    written = export_submission(run_dir, out, ["pawsx", "xnli"])
    assert sorted(Path(p).relative_to(out).as_posix() for p in written) == [
        "pawsx/test-de.tsv", "pawsx/test-en.tsv", "xnli/test-de.tsv", "xnli/test-en.tsv"
    ]  # fmt: skip
    assert sorted(p.name for p in out.iterdir()) == ["pawsx", "xnli"]


def test_reexport_replaces_task_folders_whole(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "submission"
    (out / "xnli").mkdir(parents=True)
    (out / "xnli" / "test-fr.tsv").write_text("stale\n")
    (out / "tatoeba").mkdir()
    (out / "tatoeba" / "test-de.tsv").write_text("from another run\n")
    export_submission(run_dir, out, ["xnli"])
    assert sorted(p.name for p in (out / "xnli").iterdir()) == ["test-de.tsv", "test-en.tsv"]
    assert (out / "tatoeba" / "test-de.tsv").read_text() == "from another run\n"


def test_refuses_missing_languages_and_non_test_splits(run_dir: Path, tmp_path: Path) -> None:
    def change(data: dict[str, Any]) -> None:
        xnli = data["results"]["xnli"]
        del xnli["data"]["eval"]["de"]
        xnli["gaps"] = ["de: xnli/test-de.tsv: file not found"]
        data["results"]["pawsx"]["data"]["eval"]["de"]["split"] = "dev"
        data["results"]["bucc2018"]["data"]["zh"].pop("eval")
        data["results"]["bucc2018"]["gaps"] = [
            "zh: no test split (zh-en.test.zh: file not found): scored on dev, no test predictions"
        ]
        data["results"].pop("tydiqa")

    edit_run(run_dir, change)
    message = refusal(run_dir, tmp_path / "submission")
    assert "xnli de: no test predictions (xnli/test-de.tsv: file not found)" in message
    assert (
        "pawsx de: the run predicted the dev split, not test (rerun with --eval-split test)"
        in message
    )
    assert (
        "bucc2018 zh: no test predictions (no test split (zh-en.test.zh: file not found)" in message
    )
    assert "tydiqa: not in the run (it holds: " in message
    assert "4 problem(s)" in message and "--tasks" in message


def test_refuses_a_language_the_run_left_out(run_dir: Path, tmp_path: Path) -> None:
    def change(data: dict[str, Any]) -> None:
        data["results"]["tatoeba"]["data"].pop("fr")
        data["results"]["tatoeba"]["settings"]["languages"] = ["de"]

    edit_run(run_dir, change)
    message = refusal(run_dir, tmp_path / "submission", ["tatoeba"])
    assert "tatoeba fr: no test predictions (the run's languages were de)" in message


def test_refuses_a_limit_run(run_dir: Path, tmp_path: Path) -> None:
    path = run_dir / "predictions" / "xnli" / "test-en.jsonl"
    path.write_text(path.read_text().splitlines()[0] + "\n")
    edit_run(run_dir, lambda d: d["config"]["options"].update(limit=1))
    message = refusal(run_dir, tmp_path / "submission", ["xnli"])
    assert (
        "xnli en: 1 prediction, but the test file has 3 examples (the run used --limit 1)"
        in message
    )


def test_refuses_fallback_reads_held_out_examples_and_changed_files(
    run_dir: Path, data_dir: Path, tmp_path: Path
) -> None:
    def change(data: dict[str, Any]) -> None:
        data["results"]["mlqa"]["data"]["eval"]["en"]["note"] = "mlqa test (en) unavailable"
        data["results"]["xnli"]["data"]["eval"]["en"]["held_out_from_train"] = True

    edit_run(run_dir, change)
    with (data_dir / "pawsx" / "test-de.tsv").open("a") as handle:
        handle.write("i j\tj i\n")
    message = refusal(run_dir, tmp_path / "submission", ["xnli", "pawsx", "mlqa"])
    assert (
        "mlqa en: the run read its test split through a fallback: mlqa test (en) unavailable"
        in message
    )
    assert "xnli en: the run predicted examples held out of training" in message
    assert "pawsx de: the test file (local:pawsx/test-de.tsv) changed since the run" in message


def test_refuses_predictions_the_format_cannot_hold(run_dir: Path, tmp_path: Path) -> None:
    (run_dir / "predictions" / "xnli" / "test-de.jsonl").write_text('"neutral"\n"maybe"\n')
    (run_dir / "predictions" / "tatoeba" / "test-fr.jsonl").write_text("1\n7\n")
    message = refusal(run_dir, tmp_path / "submission", ["xnli", "tatoeba"])
    assert (
        "xnli de: 1 line with a label outside contradiction, entailment, neutral: line 2 'maybe'"
        in message
    )
    assert (
        "tatoeba fr: " in message
        and "row 2: expected a row of the English file (0..1), got 7" in message
    )


def test_cli_export_and_its_refusal(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "submission"
    code, output = cli("export", str(run_dir), "--out", str(out), "--tasks", "xnli,tatoeba")
    assert code == 0, output
    assert "wrote 4 files of xnli, tatoeba" in output
    edit_run(run_dir, lambda d: d["results"].pop("xnli"))
    code, output = cli("export", str(run_dir), "--out", str(tmp_path / "other"))
    assert code == 2 and "error: cannot export" in output and "xnli: not in the run" in output
    assert "Traceback" not in output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["RUN", "--check", "DIR"], "give a run folder RUN or --check DIR, not both"),
        (["RUN"], "--out DIR is needed to export RUN"),
        ([], "give a run folder RUN (with --out DIR) or --check DIR"),
        (["--check", "DIR"], "--check needs --data-dir"),
        (["--check", "DIR", "--data-dir", "D", "--out", "O"], "--out goes with RUN"),
        (["RUN", "--out", "O", "--registry", "R"], "--registry goes with --check"),
        (["RUN", "--out", "O", "--tasks", "xnli,xcopa"], "--tasks: xcopa not XTREME tasks"),
        (["--check", "DIR", "--data-dir", "/no/such/folder"], "--data-dir /no/such/folder: folder"),
    ],
)
def test_cli_usage_errors(args: list[str], message: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HARNESS_DATA_DIR", raising=False)
    code, output = cli("export", *args)
    assert code == 2 and message in output and "Traceback" not in output


# ---------------------------------------------------------------- the validator


@pytest.fixture
def submission(run_dir: Path, tmp_path: Path) -> Path:
    out = tmp_path / "submission"
    export_submission(run_dir, out)
    return out


def test_check_passes_a_good_export(
    submission: Path, data_dir: Path, registry: Registry, registry_file: Path
) -> None:
    assert check_submission(submission, data_dir, registry) == []
    code, output = cli("export", "--check", str(submission), "--data-dir", str(data_dir),
                       "--registry", str(registry_file))  # fmt: skip
    assert code == 0, output
    assert output.startswith(f"ok: {submission}: 16 files of udpos, panx, xnli")


def test_a_submission_needs_xtreme_languages_whatever_the_registry_lists(
    submission: Path, data_dir: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(xtreme_score, "xtreme_languages", XTREME_LANGUAGES)
    problems = check_submission(submission, data_dir, registry, ["xnli"])
    assert "xnli/test-ar.tsv: missing" in problems  # XNLI's 15 languages, not the 2 listed
    assert len(problems) == 13


def _write(rel: str, text: str) -> Callable[[Path], None]:
    return lambda root: (root / rel).write_text(text, encoding="utf-8")


DEFECTS = {
    "missing file": (
        lambda root: (root / "xnli" / "test-de.tsv").unlink(),
        ["xnli/test-de.tsv: missing"],
    ),
    "missing task folder": (
        lambda root: shutil.rmtree(root / "tydiqa"),
        ["tydiqa/: missing task folder"],
    ),
    "extra file": (
        _write("pawsx/test-fr.tsv", "0\n"),
        ["pawsx/test-fr.tsv: unexpected file (expected test-LANG.tsv for en, de)"],
    ),
    "extra folder": (
        lambda root: (root / "xcopa").mkdir(),
        [
            "xcopa: unexpected (a submission holds only the folders udpos, panx, xnli, pawsx, "
            "xquad, mlqa, tydiqa, bucc2018, tatoeba)"
        ],
    ),
    "wrong line count": (
        _write("xnli/test-en.tsv", "entailment\nneutral\n"),
        ["xnli/test-en.tsv: 2 lines, but the test file has 3 examples"],
    ),
    "trailing blank line": (
        _write("pawsx/test-en.tsv", "1\n0\n\n"),
        [
            "pawsx/test-en.tsv: 3 lines, but the test file has 2 examples",
            "pawsx/test-en.tsv: 1 line with a label outside 0, 1: line 3 ''",
        ],
    ),
    "bad label": (
        _write("pawsx/test-de.tsv", "1\ntrue\n"),
        ["pawsx/test-de.tsv: 1 line with a label outside 0, 1: line 2 'true'"],
    ),
    "wrong sentence count": (
        _write("udpos/test-en.tsv", "DET\nNOUN\n\n\nVERB\n"),
        ["udpos/test-en.tsv: 3 sentences, but the test file has 2 sentences"],
    ),
    "wrong sentence length": (
        _write("panx/test-en.tsv", "B-LOC\nO\n\nB-PER\n"),
        [
            "panx/test-en.tsv: 1 sentence of another length than in the test file: "
            "sentence 1 (2 tags for 3 tokens)"
        ],
    ),
    "bad tag": (
        _write("udpos/test-de.tsv", "DET\nNOUNS\n"),
        [
            "udpos/test-de.tsv: tags outside ADJ, ADP, ADV, AUX, CCONJ, DET, INTJ, NOUN, NUM, "
            "PART, PRON, PROPN, PUNCT, SCONJ, SYM, VERB, X: 'NOUNS'"
        ],
    ),
    "wrong QA keys": (
        _write("xquad/test-en.json", '{"q1": "cat", "q9": "dog"}'),
        [
            "xquad/test-en.json: 1 question id of the test file missing: q2",
            "xquad/test-en.json: 1 id not in the test file: q9",
        ],
    ),
    "QA answer not text": (
        _write("mlqa/test-de.json", '{"m2": 3}'),
        ["mlqa/test-de.json: 1 answer not text: m2"],
    ),
    "QA JSON not an object": (
        _write("mlqa/test-en.json", '["The cat"]'),
        ["mlqa/test-en.json: expected a JSON object {question_id: answer}, got a list"],
    ),
    "QA not JSON": (
        _write("xquad/test-de.json", "q3\tDie Katze\n"),
        ["xquad/test-de.json: not valid JSON (Expecting value: line 1 column 1 (char 0))"],
    ),
    "bad tatoeba index": (
        _write("tatoeba/test-de.tsv", "3\n0\n2\n5\n01\n"),
        [
            "tatoeba/test-de.tsv: 1 line not a non-negative integer: line 5 '01'",
            "tatoeba/test-de.tsv: 1 line beyond the English file's 5 lines: line 4 (5)",
        ],
    ),
    "malformed bucc line": (
        _write("bucc2018/test-zh.tsv", "zh-000000001\ten-000000002\nen-000000001 zh-000000002\n"),
        ["bucc2018/test-zh.tsv: 1 line not 'zh-ID TAB en-ID': line 2 'en-000000001 zh-000000002'"],
    ),
    "not UTF-8": (
        lambda root: (root / "panx" / "test-de.tsv").write_bytes(b"B-LOC\n\xff\n"),
        ["panx/test-de.tsv: not UTF-8 text (invalid start byte)"],
    ),
}


@pytest.mark.parametrize("defect", list(DEFECTS))
def test_check_catches(defect: str, submission: Path, data_dir: Path, registry: Registry) -> None:
    damage, expected = DEFECTS[defect]
    damage(submission)
    assert check_submission(submission, data_dir, registry) == expected


def test_check_reports_every_problem_at_once(
    submission: Path, data_dir: Path, registry_file: Path
) -> None:
    for damage, _ in DEFECTS.values():
        damage(submission)
    expected = sorted(line for _, lines in DEFECTS.values() for line in lines)
    code, output = cli("export", "--check", str(submission), "--data-dir", str(data_dir),
                       "--registry", str(registry_file))  # fmt: skip
    assert code == 1
    lines = output.splitlines()
    assert lines[-1] == f"{len(expected)} problem(s) in {submission}"
    assert sorted(lines[:-1]) == expected


def test_check_of_a_subset_and_of_long_lists(
    submission: Path, data_dir: Path, registry: Registry
) -> None:
    (submission / "xnli" / "test-en.tsv").write_text("yes\n" * 3)
    (submission / "tatoeba" / "test-fr.tsv").write_text("9\n" * 7)
    assert check_submission(submission, data_dir, registry, ["pawsx"]) == []
    assert check_submission(submission, data_dir, registry, ["xnli", "tatoeba"]) == [
        "xnli/test-en.tsv: 3 lines with a label outside contradiction, entailment, neutral: "
        "line 1 'yes', line 2 'yes', line 3 'yes'",
        "tatoeba/test-fr.tsv: 7 lines, but the test file has 2 source sentences",
        "tatoeba/test-fr.tsv: 7 lines beyond the English file's 2 lines: "
        "line 1 (9), line 2 (9), line 3 (9), line 4 (9), line 5 (9) and 2 more",
    ]


def test_check_says_when_a_test_file_is_missing(
    submission: Path, data_dir: Path, registry: Registry
) -> None:
    mlqa = data_dir / "mlqa" / "MLQA_V1"
    (mlqa / "test" / "test-context-en-question-en.json").unlink()
    (mlqa / "dev").mkdir()
    (mlqa / "dev" / "dev-context-en-question-en.json").write_text(_squad(["d1"]))
    (data_dir / "xnli" / "test-de.tsv").unlink()
    problems = check_submission(submission, data_dir, registry, ["xnli", "mlqa"])
    assert len(problems) == 2
    assert problems[0].startswith("xnli/test-de.tsv: cannot be checked: ")
    assert "test-de.tsv" in problems[0]
    # MLQA falls back to its dev split, whose ids differ: refused, not compared
    assert problems[1].startswith(
        "mlqa/test-en.json: cannot be checked: no test file: mlqa test (en)"
    )


# ---------------------------------------------------------------- real data


@pytest.mark.realdata
def test_first_label_submission_checks_against_real_test_files(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(xtreme_score, "xtreme_languages", XTREME_LANGUAGES)  # every language
    data_dir = shared_data / "xtreme"
    registry = load_registry(environment=False)
    out = tmp_path / "submission"
    for name in ("xnli", "pawsx"):
        task = registry.target(name)
        (out / name).mkdir(parents=True)
        for lang in task.languages:
            size = len(read_split(task, "test", lang, data_dir).examples)
            (out / name / f"test-{lang}.tsv").write_text(f"{task.labels[0]}\n" * size)
    assert check_submission(out, data_dir, registry, ["xnli", "pawsx"]) == []
    truncated = out / "xnli" / "test-de.tsv"
    truncated.write_text("contradiction\n" * 5009)
    assert check_submission(out, data_dir, registry, ["xnli", "pawsx"]) == [
        "xnli/test-de.tsv: 5009 lines, but the test file has 5010 examples"
    ]


# ------------------------------------------------- end to end on the tiny model


def _training_files(rng: random.Random) -> dict[str, str]:
    """English training (and labelled dev) data for every trained target, tiny sizes."""
    words = ["the", "cat", "dog", "sat", "on", "mat", "a", "house", "is", "big", "red", "river"]

    def sentence() -> list[str]:
        return [rng.choice(words) for _ in range(rng.randint(3, 7))]

    def pairs(labels: list[str]) -> str:
        return "".join(
            f"{' '.join(sentence())}\t{' '.join(sentence())}\t{rng.choice(labels)}\n"
            for _ in range(40)
        )

    def tagged(tags: list[str]) -> str:
        return "\n".join(
            "".join(f"{w}\t{rng.choice(tags)}\n" for w in sentence()) for _ in range(30)
        )

    paragraphs = []
    for i in range(30):
        context = " ".join(sentence()) + " the cat sat on the mat ."
        paragraphs.append({"context": context, "qas": [{"id": f"tr{i}", "question": "where sat the cat ?",
                           "answers": [{"text": "mat", "answer_start": context.rindex("mat")}]}]})  # fmt: skip
    gold = "".join(f"zh-{i:09d}\ten-{i:09d}\n" for i in range(1, 3))
    return {
        "xnli/dev-en.tsv": pairs(["entailment", "neutral", "contradiction"]),
        "pawsx/dev-en.tsv": pairs(["0", "1"]),
        "udpos/train-en.tsv": tagged(["DET", "NOUN", "VERB"]),
        "udpos/dev-en.tsv": tagged(["DET", "NOUN", "VERB"]),
        "panx/train-en.tsv": tagged(["O", "B-LOC", "B-PER", "I-PER"]),
        "panx/dev-en.tsv": tagged(["O", "B-LOC", "B-PER", "I-PER"]),
        "tydiqa/tydiqa-goldp-v1.1-train/tydiqa.goldp.en.train.json": json.dumps(
            {"data": [{"paragraphs": paragraphs}]}
        ),
        "bucc2018/zh-en.dev.zh": "zh-000000001\t猫\nzh-000000002\t狗\n",
        "bucc2018/zh-en.dev.en": "en-000000001\tcat\nen-000000002\tdog\n",
        "bucc2018/zh-en.dev.gold": gold,
    }


def test_tiny_model_run_of_every_task_exports_and_checks(
    tiny_model: Path, data_dir: Path, registry_file: Path, registry: Registry, tmp_path: Path
) -> None:
    for rel, text in _training_files(random.Random(0)).items():
        (data_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        (data_dir / rel).write_text(text, encoding="utf-8")
    run = tmp_path / "tiny-run"
    code, output = cli("eval", "--model", str(tiny_model), "--targets", "xtreme", "--registry", str(registry_file),
                       "--data-dir", str(data_dir), "--eval-split", "test", "--epochs", "1",
                       "--batch-size", "8", "--max-length", "64", "--output", str(run))  # fmt: skip
    assert code == 0, output
    out = tmp_path / "submission"
    code, output = cli("export", str(run), "--out", str(out))
    assert code == 0, output
    written = sorted(str(p.relative_to(out)) for p in out.rglob("test-*"))
    assert written == sorted(EXPECTED)  # every task, every language, XTREME's names
    assert check_submission(out, data_dir, registry) == []
    # the files hold what the run predicted, in the test files' order
    stored = [
        json.loads(line)
        for line in (run / "predictions/xnli/test-de.jsonl").read_text().splitlines()
    ]
    assert (out / "xnli/test-de.tsv").read_text().splitlines() == stored
    assert len((out / "tatoeba/test-de.tsv").read_text().splitlines()) == 5
