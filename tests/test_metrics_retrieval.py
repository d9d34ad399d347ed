"""Tatoeba and BUCC retrieval metrics: ties, blocking, margin mining, greedy choice, thresholds."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.metrics.retrieval import (
    Candidate,
    KnnSearch,
    apply_threshold,
    bucc_scores,
    greedy_one_to_one,
    mine_candidates,
    pair_scores,
    tatoeba_scores,
    tune_threshold,
)


def _unit(rows: int, dim: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((rows, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _angles(*degrees: float) -> np.ndarray:
    radians = np.radians(degrees)
    return np.stack([np.cos(radians), np.sin(radians)], axis=1).astype(np.float32)


# --- k-NN search ----------------------------------------------------------------------


def test_search_matches_brute_force_for_every_block_size():
    queries, base = _unit(57, 16, 0), _unit(40, 16, 1)
    full = queries @ base.T
    expected = np.argsort(-full, axis=1, kind="stable")[:, :4]
    for block_size in (1, 7, 57, 4096):
        scores, indices = KnnSearch(block_size=block_size).search(queries, base, 4)
        np.testing.assert_array_equal(indices, expected)
        np.testing.assert_allclose(scores, np.take_along_axis(full, expected, 1), rtol=1e-5)


def test_search_sends_queries_in_blocks(monkeypatch):
    seen: list[int] = []
    build = KnnSearch._index

    def recording_index(self, base):
        index = build(self, base)

        class Recorder:
            def search(self, queries, k):
                seen.append(len(queries))
                return index.search(queries, k)

        return Recorder()

    monkeypatch.setattr(KnnSearch, "_index", recording_index)
    KnnSearch(block_size=5).search(_unit(12, 8, 2), _unit(9, 8, 3), 2)
    assert seen == [5, 5, 2]


def test_search_orders_tied_neighbours_by_index():
    base = _unit(30, 8, 4)
    base[[7, 21]] = base[2]
    _, indices = KnnSearch().search(base[[21]], base, 3)
    assert indices.tolist() == [[2, 7, 21]]


def test_exhaustive_ivf_equals_exact_search():
    queries, base = _unit(50, 16, 5), _unit(200, 16, 6)
    exact = KnnSearch().search(queries, base, 4)[1]
    ivf = KnnSearch(ivf_lists=4, nprobe=4).search(queries, base, 4)[1]
    np.testing.assert_array_equal(ivf, exact)


def test_ivf_that_finds_too_few_neighbours_fails_loudly():
    with pytest.raises(ValueError, match="raise nprobe"):
        KnnSearch(ivf_lists=8, nprobe=1).search(_unit(5, 16, 7), _unit(400, 16, 8), 150)


# --- Tatoeba ----------------------------------------------------------------------------


@pytest.mark.parametrize("block_size", [3, 4096])
def test_tatoeba_ties_go_to_the_lowest_index(block_size):
    target = _unit(50, 16, 9)
    target[3] = target[1]  # two identical English sentences
    target[40] = target[0]
    source = target.copy()  # each source is its own translation's vector
    result = tatoeba_scores(source, target, KnnSearch(block_size=block_size))
    # sources 3 and 40 tie between their gold row and a lower duplicate: the lower wins
    assert result.predictions[3] == 1
    assert result.predictions[40] == 0
    assert result.predictions[1] == 1
    assert result.accuracy == pytest.approx(96.0)
    np.testing.assert_array_equal(
        np.delete(result.predictions, [3, 40]), np.delete(np.arange(50), [3, 40])
    )


def test_tatoeba_needs_paired_rows():
    with pytest.raises(ValueError, match="rows must pair up"):
        tatoeba_scores(_unit(3, 4, 0), _unit(4, 4, 1))


# --- BUCC mining -------------------------------------------------------------------------


def test_greedy_one_to_one_takes_the_best_score_first():
    candidates = [("s0", "t0", 0.9), ("s1", "t0", 0.8), ("s1", "t1", 0.7), ("s0", "t1", 0.95)]
    # (s0, t1) first; (s0, t0) then has a used source, (s1, t0) is free, (s1, t1) is not.
    assert greedy_one_to_one(candidates) == [("s0", "t1", 0.95), ("s1", "t0", 0.8)]


def test_greedy_one_to_one_breaks_ties_by_input_order():
    assert greedy_one_to_one([("a", "x", 1.0), ("b", "x", 1.0)]) == [("a", "x", 1.0)]


def test_mining_by_hand_with_shared_sentences():
    # 2-D unit vectors at angles: sources 0 and 12 degrees, targets 5 and 60 degrees; k = 1.
    src, trg = _angles(0, 12), _angles(5, 60)
    src_ids = {"de-a": 0, "de-b": 0, "de-c": 1}  # de-a and de-b are the same sentence
    trg_ids = {"en-x": 0, "en-y": 1}
    mined = mine_candidates(src, src_ids, trg, trg_ids, k=1)
    # neighbour means: s0 cos5, s1 cos7 (both nearest t0); t0 cos5 (s0), t1 cos48 (s1).
    # pool: (s0,t0) 1 twice, (s1,t0) cos7/((cos7+cos5)/2), (s1,t1) cos48/((cos48+cos7)/2).
    # s1's own best target, t0, is taken by s0 first, so s1 pairs with t1.
    assert [(c.src_id, c.trg_id) for c in mined] == [
        ("de-a", "en-x"),
        ("de-b", "en-x"),
        ("de-c", "en-y"),
    ]
    assert mined[0].score == pytest.approx(1.0, rel=1e-6)
    cos48, cos7 = math.cos(math.radians(48)), math.cos(math.radians(7))
    assert mined[2].score == pytest.approx(cos48 / ((cos48 + cos7) / 2), rel=1e-6)


def _reference_mining(src: np.ndarray, trg: np.ndarray, k: int) -> list[tuple[int, int, float]]:
    """LASER's max-mode mining on the full similarity matrix, row ids for sentence ids."""
    sim = src.astype(np.float64) @ trg.T.astype(np.float64)
    fwd_nn = np.argsort(-sim, axis=1, kind="stable")[:, :k]
    bwd_nn = np.argsort(-sim.T, axis=1, kind="stable")[:, :k]
    fwd_mean = np.take_along_axis(sim, fwd_nn, 1).mean(1)
    bwd_mean = np.take_along_axis(sim.T, bwd_nn, 1).mean(1)

    def margin(i: int, j: int) -> float:
        return sim[i, j] / ((fwd_mean[i] + bwd_mean[j]) / 2)

    pool = [
        max(((i, j, margin(i, j)) for j in fwd_nn[i]), key=lambda c: c[2]) for i in range(len(src))
    ]
    pool += [
        max(((i, j, margin(i, j)) for i in bwd_nn[j]), key=lambda c: c[2]) for j in range(len(trg))
    ]
    return greedy_one_to_one(pool)


