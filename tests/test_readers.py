"""Readers and the split resolver: every format on small fixtures, every error case,
and (marked realdata) the real files under ../shared/data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.data import (
    Answer,
    Bitext,
    ChoiceExample,
    MiningCorpus,
    PairExample,
    QAExample,
    TaggedSentence,
    fingerprint,
    read_split,
)
from harness.data.selection import describe
from harness.errors import ConfigError, DataError
from harness.specs import METRICS_BY_KIND, TaskSpec

NLI = ["contradiction", "entailment", "neutral"]
# fmt: off
UPOS = [
    "ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON", "PROPN",
    "PUNCT", "SCONJ", "SYM", "VERB", "X"
]
# fmt: on
NER = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]


def make_task(kind: str, data: dict[str, Any], name: str = "t", **extra: Any) -> TaskSpec:
    """A TaskSpec from a literal registry entry; every role points at the first split."""
    first = next(iter(data))
    roles = (
        {"eval": first} if kind == "retrieval" else {"train": first, "dev": first, "eval": first}
    )
    metric = METRICS_BY_KIND[kind][0]
    raw = {"kind": kind, "metric": metric, "data": data, "splits": roles, **extra}
    if "languages" in extra:
        raw.setdefault("train_language", extra["languages"][0])
    return TaskSpec.parse(name, "target", raw, source="test")


def local(fmt: str, path: Any, **more: Any) -> dict[str, Any]:
    return {"local": {"format": fmt, "path": path, **more}}


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8", newline="")
    return path


def read_one(
    tmp_path: Path,
    kind: str,
    fmt: str,
    path: Any,
    split: str = "test",
    lang: str = "en",
    fields: dict[str, str] | None = None,
    **extra: Any,
) -> Any:
    source = {"fields": fields} if fields else {}
    task = make_task(kind, {split: local(fmt, path, **source)}, **extra)
    return read_split(task, split, lang, tmp_path).examples


# ---------------------------------------------------------------- pair_tsv


def test_pair_tsv_labelled_crlf_and_line_separators_inside_text(tmp_path: Path) -> None:
    write(tmp_path / "x/dev-de.tsv", "a\u2028b\tc\u0085d\tneutral\r\n\r\ne\tf\tentailment \r\n")
    task = make_task(
        "pair_classification",
        {"dev": local("pair_tsv", "x/dev-{lang}.tsv")},
        labels=NLI,
        languages=["en", "de"],
    )
    data = read_split(task, "dev", "de", tmp_path)
    assert data.examples == [
        PairExample("a\u2028b", "c\u0085d", "neutral"),
        PairExample("e", "f", "entailment"),
    ]
    assert data.files == (tmp_path / "x/dev-de.tsv",)
    assert data.origin == "local:x/dev-de.tsv"


def test_pair_tsv_two_columns_have_no_labels(tmp_path: Path) -> None:
    write(tmp_path / "test.tsv", "a\tb\nc\td\n")
    examples = read_one(tmp_path, "pair_classification", "pair_tsv", "test.tsv", labels=NLI)
    assert [e.label for e in examples] == [None, None]


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("a\tb\tneutral\nc\td\n", 2, "expected 3 tab-separated columns"),
        ("a\tb\tneutral\tx\n", 1, "expected 2 tab-separated columns"),
        ("just one column\n", 1, "got 1"),
        (
            "a\tb\tneutral\nc\td\tmaybe\n",
            2,
            "unknown label 'maybe'; expected one of: contradiction",
        ),
    ],
)
def test_pair_tsv_errors_name_file_and_line(
    tmp_path: Path, text: str, line: int, message: str
) -> None:
    write(tmp_path / "p.tsv", text)
    with pytest.raises(DataError, match=message) as err:
        read_one(tmp_path, "pair_classification", "pair_tsv", "p.tsv", labels=NLI)
    assert err.value.line == line
    assert err.value.path == str(tmp_path / "p.tsv")


def test_non_utf8_file_reports_the_bad_line(tmp_path: Path) -> None:
    write(tmp_path / "p.tsv", b"a\tb\tneutral\n" * 5000 + b"caf\xe9\tb\tneutral\n")
    with pytest.raises(DataError, match="not UTF-8") as err:
        read_one(tmp_path, "pair_classification", "pair_tsv", "p.tsv", labels=NLI)
    assert err.value.line == 5001


# ---------------------------------------------------------------- tagged_tsv


def test_tagged_tsv_sentences_split_by_blank_lines(tmp_path: Path) -> None:
    write(tmp_path / "t.tsv", "Anton\tB-PER\nlebt\tO\n\n\n.\tO\n")  # no final blank line
    examples = read_one(tmp_path, "tagging", "tagged_tsv", "t.tsv", labels=NER)
    assert examples == [
        TaggedSentence(("Anton", "lebt"), ("B-PER", "O")),
        TaggedSentence((".",), ("O",)),
    ]


def test_tagged_tsv_tokens_only_have_no_tags(tmp_path: Path) -> None:
    write(tmp_path / "t.tsv", "Hu\n(\n\nAustralia\n\n")
    examples = read_one(tmp_path, "tagging", "tagged_tsv", "t.tsv", labels=NER)
    assert examples == [TaggedSentence(("Hu", "(")), TaggedSentence(("Australia",))]


def test_tagged_tsv_empty_label_set_accepts_any_tag(tmp_path: Path) -> None:
    write(tmp_path / "ccg.tsv", "The\tNP/N\ndog\tN\n")
    task = make_task("tagging", {"dev": local("tagged_tsv", "ccg.tsv")})  # CCGbank: no fixed set
    assert read_split(task, "dev", "en", tmp_path).examples[0].tags == ("NP/N", "N")


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("\tNOUN\n", 1, "empty token"),
        ("dog\tNOUN\nbarks\tVERBZ\n", 2, "unknown label 'VERBZ'; expected one of: ADJ"),
        ("dog\tNOUN\nbarks\n", 2, "expected 2 tab-separated column"),
        ("dog\tNOUN\tx\n", 1, "got 3 columns"),
        ("dog\t\n", 1, "unknown label ''"),
    ],
)
def test_tagged_tsv_errors(tmp_path: Path, text: str, line: int, message: str) -> None:
    write(tmp_path / "t.tsv", text)
    with pytest.raises(DataError, match=message) as err:
        read_one(tmp_path, "tagging", "tagged_tsv", "t.tsv", labels=UPOS)
    assert err.value.line == line


# ---------------------------------------------------------------- conllu

CONLLU = """# newdoc id = d1
# sent_id = s-1
# text = Don't go.
1-2\tDon't\t_\t_\t_\t_\t_\t_\t_\t_
1\tDo\tdo\tAUX\tVBP\t_\t3\taux\t_\t_
2\tn't\tnot\tPART\tRB\t_\t3\tadvmod\t_\t_
2.1\tgo\tgo\tVERB\tVB\t_\t_\t_\t3:conj\tCopyOf=3
3\tgo\tgo\tVERB\tVB\t_\t0\troot\t_\t_
4\t.\t.\tPUNCT\t.\t_\t3\tpunct\t_\t_

