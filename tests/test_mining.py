"""Two-way exact search for BUCC mining (one pass over score tiles) and its IVF option."""

from __future__ import annotations

import numpy as np
import pytest

import harness.metrics.retrieval as retrieval
from harness.metrics.retrieval import KnnSearch, exact_scores, mine_candidates


def _unit(rows: int, dim: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((rows, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _with_ties(seed: int) -> tuple[np.ndarray, np.ndarray]:
    src, trg = _unit(90, 16, seed), _unit(70, 16, seed + 50)
    trg[[3, 9, 40, 60, 61]] = trg[20]  # five equal targets: more than k tie
    src[[2, 30]] = trg[20]  # sources whose best targets are exactly those ties
    src[[50, 51, 52]] = src[7]  # equal sources: ties for the targets' side
    return src, trg


def _brute_force(queries: np.ndarray, base: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """k best by the canonical pair score over the full matrix, ties by lower index."""
    rows, cols = np.divmod(np.arange(len(queries) * len(base)), len(base))
    full = exact_scores(queries, base, rows, cols).reshape(len(queries), len(base))
    order = np.argsort(-full, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(full, order, 1), order


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
@pytest.mark.parametrize("block_size", [1, 13, 4096])
@pytest.mark.parametrize("seed", [0, 1])
def test_one_pass_equals_two_exact_searches(precision, block_size, seed):
    src, trg = _with_ties(seed)
    search = KnnSearch(block_size=block_size, precision=precision)
    (fwd_scores, fwd_idx), (bwd_scores, bwd_idx) = search.search_both(src, trg, 4)
    exp_fwd, exp_bwd = _brute_force(src, trg, 4), _brute_force(trg, src, 4)
    np.testing.assert_array_equal(fwd_idx, exp_fwd[1])
    np.testing.assert_array_equal(bwd_idx, exp_bwd[1])
    # the scores are the canonical ones exactly, whatever the tiles or precision
    np.testing.assert_array_equal(fwd_scores, exp_fwd[0])
    np.testing.assert_array_equal(bwd_scores, exp_bwd[0])
    # the lowest of the five tied targets are kept, in index order
    assert fwd_idx[2].tolist() == [3, 9, 20, 40]
    # agrees with one-way exact search up to float32 rounding of the scores
    one_way = KnnSearch().search(trg, src, 4)
    np.testing.assert_allclose(bwd_scores, one_way[0], rtol=1e-6)


def test_results_do_not_depend_on_block_size_at_scale():
    src, trg = _unit(700, 32, 3), _unit(500, 32, 4)
    expected = KnnSearch(block_size=4096).search_both(src, trg, 4)
    for block_size in (64, 100, 333):
        got = KnnSearch(block_size=block_size).search_both(src, trg, 4)
        for a, b in zip(got, expected, strict=True):
            np.testing.assert_array_equal(a[0], b[0])
            np.testing.assert_array_equal(a[1], b[1])


def test_uncertified_rows_are_searched_again(monkeypatch):
    # bfloat16's error bound cannot separate near-ties: those rows take the exact path
    src, trg = _with_ties(2)
    seen: list[int] = []
    search_rows = retrieval._search_rows

    def spy(queries, rows, base, k, block_size):
        seen.append(len(rows))
        return search_rows(queries, rows, base, k, block_size)

    monkeypatch.setattr(retrieval, "_search_rows", spy)
    # more near-copies of target 0 than proposals, all within bfloat16 error of each other
    copies = trg[0] + 1e-4 * np.random.default_rng(0).standard_normal((30, 16)).astype(np.float32)
    trg = np.concatenate([trg, copies])
    trg /= np.linalg.norm(trg, axis=1, keepdims=True)
    src[0] = trg[0]
    got = KnnSearch(block_size=16, precision="bfloat16").search_both(src, trg, 4)
    assert sum(seen) > 0
    np.testing.assert_array_equal(got[0][1], _brute_force(src, trg, 4)[1])


def test_memory_is_bounded_by_the_tile():
    # by construction: the only n x m-sized object would be a tile, and a tile is at
    # most block_size x block_size whatever the corpus size
    tiles = retrieval._Tiles("float32", _unit(5000, 8, 5), _unit(3000, 8, 6), 256)
    assert tiles.buffer.size == 256 * 256


def test_float16_vectors_give_the_float32_results_of_their_values():
    src, trg = _unit(80, 16, 7).astype(np.float16), _unit(60, 16, 8).astype(np.float16)
    got = KnnSearch(block_size=16).search_both(src, trg, 3)
    expected = KnnSearch(block_size=16).search_both(
        src.astype(np.float32), trg.astype(np.float32), 3
    )
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_array_equal(a[1], b[1])
        np.testing.assert_array_equal(a[0], b[0])


def _parallel(n: int, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((40, dim)).astype(np.float32)
    src = centres[rng.integers(0, 40, n)] + 0.6 * rng.standard_normal((n, dim)).astype(np.float32)
    src /= np.linalg.norm(src, axis=1, keepdims=True)
    trg = src + 0.2 * rng.standard_normal((n, dim)).astype(np.float32)
    trg = trg[rng.permutation(n)]
    return src, trg / np.linalg.norm(trg, axis=1, keepdims=True)


@pytest.mark.parametrize("storage", ["flat", "fp16", "sq8"])
def test_ivf_recall_on_structured_data(storage):
    src, trg = _parallel(4000, 32, 9)
    exact = KnnSearch().search_both(src, trg, 4)
    ivf = KnnSearch(ivf_lists=64, nprobe=8, ivf_storage=storage).search_both(src, trg, 4)
    for (e_scores, e_idx), (a_scores, a_idx) in zip(exact, ivf, strict=True):
        found = [len(set(e) & set(a)) for e, a in zip(e_idx, a_idx, strict=True)]
        assert sum(found) / e_idx.size >= 0.95
        # rescored: a neighbour found by both has the same exact score
        same = e_idx == a_idx
        np.testing.assert_array_equal(e_scores[same], a_scores[same])


def test_mining_with_ivf_finds_the_planted_pairs():
    src, trg = _parallel(3000, 32, 10)
    search = KnnSearch(ivf_lists=32, nprobe=4, ivf_storage="sq8")
    ids = {f"s{i}": i for i in range(3000)}, {f"t{i}": i for i in range(3000)}
    approx = mine_candidates(src, ids[0], trg, ids[1], search=search)
    exact = mine_candidates(src, ids[0], trg, ids[1])
    top = {(c.src_id, c.trg_id) for c in exact[:2000]}
    assert len(top & {(c.src_id, c.trg_id) for c in approx}) >= 0.95 * len(top)


def test_invalid_settings_are_rejected():
    with pytest.raises(ValueError, match="invalid search settings"):
        KnnSearch(precision="int8")
    with pytest.raises(ValueError, match="invalid search settings"):
        KnnSearch(ivf_storage="pq")


def test_registry_choices_are_the_search_settings():
    from harness.specs import RETRIEVAL_FIELDS

    assert RETRIEVAL_FIELDS["ivf_storage"][1] == tuple(retrieval.IVF_STORAGE)
    assert RETRIEVAL_FIELDS["precision"][1] == retrieval.PRECISIONS
    fields = set(KnnSearch.__dataclass_fields__)
    assert set(RETRIEVAL_FIELDS) == fields | {"k"}


def test_a_tasks_retrieval_block_sets_the_search():
    from harness.errors import RegistryError
    from harness.specs import TaskSpec

    def task(retrieval_block):
        raw = {
            "kind": "retrieval",
            "metric": "bucc_f1",
            "data": {"test": {"local": {"format": "bucc", "path": {"source": "s", "target": "t"}}}},
            "retrieval": retrieval_block,
        }
        return TaskSpec.parse("mine", "target", raw, "test.yaml")

    spec = task({"k": 4, "ivf_lists": 1024, "nprobe": 8, "ivf_storage": "sq8"})
    assert spec.retrieval == {"k": 4, "ivf_lists": 1024, "nprobe": 8, "ivf_storage": "sq8"}
    with pytest.raises(RegistryError, match=r"retrieval\.precision"):
        task({"precision": "int8"})
    with pytest.raises(RegistryError, match=r"retrieval\.nlist"):
        task({"nlist": 5})