@pytest.mark.parametrize("block_size", [4, 4096])
def test_mining_matches_a_full_matrix_reference(block_size):
    src, trg = _unit(60, 12, 10), _unit(45, 12, 11)
    trg[:30] = trg[:30] * 0.2 + src[:30] * 0.8  # plant 30 near translations
    trg /= np.linalg.norm(trg, axis=1, keepdims=True)
    expected = _reference_mining(src, trg, 4)
    mined = mine_candidates(
        src,
        {f"s{i}": i for i in range(60)},
        trg,
        {f"t{j}": j for j in range(45)},
        search=KnnSearch(block_size=block_size),
    )
    assert [(c.src_id, c.trg_id) for c in mined] == [(f"s{i}", f"t{j}") for i, j, _ in expected]
    np.testing.assert_allclose([c.score for c in mined], [s for *_, s in expected], rtol=1e-5)
    assert len({c.src_id for c in mined}) == len({c.trg_id for c in mined}) == len(mined)
    assert {(f"s{i}", f"t{i}") for i in range(30)} <= {(c.src_id, c.trg_id) for c in mined}


def test_mining_rejects_ids_outside_the_vectors():
    with pytest.raises(ValueError, match="'de-9' points at row 5 of 2"):
        mine_candidates(_angles(0, 10), {"de-9": 5}, _angles(0, 10), {"en-1": 0})


# --- BUCC threshold and F1 ------------------------------------------------------------------


def _cands(*scored: tuple[str, float]) -> list[Candidate]:
    return [Candidate(f"s-{name}", f"t-{name}", score) for name, score in scored]


def _gold(*names: str) -> set[tuple[str, str]]:
    return {(f"s-{n}", f"t-{n}") for n in names}