# sent_id = s-2
1\tYes\tyes\tINTJ\tUH\t_\t0\troot\t_\t_
"""


def test_conllu_skips_ranges_empty_nodes_and_comments(tmp_path: Path) -> None:
    write(tmp_path / "ud/en-ud-test.conllu", CONLLU)
    examples = read_one(tmp_path, "tagging", "conllu", "ud/en-ud-test.conllu", labels=UPOS)
    assert examples == [
        TaggedSentence(("Do", "n't", "go", "."), ("AUX", "PART", "VERB", "PUNCT"), "s-1"),
        TaggedSentence(("Yes",), ("INTJ",), "s-2"),
    ]


def test_conllu_other_columns_through_fields(tmp_path: Path) -> None:
    write(tmp_path / "t.conllu", CONLLU)
    examples = read_one(
        tmp_path,
        "tagging",
        "conllu",
        "t.conllu",
        labels=["VBP", "RB", "VB", ".", "UH"],
        fields={"tokens": "lemma", "tags": "xpos"},
    )
    assert examples[0] == TaggedSentence(("do", "not", "go", "."), ("VBP", "RB", "VB", "."), "s-1")


def test_conllu_errors(tmp_path: Path) -> None:
    write(tmp_path / "t.conllu", "1\tDo\tdo\tAUX\n")
    with pytest.raises(DataError, match="expected 10 tab-separated CoNLL-U columns, got 4") as err:
        read_one(tmp_path, "tagging", "conllu", "t.conllu", labels=UPOS)
    assert err.value.line == 1
    write(tmp_path / "t.conllu", CONLLU.replace("PART", "PARTICLE"))
    with pytest.raises(DataError, match="unknown label 'PARTICLE'") as err:
        read_one(tmp_path, "tagging", "conllu", "t.conllu", labels=UPOS)
    assert err.value.line == 6
    with pytest.raises(DataError, match="'pos' is not a CoNLL-U column"):
        read_one(tmp_path, "tagging", "conllu", "t.conllu", labels=UPOS, fields={"tags": "pos"})


# ---------------------------------------------------------------- squad_json


def squad(qas: list[dict[str, Any]], context: str = "Paris is in France.") -> str:
    return json.dumps(
        {
            "version": "1.1",
            "data": [{"title": "t", "paragraphs": [{"context": context, "qas": qas}]}],
        },
        indent=1,
    )


def test_squad_json(tmp_path: Path) -> None:
    write(
        tmp_path / "xquad.de.json",
        squad(
            [
                {
                    "id": "q1",
                    "question": "Where?",
                    "answers": [{"text": "France", "answer_start": 12}],
                },
                {"id": "q2", "question": "What?", "answers": []},
            ]
        ),
    )
    examples = read_one(
        tmp_path,
        "extractive_qa",
        "squad_json",
        "xquad.{lang}.json",
        lang="de",
        languages=["en", "de"],
    )
    assert examples == [
        QAExample("q1", "Where?", "Paris is in France.", (Answer("France", 12),)),
        QAExample("q2", "What?", "Paris is in France.", ()),
    ]


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        ('{"data": [\n  {"paragraphs": [}\n]}', "malformed JSON", 2),
        (
            squad([{"id": "q1", "answers": []}]),
            r"data\[0\]\.paragraphs\[0\]\.qas\[0\]\.question: missing",
            None,
        ),
        (
            squad(
                [{"id": "q1", "question": "?", "answers": [{"text": "France", "answer_start": 11}]}]
            ),
            "'France' is not at offset 11",
            None,
        ),
        (
            squad(
                [
                    {
                        "id": "q1",
                        "question": "?",
                        "answers": [{"text": "France", "answer_start": "12"}],
                    }
                ]
            ),
            "answer_start: expected int, got str",
            None,
        ),
        ('{"version": "1.1"}', "data: missing", None),
    ],
)
def test_squad_errors(tmp_path: Path, text: str, message: str, line: int | None) -> None:
    write(tmp_path / "q.json", text)
    with pytest.raises(DataError, match=message) as err:
        read_one(tmp_path, "extractive_qa", "squad_json", "q.json")
    assert err.value.line == line


# ---------------------------------------------------------------- tatoeba and bucc

TATOEBA = {
    "source": "tatoeba/tatoeba.{code}-eng.{code}",
    "target": "tatoeba/tatoeba.{code}-eng.eng",
}


def test_tatoeba_lines_aligned_by_position(tmp_path: Path) -> None:
    write(tmp_path / "tatoeba/tatoeba.deu-eng.deu", "Hallo.\n\nTschüss\u2028!\n")
    write(tmp_path / "tatoeba/tatoeba.deu-eng.eng", "Hello.\n\nBye!\n")
    task = make_task(
        "retrieval", {"test": local("tatoeba", TATOEBA, codes={"de": "deu"})}, languages=["de"]
    )
    data = read_split(task, "test", "de", tmp_path)
    assert data.examples == Bitext(("Hallo.", "", "Tschüss\u2028!"), ("Hello.", "", "Bye!"))
    assert [p.name for p in data.files] == ["tatoeba.deu-eng.deu", "tatoeba.deu-eng.eng"]


def test_tatoeba_misaligned(tmp_path: Path) -> None:
    write(tmp_path / "tatoeba/tatoeba.de-eng.de", "a\nb\n")
    write(tmp_path / "tatoeba/tatoeba.de-eng.eng", "a\n")
    task = make_task("retrieval", {"test": local("tatoeba", TATOEBA)}, languages=["de"])
    with pytest.raises(DataError, match="not aligned: 2 source lines but 1 target lines"):
        read_split(task, "test", "de", tmp_path)


BUCC = {
    "source": "bucc/{lang}-en.{split}.{lang}",
    "target": "bucc/{lang}-en.{split}.en",
    "gold": "bucc/{lang}-en.{split}.gold",
}


def bucc_task(paths: dict[str, str] = BUCC) -> TaskSpec:
    return make_task("retrieval", {"dev": local("bucc", paths)}, languages=["de"])


def write_bucc(
    tmp_path: Path, de: str = "de-1\tHallo\u2028Welt\nde-2\tJa\n", gold: str = "de-1\ten-2\n"
) -> None:
    write(tmp_path / "bucc/de-en.dev.de", de)
    write(tmp_path / "bucc/de-en.dev.en", "en-1\tYes\nen-2\tHello world\n")
    write(tmp_path / "bucc/de-en.dev.gold", gold)


def test_bucc_with_and_without_gold(tmp_path: Path) -> None:
    write_bucc(tmp_path)
    corpus = read_split(bucc_task(), "dev", "de", tmp_path).examples
    assert isinstance(corpus, MiningCorpus)
    assert corpus.source == {"de-1": "Hallo\u2028Welt", "de-2": "Ja"}
    assert corpus.target == {"en-1": "Yes", "en-2": "Hello world"}
    assert corpus.gold == frozenset({("de-1", "en-2")})
    no_gold = {k: v for k, v in BUCC.items() if k != "gold"}
    assert read_split(bucc_task(no_gold), "dev", "de", tmp_path).examples.gold is None


@pytest.mark.parametrize(
    ("de", "gold", "file", "line", "message"),
    [
        ("de-1\tHallo\nde-1\tJa\n", "", "de", 2, "duplicate sentence id 'de-1'"),
        ("no tab here\n", "", "de", 1, "expected 'id TAB sentence'"),
        ("de-1\tHallo\n", "de-1\ten-9\n", "gold", 1, "'en-9', which is not in the target file"),
        ("de-1\tHallo\n", "de-1 en-1\n", "gold", 1, "expected 'src_id TAB trg_id'"),
    ],
)
def test_bucc_errors(
    tmp_path: Path, de: str, gold: str, file: str, line: int, message: str
) -> None:
    write_bucc(tmp_path, de, gold)
    with pytest.raises(DataError, match=message) as err:
        read_split(bucc_task(), "dev", "de", tmp_path)
    assert err.value.path.endswith(f"de-en.dev.{file}")
    assert err.value.line == line


def test_bucc_missing_files_are_all_named(tmp_path: Path) -> None:
    write(tmp_path / "bucc/de-en.dev.gold", "de-1\ten-1\n")
    with pytest.raises(DataError, match="file not found") as err:
        read_split(bucc_task(), "dev", "de", tmp_path)
    assert err.value.path == f"{tmp_path}/bucc/de-en.dev.de, {tmp_path}/bucc/de-en.dev.en"


# ---------------------------------------------------------------- jsonl and csv

CSQA_FIELDS = {
    "question": "question.stem",
    "choices": "question.choices[].text",
    "label": "answerKey",
}


def csqa_record(key: str | None = "B", n: int = 3) -> str:
    record: dict[str, Any] = {
        "id": "q1",
        "question": {
            "stem": "Where?",
            "choices": [{"label": chr(65 + i), "text": f"c{i}"} for i in range(n)],
        },
    }
    if key is not None:
        record["answerKey"] = key
    return json.dumps(record) + "\n"


def test_jsonl_multiple_choice_nested_paths_and_letter_labels(tmp_path: Path) -> None:
    write(tmp_path / "dev.jsonl", csqa_record("B") + "\n" + csqa_record(None))
    examples = read_one(
        tmp_path, "multiple_choice", "jsonl", "dev.jsonl", fields=CSQA_FIELDS, num_choices=3
    )
    assert examples == [
        ChoiceExample("", "Where?", ("c0", "c1", "c2"), "1", "q1"),
        ChoiceExample("", "Where?", ("c0", "c1", "c2"), None, "q1"),
    ]


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (csqa_record() + '{"id": "q2", "question": \n', 2, "malformed JSON"),
        (csqa_record() + "[1, 2]\n", 2, "expected a JSON object, got list"),
        (
            csqa_record() + '{"id": "q2"}\n',
            2,
            r"missing field 'question.choices\[\].text' \(for choices\); the record has: id",
        ),
        (csqa_record("F"), 1, "label 'F' is not a choice: expected an index 0-2 or a letter A-C"),
        (csqa_record("B", n=4), 1, "expected 3 choices, got 4"),
    ],
)
def test_jsonl_errors(tmp_path: Path, text: str, line: int, message: str) -> None:
    write(tmp_path / "dev.jsonl", text)
    with pytest.raises(DataError, match=message) as err:
        read_one(
            tmp_path, "multiple_choice", "jsonl", "dev.jsonl", fields=CSQA_FIELDS, num_choices=3
        )
    assert err.value.line == line


COSMOS_FIELDS = {
    "context": "context",
    "question": "question",
    "choices": "answer0,answer1,answer2",
    "label": "label",
}


def test_csv_multiple_choice_columns_and_multiline_fields(tmp_path: Path) -> None:
    write(
        tmp_path / "valid.csv",
        "id,context,question,answer0,answer1,answer2,label\r\n"
        'a,"two\nlines",Why?,x,y,z,2\r\n'
        'b,ctx,"Who, then?",x,y,z,\r\n',
    )
    examples = read_one(
        tmp_path, "multiple_choice", "csv", "valid.csv", fields=COSMOS_FIELDS, num_choices=3
    )
    assert examples == [
        ChoiceExample("two\nlines", "Why?", ("x", "y", "z"), "2", "a"),
        ChoiceExample("ctx", "Who, then?", ("x", "y", "z"), None, "b"),
    ]


def test_csv_pair_with_label_values(tmp_path: Path) -> None:
    write(tmp_path / "anli.csv", "context,statement,gold_label,uid\nP,H,e,u1\nP,H2,c,u2\n")
    fields = {
        "text_a": "context",
        "text_b": "statement",
        "label": "gold_label",
        "id": "uid",
        "label_values": "e=entailment, n=neutral, c=contradiction",
    }
    examples = read_one(
        tmp_path, "pair_classification", "csv", "anli.csv", fields=fields, labels=NLI
    )
    assert examples == [
        PairExample("P", "H", "entailment", "u1"),
        PairExample("P", "H2", "contradiction", "u2"),
    ]


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (
            "context,statement,gold_label\nP,H,e\nP,H\n",
            3,
            "expected 3 columns as in the header, got 2",
        ),
        ("context,statement,gold_label\n\nP,H,x\n", 3, "unknown label 'x'; expected one of"),
        ("", None, "empty CSV file"),
        (
            "context,statement,gold_label\nP,H,e\nP," + "H" * 200_000 + ",e\n",
            3,
            r"malformed CSV: field larger than field limit \(131072\)",
        ),
    ],
)
def test_csv_errors(tmp_path: Path, text: str, line: int | None, message: str) -> None:
    write(tmp_path / "anli.csv", text)
    fields = {
        "text_a": "context",
        "text_b": "statement",
        "label": "gold_label",
        "label_values": "e=entailment",
    }
    with pytest.raises(DataError, match=message) as err:
        read_one(tmp_path, "pair_classification", "csv", "anli.csv", fields=fields, labels=NLI)
    assert err.value.line == line


def test_jsonl_tagging_and_qa_records(tmp_path: Path) -> None:
    write(
        tmp_path / "pos.jsonl", '{"words": ["a", "b"], "pos": ["DET", "NOUN"]}\n{"words": ["c"]}\n'
    )
    tagged = read_one(
        tmp_path,
        "tagging",
        "jsonl",
        "pos.jsonl",
        labels=UPOS,
        fields={"tokens": "words", "tags": "pos"},
    )
    assert tagged == [TaggedSentence(("a", "b"), ("DET", "NOUN")), TaggedSentence(("c",))]
    write(
        tmp_path / "qa.jsonl",
        json.dumps(
            {
                "id": 7,
                "question": "Q",
                "context": "abc",
                "answers": [{"text": "b", "answer_start": 1}],
            }
        )
        + "\n",
    )
    qa = read_one(
        tmp_path,
        "extractive_qa",
        "jsonl",
        "qa.jsonl",
        fields={"answer_text": "answers[].text", "answer_start": "answers[].answer_start"},
    )
    assert qa == [QAExample("7", "Q", "abc", (Answer("b", 1),))]


# ---------------------------------------------------------------- hub


class FakeHub:
    """Stands in for datasets.load_dataset: records the call, returns a small Dataset."""

    def __init__(self, columns: dict[str, list[Any]], features: dict[str, Any] | None = None):
        self.columns = columns
        self.features = features
        self.calls: list[tuple[Any, ...]] = []

    def __call__(
        self, path: str, name: str | None = None, *, split: str, revision: str | None = None
    ) -> Any:
        import datasets

        self.calls.append((path, name, split, revision))
        features = datasets.Features(self.features) if self.features else None
        return datasets.Dataset.from_dict(self.columns, features=features)


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch):
    datasets = pytest.importorskip("datasets")

    def install(columns: dict[str, list[Any]], features: dict[str, Any] | None = None) -> FakeHub:
        fake = FakeHub(columns, features)
        monkeypatch.setattr(datasets, "load_dataset", fake)
        return fake

    return install


def test_hub_class_labels_placeholders_and_origin(fake_hub) -> None:
    import datasets

    fake = fake_hub(
        {"premise": ["p1", "p2", "p3"], "hypothesis": ["h1", "h2", "h3"], "label": [2, 0, -1]},
        {
            "premise": datasets.Value("string"),
            "hypothesis": datasets.Value("string"),
            "label": datasets.ClassLabel(names=["entailment", "neutral", "contradiction"]),
        },
    )
    hub = {
        "path": "facebook/xnli",
        "name": "{lang}",
        "split": "{code}_validation",
        "revision": "abc123",
        "codes": {"de": "deu"},
        "fields": {"text_a": "premise", "text_b": "hypothesis"},
    }
    task = make_task(
        "pair_classification", {"dev": {"hub": hub}}, labels=NLI, languages=["en", "de"]
    )
    data = read_split(task, "dev", "de", None)
    assert fake.calls == [("facebook/xnli", "de", "deu_validation", "abc123")]
    assert data.origin == "hub:facebook/xnli/de:deu_validation@abc123"
    assert data.files == ()
    assert [e.label for e in data.examples] == ["contradiction", "entailment", None]


def test_hub_tagging_sequence_of_class_labels(fake_hub) -> None:
    import datasets

    fake_hub(
        {"tokens": [["Anton", "lebt"]], "ner_tags": [[1, 0]]},
        {
            "tokens": datasets.Sequence(datasets.Value("string")),
            "ner_tags": datasets.Sequence(datasets.ClassLabel(names=NER)),
        },
    )
    task = make_task(
        "tagging",
        {
            "test": {
                "hub": {"path": "unimelb-nlp/wikiann", "name": "en", "fields": {"tags": "ner_tags"}}
            }
        },
        labels=NER,
    )
    data = read_split(task, "test", "en", None)
    assert data.examples == [TaggedSentence(("Anton", "lebt"), ("B-PER", "O"))]
    assert data.origin == "hub:unimelb-nlp/wikiann/en:test"  # split defaults to the task's


def test_hub_squad_layout_needs_no_fields(fake_hub) -> None:
    fake_hub(
        {
            "id": ["q1"],
            "title": ["t"],
            "context": ["abc"],
            "question": ["Q"],
            "answers": [{"text": ["b"], "answer_start": [1]}],
        }
    )
    task = make_task(
        "extractive_qa", {"train": {"hub": {"path": "rajpurkar/squad", "split": "train"}}}
    )
    assert read_split(task, "train", "en", None).examples == [
        QAExample("q1", "Q", "abc", (Answer("b", 1),))
    ]


def test_hub_multiple_choice_list_column_and_empty_label(fake_hub) -> None:
    fake_hub({"ctx": ["A man", "A cat"], "endings": [["a", "b"], ["c", "d"]], "label": ["1", ""]})
    task = make_task(
        "multiple_choice",
        {
            "dev": {
                "hub": {
                    "path": "Rowan/hellaswag",
                    "fields": {"context": "ctx", "choices": "endings", "label": "label"},
                }
            }
        },
        num_choices=2,
    )
    assert read_split(task, "dev", "en", None).examples == [
        ChoiceExample("A man", "", ("a", "b"), "1"),
        ChoiceExample("A cat", "", ("c", "d"), None),
    ]


def test_hub_retrieval_rows_become_a_bitext(fake_hub) -> None:
    fake_hub({"sentence1": ["Hallo", "Ja"], "sentence2": ["Hello", "Yes"]})
    task = make_task(
        "retrieval",
        {
            "test": {
                "hub": {
                    "path": "mteb/tatoeba-bitext-mining",
                    "name": "{code}-eng",
                    "codes": {"de": "deu"},
                    "fields": {"source": "sentence1", "target": "sentence2"},
                }
            }
        },
        languages=["de"],
    )
    assert read_split(task, "test", "de", None).examples == Bitext(
        ("Hallo", "Ja"), ("Hello", "Yes")
    )


def test_hub_row_errors_name_the_row(fake_hub) -> None:
    fake_hub({"premise": ["p", "p"], "hypothesis": ["h", "h"], "label": ["neutral", "maybe"]})
    task = make_task(
        "pair_classification",
        {"dev": {"hub": {"path": "x/y", "fields": {"text_a": "premise", "text_b": "hypothesis"}}}},
        labels=NLI,
    )
    with pytest.raises(DataError, match=r"hub:x/y:dev: row 2: unknown label 'maybe'"):
        read_split(task, "dev", "en", None)


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every hub load fails as it does without network (deterministic, and fast)."""
    datasets = pytest.importorskip("datasets")

    def fail(path: str, *args: Any, **kwargs: Any) -> Any:
        raise ConnectionError(f"Couldn't reach {path!r} on the Hub (OfflineModeIsEnabled)")

    monkeypatch.setattr(datasets, "load_dataset", fail)


