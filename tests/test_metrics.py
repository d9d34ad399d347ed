"""Classification, tagging, QA and XTREME roll-up metrics against hand-computed scores."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.metrics.classification import accuracy, binary_f1, classification_scores
from harness.metrics.qa import mlqa_scores, normalize_answer, squad_scores
from harness.metrics.tagging import tagging_scores
from harness.metrics.xtreme_score import (
    GROUPS,
    TASK_METRICS,
    rollup,
    run_rollup,
    task_score,
    xtreme_languages,
)

# --- classification ----------------------------------------------------------------


def test_accuracy_and_binary_f1():
    preds = ["a", "b", "a", "a"]
    golds = ["a", "b", "b", "a"]
    assert accuracy(preds, golds) == 75.0
    # positive b: tp 1, predicted 1, gold 2 -> P 1, R 1/2 -> F1 2/3
    assert binary_f1(preds, golds, positive="b") == pytest.approx(200 / 3)
    assert classification_scores(preds, golds) == {"accuracy": 75.0}
    assert classification_scores(preds, golds, positive="b")["f1"] == pytest.approx(200 / 3)


def test_binary_f1_without_true_positive_is_zero():
    assert binary_f1(["a", "a"], ["a", "a"], positive="b") == 0.0


def test_classification_rejects_misaligned_or_empty_input():
    with pytest.raises(ValueError, match="3 predictions for 2"):
        accuracy(["a", "b", "c"], ["a", "b"])
    with pytest.raises(ValueError, match="no gold"):
        accuracy([], [])


# --- tagging -------------------------------------------------------------------------


def test_seqeval_chunks_bare_pos_tags():
    golds = [["NOUN", "NOUN", "VERB"], ["DET", "NOUN"]]
    preds = [["NOUN", "VERB", "VERB"], ["DET", "NOUN"]]
    # gold chunks: NOUN[0-1] VERB[2] | DET NOUN; predicted: NOUN[0] VERB[1-2] | DET NOUN.
    # Only the two chunks of sentence 2 match: P = R = F1 = 2/4, while 4 of 5 tokens are right.
    scores = tagging_scores(preds, golds)
    assert scores["precision"] == pytest.approx(50.0)
    assert scores["recall"] == pytest.approx(50.0)
    assert scores["f1"] == pytest.approx(50.0)
    assert scores["token_accuracy"] == pytest.approx(80.0)


def test_seqeval_reads_leading_s_of_sconj_as_single():
    # SCONJ is read as prefix S (IOBES single), so SCONJ SCONJ is two chunks, not one.
    golds = [["SCONJ", "SCONJ", "NOUN"]]
    preds = [["SCONJ", "NOUN", "NOUN"]]
    # gold: SCONJ[0] SCONJ[1] NOUN[2]; predicted: SCONJ[0] NOUN[1-2]; one match.
    # P = 1/2, R = 1/3, F1 = 2 * (1/6) / (5/6) = 0.4
    scores = tagging_scores(preds, golds)
    assert scores["precision"] == pytest.approx(50.0)
    assert scores["recall"] == pytest.approx(100 / 3)
    assert scores["f1"] == pytest.approx(40.0)
    assert scores["token_accuracy"] == pytest.approx(200 / 3)


def test_seqeval_iob2_entity_level():
    golds = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    preds = [["B-PER", "O", "O", "B-LOC"], ["B-ORG", "I-ORG"]]
    # gold PER[0-1] LOC[3] ORG[0]; predicted PER[0] LOC[3] ORG[0-1]: only LOC matches.
    scores = tagging_scores(preds, golds)
    assert scores["f1"] == pytest.approx(100 / 3)
    assert scores["token_accuracy"] == pytest.approx(400 / 6)


def test_tagging_names_the_misaligned_sentence():
    with pytest.raises(ValueError, match="sentence 1: 1 predicted tags for 2 gold tokens"):
        tagging_scores([["O"], ["O"]], [["O"], ["O", "O"]])
    with pytest.raises(ValueError, match="1 predicted sentences for 2"):
        tagging_scores([["O"]], [["O"], ["O"]])


# --- QA ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The  Quick, brown FOX!", "quick brown fox"),
        ("an apple a day", "apple day"),
        ("the theatre", "theatre"),  # articles only as whole words
        ("\tU.S.A.\n", "usa"),
        ("€5", "€5"),  # a currency symbol is not punctuation
        ("«Paris»", "«paris»"),  # SQuAD strips ASCII punctuation only
    ],
)
def test_squad_normalisation(text, expected):
    assert normalize_answer(text) == expected


def test_squad_scores_by_hand():
    golds = {"q1": ["the Eiffel Tower"], "q2": ["Paris", "in Paris, France"], "q3": ["1889"]}
    preds = {"q1": "Eiffel tower.", "q2": "Paris France", "q4": "not a gold question"}
    # q1 exact; q2 best F1 against "in paris france": P 1, R 2/3 -> 0.8; q3 missing -> 0.
    scores = squad_scores(preds, golds)
    assert scores["exact_match"] == pytest.approx(100 / 3)
    assert scores["f1"] == pytest.approx(60.0)


def test_squad_answers_empty_after_normalisation_match_exactly_with_f1_zero():
    # The v1.1 script's quirk: "" == "" is an exact match, but F1 has no common token.
    assert squad_scores({"q": "The"}, {"q": ["a"]}) == {"exact_match": 100.0, "f1": 0.0}


def test_qa_rejects_empty_gold():
    with pytest.raises(ValueError, match="no gold questions"):
        squad_scores({}, {})
    with pytest.raises(ValueError, match="'q' has no answers"):
        squad_scores({"q": "x"}, {"q": []})


@pytest.mark.parametrize(
    ("text", "lang", "expected"),
    [
        ("El Niño y los niños", "es", "niño y niños"),
        ("Der Hund und die Katze", "de", "hund und katze"),
        ("cái bàn của tôi", "vi", "bàn tôi"),
        ("The cat", "en", "cat"),
        ("«Paris»", "en", "paris"),  # Unicode punctuation (Pi/Pf) is stripped
        ("€5 $5", "en", "€5 5"),  # $ is ASCII punctuation, € is a symbol
        ("the a", "hi", "the a"),  # no articles for Hindi
        ("الكتاب", "ar", "كتاب"),
        # every "ال" goes, even inside a word, as with the MLQA script's regex:
        ("مال", "ar", "م"),
        ("كتاب الطالب", "ar", "كتاب ط ب"),
        ("北京大学，2008年", "zh", "北 京 大 学 2008 年"),
        ("Hello World", "zh", "hello world"),
    ],
)
def test_mlqa_normalisation(text, lang, expected):
    assert normalize_answer(text, lang) == expected


def test_mlqa_spanish_articles_do_not_apply_to_squad():
    assert normalize_answer("el gato") == "el gato"


def test_mlqa_zh_mixed_segmentation_gives_partial_credit():
    preds, golds = {"q": "北京"}, {"q": ["北京大学"]}
    # characters 北 京 against 北 京 大 学: P 1, R 1/2 -> F1 2/3
    assert mlqa_scores(preds, golds, "zh") == {"exact_match": 0.0, "f1": pytest.approx(200 / 3)}
    # whitespace tokenisation sees one token each: no overlap at all
    assert squad_scores(preds, golds) == {"exact_match": 0.0, "f1": 0.0}


def test_mlqa_scores_use_language_articles():
    golds = {"q1": ["la casa blanca"], "q2": ["Madrid"]}
    preds = {"q1": "casa blanca", "q2": "en Madrid"}
    # q1 exact after dropping "la"; q2 F1 = 2 * (1/2 * 1) / (3/2) = 2/3
    scores = mlqa_scores(preds, golds, "es")
    assert scores["exact_match"] == pytest.approx(50.0)
    assert scores["f1"] == pytest.approx(100 * (1 + 2 / 3) / 2)


def test_mlqa_rejects_unknown_language():
    with pytest.raises(ValueError, match="'fr'"):
        mlqa_scores({"q": "x"}, {"q": ["x"]}, "fr")


# --- XTREME roll-up ----------------------------------------------------------------

LANGS = {task: ("en", "de") for task in TASK_METRICS}


def _results(value: float = 50.0) -> dict:
    results = {}
    for task, metrics in TASK_METRICS.items():
        results[task] = {lang: dict.fromkeys(metrics, value) for lang in LANGS[task]}
    return results


def test_qa_task_score_is_mean_of_em_and_f1_means():
    per_lang = {"en": {"exact_match": 60.0, "f1": 80.0}, "de": {"exact_match": 40.0, "f1": 60.0}}
    score = task_score("xquad", per_lang, ("en", "de"))
    assert score.means == {"exact_match": 50.0, "f1": 70.0}
    assert score.score == 60.0
    assert score.complete


def test_task_score_averages_languages_including_english_and_lists_missing():
    score = task_score(
        "xnli", {"en": {"accuracy": 90.0}, "de": {"accuracy": 70.0}}, ("en", "de", "fr")
    )
    assert score.score == 80.0
    assert score.missing == ("fr",)
    assert not score.complete


def test_full_rollup():
    results = _results()
    results["xnli"] = {"en": {"accuracy": 90.0}, "de": {"accuracy": 80.0}}  # task score 85
    results["xquad"]["en"] = {"exact_match": 70.0, "f1": 90.0}  # EM mean 60, F1 mean 70
    summary = rollup(results, LANGS)
    assert summary.tasks["xnli"].score == 85.0
    assert summary.tasks["xquad"].score == 65.0
    assert summary.groups == {
        "classification": 67.5,
        "structured_prediction": 50.0,
        "question_answering": pytest.approx(55.0),
        "retrieval": 50.0,
    }
    assert summary.xtreme == pytest.approx((85 + 65 + 50 * 7) / 9)


def test_eight_tasks_give_no_xtreme_score_and_no_group_for_the_incomplete_group():
    results = _results()
    del results["pawsx"]
    summary = rollup(results, LANGS)
    assert summary.xtreme is None
    assert "classification" not in summary.groups
    assert set(summary.groups) == set(GROUPS) - {"classification"}
    assert summary.tasks["xnli"].score == 50.0


def test_a_task_missing_a_language_keeps_its_group_and_xtreme_open():
    results = _results()
    del results["tatoeba"]["de"]
    summary = rollup(results, LANGS)
    assert summary.tasks["tatoeba"].missing == ("de",)
    assert summary.xtreme is None
    assert "retrieval" not in summary.groups


def test_a_run_short_of_languages_gets_no_xtreme_score_only_means_named_as_partial():
    """XTREME's score needs every language; a run's results.json keeps the means over the
    languages it evaluated apart, under their own name."""
    results = _results()
    del results["tatoeba"]["de"]
    blocks = {
        task: {"languages": per_lang, "task_languages": list(LANGS[task])}
        for task, per_lang in results.items()
    }
    rolled = run_rollup(blocks)
    assert rolled["xtreme_score"] is None and "retrieval" not in rolled["groups"]
    assert rolled["missing_languages"] == {"tatoeba": ["de"]}
    evaluated = rolled["over_languages_evaluated"]
    assert evaluated["groups"]["retrieval"] == 50.0
    assert evaluated["xtreme_score"] == pytest.approx(50.0)
    blocks["tatoeba"]["languages"] = _results()["tatoeba"]
    assert run_rollup(blocks)["xtreme_score"] == pytest.approx(50.0)


def test_a_language_beyond_the_task_list_counts_only_among_those_evaluated():
    results = _results()
    results["xnli"]["xx"] = {"accuracy": 100.0}  # a user registry gave XNLI another language
    blocks = {
        task: {"languages": per_lang, "task_languages": list(LANGS[task])}
        for task, per_lang in results.items()
    }
    rolled = run_rollup(blocks)
    assert rolled["xtreme_score"] == pytest.approx(50.0)
    assert rolled["over_languages_evaluated"]["xtreme_score"] > 50.0


def test_xtreme_languages_are_the_builtin_registry_s_whatever_a_user_registry_lists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    narrow = tmp_path / "narrow.yaml"
    narrow.write_text("targets:\n  xnli: {languages: [en]}\n")
    monkeypatch.setenv("HARNESS_REGISTRY", str(narrow))
    xtreme_languages.cache_clear()
    try:
        languages = xtreme_languages()
    finally:
        xtreme_languages.cache_clear()
    assert languages["xnli"] == tuple(
        ["ar", "bg", "de", "el", "en", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi", "zh"]
    )  # XNLI's 15 (xtreme.md)
    assert set(languages) == set(TASK_METRICS)
    assert len(languages["panx"]) == 40 and len(languages["tatoeba"]) == 36


def test_rollup_rejects_what_it_cannot_score():
    with pytest.raises(ValueError, match="not an XTREME task"):
        rollup({"xcopa": {"en": {"accuracy": 1.0}}}, {"xcopa": ("en",)})
    with pytest.raises(ValueError, match="'fr' is not one of"):
        task_score("xnli", {"fr": {"accuracy": 1.0}}, ("en",))
    with pytest.raises(ValueError, match="no 'f1'"):
        task_score("mlqa", {"en": {"exact_match": 1.0}}, ("en",))
    with pytest.raises(ValueError, match="no language list given for xnli"):
        rollup({"xnli": {"en": {"accuracy": 1.0}}}, {})