def test_threshold_is_the_midpoint_at_the_best_cut():
    candidates = _cands(("a", 1.3), ("b", 1.2), ("x", 1.1), ("c", 1.05), ("y", 1.0))
    gold = _gold("a", "b", "c", "missed")
    # cuts: F1 .4, .667, .571, .75 (3 of 4 right, 3 of 4 found), .667 -> cut after c
    best = tune_threshold(candidates, gold)
    assert best.threshold == (1.05 + 1.0) / 2
    assert (best.precision, best.recall, best.f1) == pytest.approx((75.0, 75.0, 75.0))
    assert apply_threshold(candidates, best.threshold) == [
        ("s-a", "t-a"),
        ("s-b", "t-b"),
        ("s-x", "t-x"),
        ("s-c", "t-c"),
    ]
    assert bucc_scores(candidates, gold) == {
        "precision": pytest.approx(75.0),
        "recall": pytest.approx(75.0),
        "f1": pytest.approx(75.0),
        "threshold": (1.05 + 1.0) / 2,
    }


def test_threshold_never_splits_tied_scores():
    candidates = _cands(("a", 2.0), ("b", 1.5), ("x", 1.5), ("y", 1.0))
    # splitting the 1.5 tie after b would give F1 100, but no threshold can do that:
    # the possible cuts give F1 2/3, 4/5 (after both 1.5s) and 2/3
    best = tune_threshold(candidates, _gold("a", "b"))
    assert best.threshold == 1.25
    assert best.f1 == pytest.approx(80.0)


def test_the_highest_of_equally_good_cuts_wins_though_their_floats_differ():
    # 7 gold pairs; accepting 5 (4 right) and 8 (5 right) both give F1 2/3, which
    # floating point computes as 66.666...66 and 66.666...67
    right = [0, 1, 1, 1, 1, 0, 0, 1]
    candidates = [Candidate(f"s-{i}", f"t-{i}", 10.0 - i) for i in range(len(right))]
    gold = {(f"s-{i}", f"t-{i}") for i, r in enumerate(right) if r} | _gold("m1", "m2")
    best = tune_threshold(candidates, gold)
    assert best.threshold == 5.5  # between the 5th (score 6) and the 6th (score 5)
    assert (best.precision, best.f1) == pytest.approx((80.0, 200 / 3))


def test_threshold_after_the_last_candidate_is_its_score():
    best = tune_threshold(_cands(("a", 3.0), ("b", 2.0)), _gold("a", "b"))
    assert (best.threshold, best.f1) == (2.0, 100.0)


def test_threshold_midpoint_rounding_onto_the_rejected_score():
    low = 1.0
    high = math.nextafter(low, 2.0)
    assert (high + low) / 2 == low  # the midpoint of neighbouring floats rounds down here
    candidates = _cands(("a", high), ("x", low))
    best = tune_threshold(candidates, _gold("a"))
    assert best.threshold == high
    assert apply_threshold(candidates, best.threshold) == [("s-a", "t-a")]


def test_threshold_with_nothing_correct_accepts_nothing():
    candidates = _cands(("x", 1.2))
    best = tune_threshold(candidates, _gold("a"))
    assert best.threshold == math.inf and best.f1 == 0.0
    assert apply_threshold(candidates, best.threshold) == []


def test_dev_threshold_applies_to_new_candidates():
    test_candidates = _cands(("a", 1.4), ("x", 1.2), ("b", 1.0))
    # threshold 1.1 keeps a and x: P 1/2, R 1/2
    scores = bucc_scores(test_candidates, _gold("a", "b"), threshold=1.1)
    assert scores == {"precision": 50.0, "recall": 50.0, "f1": 50.0, "threshold": 1.1}


def test_pair_scores_by_hand():
    predicted = [("a", "x"), ("b", "y"), ("c", "z"), ("a", "x")]
    gold = [("a", "x"), ("b", "w")]
    # 1 of 3 distinct predictions right, 1 of 2 gold found: F1 = 2 * (1/6) / (5/6) = 0.4
    scores = pair_scores(predicted, gold)
    assert scores == {
        "precision": pytest.approx(100 / 3),
        "recall": 50.0,
        "f1": pytest.approx(40.0),
    }
    with pytest.raises(ValueError, match="no gold pairs"):
        pair_scores(predicted, [])