@pytest.mark.usefixtures("offline")
def test_hub_failure_names_the_missing_local_file(tmp_path: Path) -> None:
    task = make_task(
        "pair_classification",
        {
            "train": {
                **local("pair_tsv", "xnli/train-en.tsv"),
                "hub": {"path": "nyu-mll/glue", "name": "mnli", "split": "train"},
            }
        },
        labels=NLI,
    )
    with pytest.raises(DataError) as err:
        read_split(task, "train", "en", tmp_path)
    message = str(err.value)
    assert message.startswith(
        "hub:nyu-mll/glue/mnli:train: cannot load from the hub (ConnectionError"
    )
    assert f"no local file either ({tmp_path}/xnli/train-en.tsv not found)" in message


# ---------------------------------------------------------------- resolution


def xnli_like() -> TaskSpec:
    return make_task(
        "pair_classification",
        {
            "dev": local("pair_tsv", "xnli/dev-{lang}.tsv"),
            "train": local("pair_tsv", "xnli/train-en.tsv"),
        },
        name="xnli",
        labels=NLI,
        languages=["en", "de"],
    )


def test_unknown_split_and_language(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="task xnli has no split 'test'; its splits: dev, train"):
        read_split(xnli_like(), "test", "en", tmp_path)
    with pytest.raises(ConfigError, match="task xnli has no language 'fr'; its languages: en, de"):
        read_split(xnli_like(), "dev", "fr", tmp_path)


def test_missing_file_data_dir_and_no_data_dir(tmp_path: Path) -> None:
    with pytest.raises(
        DataError, match=r"file not found \(xnli has no train split for 'en'"
    ) as err:
        read_split(xnli_like(), "train", "en", tmp_path)
    assert err.value.path == str(tmp_path / "xnli/train-en.tsv")
    with pytest.raises(DataError, match="data folder does not exist") as err:
        read_split(xnli_like(), "dev", "en", tmp_path / "nope")
    assert err.value.path == str(tmp_path / "nope")
    with pytest.raises(DataError, match="only available as a local file"):
        read_split(xnli_like(), "dev", "en", None)


def test_local_wins_over_hub_only_when_present(tmp_path: Path, fake_hub) -> None:
    fake = fake_hub({"premise": ["hub"], "hypothesis": ["h"], "label": ["neutral"]})
    task = make_task(
        "pair_classification",
        {
            "dev": {
                **local("pair_tsv", "dev-{lang}.tsv"),
                "hub": {
                    "path": "facebook/xnli",
                    "fields": {"text_a": "premise", "text_b": "hypothesis"},
                },
            }
        },
        labels=NLI,
    )
    assert read_split(task, "dev", "en", tmp_path).examples[0].text_a == "hub"
    write(tmp_path / "dev-en.tsv", "local\th\tneutral\n")
    assert read_split(task, "dev", "en", tmp_path).examples[0].text_a == "local"
    assert read_split(task, "dev", "en", None).examples[0].text_a == "hub"
    assert len(fake.calls) == 2


def test_pool_concatenates_members(tmp_path: Path, fake_hub) -> None:
    fake_hub({"premise": ["hp"], "hypothesis": ["hh"], "label": ["neutral"]})
    write(tmp_path / "r1.csv", "context,statement,gold_label\nP,H,e\n")
    fields = {
        "text_a": "context",
        "text_b": "statement",
        "label": "gold_label",
        "label_values": "e=entailment",
    }
    task = make_task(
        "pair_classification",
        {
            "train": {
                "pool": [
                    local("csv", "r1.csv", fields=fields),
                    {
                        "hub": {
                            "path": "nyu-mll/glue",
                            "name": "mnli",
                            "fields": {"text_a": "premise", "text_b": "hypothesis"},
                        }
                    },
                ]
            }
        },
        labels=NLI,
    )
    data = read_split(task, "train", "en", tmp_path)
    assert data.examples == [
        PairExample("P", "H", "entailment"),
        PairExample("hp", "hh", "neutral"),
    ]
    assert data.files == (tmp_path / "r1.csv",)
    assert data.origin == "local:r1.csv + hub:nyu-mll/glue/mnli:train"
    # both members count: the file's bytes and the hub's rows
    fingerprints = {data.fingerprint(), fingerprint(data.files), data.hub_rows[0]}
    assert len(fingerprints) == 3 and all(len(f) == 64 for f in fingerprints)


def test_hub_data_is_fingerprinted_by_its_rows(fake_hub) -> None:
    """An unpinned hub dataset can change under the same name and row count: the rows'
    digest tells the versions apart, so no cache or comparison takes one for the other."""
    task = make_task(
        "pair_classification",
        {"dev": {"hub": {"path": "org/nli", "fields": {"text_a": "premise", "text_b": "hyp"}}}},
        labels=NLI,
    )
    rows = {"premise": ["p1", "p2"], "hyp": ["h1", "h2"], "label": ["neutral", "entailment"]}
    fake_hub(rows)
    first = read_split(task, "dev", "en", None)
    again = read_split(task, "dev", "en", None)
    assert first.files == () and first.fingerprint() == again.fingerprint()
    assert describe(first, "dev", "en", 2)["fingerprint"] == first.fingerprint()
    fake_hub(rows | {"hyp": ["h1", "h2 (fixed)"]})
    changed = read_split(task, "dev", "en", None)
    assert changed.origin == first.origin and changed.fingerprint() != first.fingerprint()
    # a column no field reads still counts: the data is what was read, not what was used
    fake_hub(rows | {"extra": ["a", "b"]})
    assert read_split(task, "dev", "en", None).fingerprint() != first.fingerprint()


@pytest.mark.parametrize(
    ("kind", "data", "message"),
    [
        (
            "pair_classification",
            local("squad_json", "q.json"),
            "format squad_json cannot hold pair_",
        ),
        (
            "pair_classification",
            local("jsonl", "p.jsonl", fields={"premise": "p"}),
            "fields.premise: not an attribute of pair_classification examples; expected one of",
        ),
        (
            "pair_classification",
            local("csv", "p.csv", fields={"label_values": "e:entailment"}),
            "fields.label_values: expected raw=label pairs",
        ),
        (
            "pair_classification",
            local("pair_tsv", "p.tsv", fields={"text_a": "premise"}),
            "fields.text_a: not used by format pair_tsv; it takes no fields",
        ),
        (
            "pair_classification",
            local("pair_tsv", {"source": "a", "target": "b"}),
            "format pair_tsv takes one path, not named files",
        ),
        ("pair_classification", local("pair_tsv", "xnli/{language}.tsv"), "bad placeholder"),
        ("retrieval", local("bucc", {"source": "a", "gold": "g"}), "path.target: missing"),
        (
            "retrieval",
            local("tatoeba", {"source": "a", "target": "b", "gold": "g"}),
            "path.gold: not a file of format tatoeba",
        ),
    ],
)
def test_registry_mistakes_are_data_errors(
    tmp_path: Path, kind: str, data: dict[str, Any], message: str
) -> None:
    extra = {"labels": NLI} if kind == "pair_classification" else {}
    task = make_task(kind, {"test": data}, **extra)
    with pytest.raises(DataError, match=message) as err:
        read_split(task, "test", "en", tmp_path)
    assert err.value.path == "t.data.test"


def test_fingerprint_is_content_based_and_ordered(tmp_path: Path) -> None:
    a = write(tmp_path / "one/a.tsv", "x\ty\n")
    b = write(tmp_path / "one/b.tsv", "z\n")
    a2 = write(tmp_path / "two/a.tsv", "x\ty\n")
    value = fingerprint([a, b])
    assert len(value) == 64
    assert value == fingerprint([a2, b]) != fingerprint([b, a])
    write(a, "x\tY\n")
    assert fingerprint([a, b]) != value
    with pytest.raises(DataError, match="cannot read"):
        fingerprint([tmp_path / "missing"])


def test_importing_harness_data_does_not_import_datasets() -> None:
    code = "import sys, harness.data; assert 'datasets' not in sys.modules"
    subprocess.run(
        [sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1]
    )


# ---------------------------------------------------------------- real data (shared_data, conftest)

# fmt: off
XNLI_LANGS = [
    "ar", "bg", "de", "el", "en", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi", "zh"
]
# fmt: on
PAWSX_LANGS = ["de", "en", "es", "fr", "ja", "ko", "zh"]
# fmt: off
UDPOS_LANGS = [
    "af", "ar", "bg", "de", "el", "en", "es", "et", "eu", "fa", "fi", "fr", "he", "hi", "hu", "id",
    "it", "ja", "kk", "ko", "mr", "nl", "pt", "ru", "ta", "te", "th", "tl", "tr", "ur", "vi", "yo",
    "zh"
]
# fmt: on
# fmt: off
PANX_LANGS = [
    "ar", "he", "vi", "id", "jv", "ms", "tl", "eu", "ml", "ta", "te", "af", "nl", "en", "de", "el",
    "bn", "hi", "mr", "ur", "fa", "fr", "it", "pt", "es", "bg", "ru", "ja", "ka", "ko", "th", "sw",
    "yo", "my", "zh", "kk", "tr", "et", "fi", "hu"
]
# fmt: on
TATOEBA_CODES = {
    "ar": "ara",
    "he": "heb",
    "vi": "vie",
    "id": "ind",
    "jv": "jav",
    "tl": "tgl",
    "eu": "eus",
    "ml": "mal",
    "ta": "tam",
    "te": "tel",
    "af": "afr",
    "nl": "nld",
    "de": "deu",
    "el": "ell",
    "bn": "ben",
    "hi": "hin",
    "mr": "mar",
    "ur": "urd",
    "fa": "pes",
    "fr": "fra",
    "it": "ita",
    "pt": "por",
    "es": "spa",
    "bg": "bul",
    "ru": "rus",
    "ja": "jpn",
    "ka": "kat",
    "ko": "kor",
    "th": "tha",
    "sw": "swh",
    "zh": "cmn",
    "kk": "kaz",
    "tr": "tur",
    "et": "est",
    "fi": "fin",
    "hu": "hun",
}


def pair_task(name: str, labels: list[str], langs: list[str], hub: dict[str, Any]) -> TaskSpec:
    return make_task(
        "pair_classification",
        {
            split: {
                **local("pair_tsv", f"{name}/{split}-{{lang}}.tsv"),
                "hub": {**hub, "split": split},
            }
            for split in ("dev", "test")
        },
        name=name,
        labels=labels,
        languages=langs,
    )


@pytest.mark.realdata
@pytest.mark.parametrize(
    ("name", "labels", "langs", "dev_size", "test_size"),
    [
        ("xnli", NLI, XNLI_LANGS, 2490, 5010),
        ("pawsx", ["0", "1"], PAWSX_LANGS, 2000, 2000),
    ],
)
def test_real_pair_classification(
    shared_data: Path, name: str, labels: list[str], langs: list[str], dev_size: int, test_size: int
) -> None:
    hubs = {
        "xnli": {
            "path": "facebook/xnli",
            "name": "{lang}",
            "fields": {"text_a": "premise", "text_b": "hypothesis", "label": "label"},
        },
        "pawsx": {
            "path": "google-research-datasets/paws-x",
            "name": "{lang}",
            "fields": {"text_a": "sentence1", "text_b": "sentence2", "label": "label"},
        },
    }
    task = pair_task(name, labels, langs, hubs[name])
    for lang in langs:
        dev = read_split(task, "dev", lang, shared_data / "xtreme")
        assert len(dev.examples) == dev_size
        assert all(e.label in labels and e.text_a and e.text_b for e in dev.examples)
        test = read_split(task, "test", lang, shared_data / "xtreme")
        assert len(test.examples) == test_size
        assert {e.label for e in test.examples} == {None}
        assert test.origin == f"local:{name}/test-{lang}.tsv"


def tagging_task(name: str, labels: list[str], langs: list[str]) -> TaskSpec:
    hub = {"path": "google/xtreme", "name": f"{name}.{{lang}}", "fields": {"tags": "tags"}}
    return make_task(
        "tagging",
        {
            split: {**local("tagged_tsv", f"{name}/{split}-{{lang}}.tsv"), "hub": hub}
            for split in ("train", "dev", "test")
        },
        name=name,
        labels=labels,
        languages=langs,
    )


def check_tagged(sentences: list[TaggedSentence], labelled: bool) -> None:
    assert sentences
    for s in sentences:
        assert s.tokens and all(s.tokens)
        assert (s.tags is not None) == labelled
        assert s.tags is None or len(s.tags) == len(s.tokens)


@pytest.mark.realdata
@pytest.mark.usefixtures("offline")
def test_real_udpos(shared_data: Path) -> None:
    task = tagging_task("udpos", UPOS, UDPOS_LANGS)
    root = shared_data / "xtreme"
    sizes = {
        split: read_split(task, split, "en", root).examples for split in ("train", "dev", "test")
    }
    assert {k: len(v) for k, v in sizes.items()} == {"train": 21253, "dev": 3974, "test": 5440}
    assert sum(len(s.tokens) for s in sizes["train"]) == 375194
    for lang in UDPOS_LANGS:
        if lang != "de":
            check_tagged(read_split(task, "test", lang, root).examples, labelled=True)
    with pytest.raises(DataError, match="cannot load from the hub") as err:  # too large to copy
        read_split(task, "test", "de", root)
    assert f"no local file either ({root}/udpos/test-de.tsv not found)" in str(err.value)


@pytest.mark.realdata
@pytest.mark.usefixtures("offline")
def test_real_panx(shared_data: Path) -> None:
    task = tagging_task("panx", NER, PANX_LANGS)
    root = shared_data / "xtreme"
    train = read_split(task, "train", "en", root).examples
    assert len(train) == 20000
    check_tagged(train, labelled=True)
    for lang in PANX_LANGS:
        test = read_split(task, "test", lang, root).examples
        check_tagged(test, labelled=False)
        assert len(test) in (100, 1000, 10000)
        if lang == "th":  # the shared folder lacks dev-th.tsv
            with pytest.raises(DataError, match=r"panx/dev-th\.tsv not found"):
                read_split(task, "dev", lang, root)
            continue
        dev = read_split(task, "dev", lang, root).examples
        check_tagged(dev, labelled=True)
        assert len(dev) == len(test)


def qa_task(
    name: str, pattern: str, langs: list[str], splits: tuple[str, ...] = ("test",)
) -> TaskSpec:
    return make_task(
        "extractive_qa",
        {s: local("squad_json", pattern.replace("SPLIT", s)) for s in splits},
        name=name,
        languages=langs,
    )


def check_qa(examples: list[QAExample], unique_ids: bool = True) -> None:
    assert all(e.question and e.answers for e in examples)
    assert all(
        e.context[a.start : a.start + len(a.text)] == a.text for e in examples for a in e.answers
    )
    assert (len({e.id for e in examples}) == len(examples)) == unique_ids


@pytest.mark.realdata
def test_real_xquad_mlqa_tydiqa(shared_data: Path) -> None:
    root = shared_data / "xtreme"
    xquad_langs = ["en", "es", "de", "el", "ru", "tr", "ar", "vi", "th", "zh", "hi"]
    xquad = qa_task("xquad", "xquad/xquad.{lang}.json", xquad_langs)
    for lang in xquad_langs:
        examples = read_split(xquad, "test", lang, root).examples
        assert len(examples) == 1190
        check_qa(examples)
    mlqa_sizes = {"en": 1148, "de": 512, "es": 500, "ar": 517, "hi": 507, "vi": 511, "zh": 504}
    mlqa = qa_task(
        "mlqa",
        "mlqa/MLQA_V1/SPLIT/SPLIT-context-{lang}-question-{lang}.json",
        list(mlqa_sizes),
        ("dev", "test"),
    )
    for lang, size in mlqa_sizes.items():
        examples = read_split(mlqa, "dev", lang, root).examples
        assert len(examples) == size
        check_qa(examples)
    with pytest.raises(DataError, match=r"test-context-en-question-en\.json: file not found"):
        read_split(mlqa, "test", "en", root)
    tydi_sizes = {
        "en": 440,
        "ar": 921,
        "bn": 113,
        "fi": 782,
        "id": 565,
        "ko": 276,
        "ru": 812,
        "sw": 499,
        "te": 669,
    }
    tydiqa = qa_task(
        "tydiqa",
        "tydiqa/tydiqa-goldp-v1.1-SPLIT/tydiqa.goldp.{lang}.SPLIT.json",
        list(tydi_sizes),
        ("dev", "train"),
    )
    for lang, size in tydi_sizes.items():
        assert len(read_split(tydiqa, "dev", lang, root).examples) == size
    assert sum(tydi_sizes.values()) == 5077
    train = read_split(tydiqa, "train", "en", root).examples
    assert len(train) == 3696
    check_qa(train, unique_ids=False)  # XTREME's en train file numbers questions per article
    assert sum(e.id == "0" for e in train) == 1651


@pytest.mark.realdata
def test_real_tatoeba(shared_data: Path) -> None:
    task = make_task(
        "retrieval",
        {"test": local("tatoeba", TATOEBA, codes=TATOEBA_CODES)},
        name="tatoeba",
        languages=list(TATOEBA_CODES),
    )
    short = {"jv": 205, "ka": 746, "kk": 575, "ml": 687, "sw": 390, "ta": 307, "te": 234, "th": 548}
    for lang, code in TATOEBA_CODES.items():
        data = read_split(task, "test", lang, shared_data / "xtreme")
        assert len(data.examples.source) == len(data.examples.target) == short.get(lang, 1000)
        assert (
            data.origin == f"local:tatoeba/tatoeba.{code}-eng.{code},tatoeba/tatoeba.{code}-eng.eng"
        )


@pytest.mark.realdata
def test_real_bucc(shared_data: Path) -> None:
    paths = {
        "source": "bucc2018/{lang}-en.dev.{lang}",
        "target": "bucc2018/{lang}-en.dev.en",
        "gold": "bucc2018/{lang}-en.dev.gold",
    }
    task = make_task(
        "retrieval",
        {"dev": local("bucc", paths)},
        name="bucc2018",
        languages=["de", "fr", "ru", "zh"],
    )
    root = shared_data / "xtreme"
    corpus = read_split(task, "dev", "zh", root).examples
    assert (len(corpus.source), len(corpus.target), len(corpus.gold)) == (8624, 13589, 257)
    missing = {
        "de": ["de-en.dev.de", "de-en.dev.en"],
        "fr": ["fr-en.dev.en"],
        "ru": ["ru-en.dev.ru", "ru-en.dev.en"],
    }
    for lang, files in missing.items():
        with pytest.raises(DataError, match=r"file not found \(bucc2018 has no dev split") as err:
            read_split(task, "dev", lang, root)
        assert err.value.path == ", ".join(f"{root}/bucc2018/{f}" for f in files)


@pytest.mark.realdata
@pytest.mark.parametrize(
    ("path", "sentences", "words"),
    [
        ("UD_English-EWT/en_ewt-ud-dev.conllu", 2001, 25147),
        ("UD_English-EWT/en_ewt-ud-test.conllu", 2077, 25094),
        ("UD_French-GSD/fr_gsd-ud-test.conllu", 416, 10018),
    ],
)
def test_real_conllu(shared_data: Path, path: str, sentences: int, words: int) -> None:
    task = make_task("tagging", {"test": local("conllu", path)}, labels=UPOS)
    examples = read_split(task, "test", "en", shared_data / "ud").examples
    assert len(examples) == sentences
    assert sum(len(s.tokens) for s in examples) == words
    assert all(s.id for s in examples)


@pytest.mark.realdata
def test_real_commonsenseqa_jsonl(shared_data: Path) -> None:
    fields = {
        "question": "question.stem",
        "choices": "question.choices[].text",
        "label": "answerKey",
    }
    task = make_task(
        "multiple_choice",
        {
            split: local("jsonl", f"commonsenseqa/{file}.jsonl", fields=fields)
            for split, file in [
                ("train", "train_rand_split"),
                ("dev", "dev_rand_split"),
                ("test", "test_rand_split_no_answers"),
            ]
        },
        num_choices=5,
    )
    root = shared_data / "intermediate"
    sizes = {"train": 9741, "dev": 1221, "test": 1140}
    for split, size in sizes.items():
        examples = read_split(task, split, "en", root).examples
        assert len(examples) == size
        labels = {e.label for e in examples}
        assert labels == ({None} if split == "test" else {"0", "1", "2", "3", "4"})


@pytest.mark.realdata
def test_real_cosmosqa_csv(shared_data: Path) -> None:
    fields = {
        "context": "context",
        "question": "question",
        "choices": "answer0,answer1,answer2,answer3",
        "label": "label",
    }
    task = make_task(
        "multiple_choice", {"dev": local("csv", "cosmosqa/valid.csv", fields=fields)}, num_choices=4
    )
    examples = read_split(task, "dev", "en", shared_data / "intermediate").examples
    assert len(examples) == 2985
    assert sum(e.label == "2" for e in examples) == 761
    assert all(e.context and e.question and e.id for e in examples)


@pytest.mark.realdata
def test_real_anli_csv_pool(shared_data: Path) -> None:
    fields = {
        "text_a": "context",
        "text_b": "statement",
        "label": "gold_label",
        "id": "uid",
        "label_values": "e=entailment,n=neutral,c=contradiction",
    }
    folder = "anli/anlizinganli/anli_annot_v0.2"
    task = make_task(
        "pair_classification",
        {
            "dev": {
                "pool": [
                    local("csv", f"{folder}/ANLI_analysis_r{r}_dev.csv", fields=fields)
                    for r in (1, 2, 3)
                ]
            }
        },
        labels=["entailment", "neutral", "contradiction"],
    )
    data = read_split(task, "dev", "en", shared_data / "intermediate")
    assert len(data.examples) == 1000 + 1000 + 1198
    assert sum(e.label == "entailment" for e in data.examples) == 334 + 334 + 402
    assert len(data.files) == 3
    assert len(fingerprint(data.files)) == 64
