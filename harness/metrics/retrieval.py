"""Retrieval metrics over L2-normalised sentence vectors: Tatoeba accuracy and BUCC mining F1.

Accuracy, precision, recall and F1 are percentages (0-100), as everywhere in
``harness.metrics``; BUCC thresholds are raw margin scores.

Search is by inner product (cosine on normalised vectors) with faiss, exact
(``IndexFlatIP``) by default or IVF-flat when ``KnnSearch.ivf_lists`` is set. Queries
go through the index ``KnnSearch.block_size`` rows at a time, and only each query's k
best are kept, so memory grows with n * k, never n * m: no full similarity matrix is
ever built.

Ties: among equal inner products the lowest target index ranks first (what an exact
argmax does). faiss keeps the first of equal top-1 scores but orders tied neighbours
arbitrarily for k > 1, so neighbours are re-sorted by (score descending, index).

BUCC mining (LASER's ``mine_bitexts`` in "max" mode, as XTREME uses it):

1. the caller de-duplicates sentences and embeds each distinct sentence once; ids map
   to vector rows, so ids sharing a sentence share its row;
2. k nearest neighbours (k = 4) in both directions;
3. ratio margin: cos(x, y) / ((mean cos of x to its k neighbours + mean cos of y to its
   k neighbours) / 2);
4. each source's best target and each target's best source by margin (among its k
   neighbours), pooled, sorted by score descending (stable: forward candidates in row
   order, then backward ones), accepted greedily with no row used twice; an accepted
   pair of rows yields every (src_id, trg_id) pair of ids on those rows, as LASER's
   BUCC script expands sentences back to ids;
5. ``tune_threshold`` picks the cut with the best F1 on gold, ``apply_threshold`` reuses
   it on sets with no public gold.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import faiss
import numpy as np

S = TypeVar("S", bound=Hashable)
T = TypeVar("T", bound=Hashable)


def _as_matrix(x: np.ndarray, name: str) -> np.ndarray:
    """faiss wants C-contiguous float32 rows."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f"{name}: expected a non-empty 2-D array of vectors, got shape {x.shape}")
    return x


@dataclass(frozen=True)
class KnnSearch:
    """How k-NN search runs; record it with results, since IVF is approximate.

    ``ivf_lists`` 0 means exact search; otherwise an IVF-flat index with that many
    lists, trained on the base vectors, probing ``nprobe`` of them per query.
    """

    block_size: int = 4096
    ivf_lists: int = 0
    nprobe: int = 16

    def __post_init__(self) -> None:
        if self.block_size < 1 or self.ivf_lists < 0 or self.nprobe < 1:
            raise ValueError(f"invalid search settings: {self}")

    def _index(self, base: np.ndarray) -> faiss.Index:
        dim = base.shape[1]
        if self.ivf_lists == 0:
            index = faiss.IndexFlatIP(dim)
        else:
            if len(base) < self.ivf_lists:
                raise ValueError(f"{len(base)} vectors cannot train {self.ivf_lists} IVF lists")
            index = faiss.IndexIVFFlat(
                faiss.IndexFlatIP(dim), dim, self.ivf_lists, faiss.METRIC_INNER_PRODUCT
            )
            index.train(base)
            index.nprobe = self.nprobe
        index.add(base)
        return index

    def search(
        self, queries: np.ndarray, base: np.ndarray, k: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Each query's k best base rows as (scores, indices), n x k each.

        Best first; equal scores in index order.
        """
        queries = _as_matrix(queries, "queries")
        base = _as_matrix(base, "base")
        if queries.shape[1] != base.shape[1]:
            raise ValueError(f"queries have dimension {queries.shape[1]}, base {base.shape[1]}")
        if not 1 <= k <= len(base):
            raise ValueError(f"k={k} neighbours asked of {len(base)} base vectors")
        index = self._index(base)
        scores = np.empty((len(queries), k), dtype=np.float32)
        indices = np.empty((len(queries), k), dtype=np.int64)
        for start in range(0, len(queries), self.block_size):
            stop = start + self.block_size
            scores[start:stop], indices[start:stop] = index.search(queries[start:stop], k)
        if (indices < 0).any():
            raise ValueError(f"approximate search found fewer than k={k} neighbours; raise nprobe")
        order = np.lexsort((indices, -scores))
        return np.take_along_axis(scores, order, 1), np.take_along_axis(indices, order, 1)


# --- Tatoeba ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TatoebaResult:
    accuracy: float
    predictions: np.ndarray  # for each source row, the target row it retrieved


def tatoeba_scores(
    source: np.ndarray, target: np.ndarray, search: KnnSearch | None = None
) -> TatoebaResult:
    """Top-1 source -> target accuracy where row i of each side is a translation pair.

    XTREME scores xx -> en (source = xx); swap the arguments for the other direction.
    ``predictions`` index ``target`` as given: a submission against XTREME's sorted
    English file maps them through that sort.
    """
    if len(source) != len(target):
        raise ValueError(
            f"{len(source)} source sentences for {len(target)} targets; rows must pair up"
        )
    _, indices = (search or KnnSearch()).search(source, target, 1)
    predictions = indices[:, 0]
    return TatoebaResult(
        accuracy=100.0 * float(np.mean(predictions == np.arange(len(predictions)))),
        predictions=predictions,
    )


# --- BUCC ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    src_id: str
    trg_id: str
    score: float  # ratio margin


@dataclass(frozen=True)
class Threshold:
    """A tuned threshold and the precision, recall and F1 it gives on the tuning gold."""

    threshold: float
    precision: float
    recall: float
    f1: float


def greedy_one_to_one(candidates: Iterable[tuple[S, T, float]]) -> list[tuple[S, T, float]]:
    """Accept candidates best score first (ties in input order), skipping any whose source
    or target is already used, so the result is one-to-one."""
    used_src: set[S] = set()
    used_trg: set[T] = set()
    accepted = []
    for src, trg, score in sorted(candidates, key=lambda c: -c[2]):
        if src not in used_src and trg not in used_trg:
            used_src.add(src)
            used_trg.add(trg)
            accepted.append((src, trg, score))
    return accepted


def _ids_by_row(ids: Mapping[str, int], rows: int, side: str) -> list[list[str]]:
    by_row: list[list[str]] = [[] for _ in range(rows)]
    for sentence_id, row in sorted(ids.items()):
        if not 0 <= row < rows:
            raise ValueError(f"{side} id {sentence_id!r} points at row {row} of {rows} vectors")
        by_row[row].append(sentence_id)
    return by_row


def mine_candidates(
    src_vectors: np.ndarray,
    src_ids: Mapping[str, int],
    trg_vectors: np.ndarray,
    trg_ids: Mapping[str, int],
    k: int = 4,
    search: KnnSearch | None = None,
) -> list[Candidate]:
    """BUCC steps 2-4: margin-scored, one-to-one candidate pairs, best first, no threshold yet.

    ``src_ids``/``trg_ids`` map each sentence id to its row of the vectors (one row per
    distinct sentence). Rows no id points at still take part in the search but yield
    no pairs. k is capped at the other side's size.
    """
    src = _as_matrix(src_vectors, "source vectors")
    trg = _as_matrix(trg_vectors, "target vectors")
    src_by_row = _ids_by_row(src_ids, len(src), "source")
    trg_by_row = _ids_by_row(trg_ids, len(trg), "target")
    search = search or KnnSearch()
    fwd_sim, fwd_idx = search.search(src, trg, min(k, len(trg)))
    bwd_sim, bwd_idx = search.search(trg, src, min(k, len(src)))
    fwd_mean = fwd_sim.mean(axis=1, dtype=np.float64)
    bwd_mean = bwd_sim.mean(axis=1, dtype=np.float64)
    fwd_margin = fwd_sim / ((fwd_mean[:, None] + bwd_mean[fwd_idx]) / 2)
    bwd_margin = bwd_sim / ((bwd_mean[:, None] + fwd_mean[bwd_idx]) / 2)
    src_rows, trg_rows = np.arange(len(src)), np.arange(len(trg))
    fwd_best, bwd_best = fwd_margin.argmax(axis=1), bwd_margin.argmax(axis=1)
    pool = zip(
        np.concatenate([src_rows, bwd_idx[trg_rows, bwd_best]]).tolist(),
        np.concatenate([fwd_idx[src_rows, fwd_best], trg_rows]).tolist(),
        np.concatenate([fwd_margin[src_rows, fwd_best], bwd_margin[trg_rows, bwd_best]]).tolist(),
        strict=True,
    )
    return [
        Candidate(src_id, trg_id, score)
        for src_row, trg_row, score in greedy_one_to_one(pool)
        for src_id in src_by_row[src_row]
        for trg_id in trg_by_row[trg_row]
    ]


def _prf(correct: int, predicted: int, gold: int) -> tuple[float, float, float]:
    if correct == 0:
        return 0.0, 0.0, 0.0
    precision, recall = correct / predicted, correct / gold
    return 100.0 * precision, 100.0 * recall, 100.0 * 2 * precision * recall / (precision + recall)


def tune_threshold(candidates: Sequence[Candidate], gold: Collection[tuple[str, str]]) -> Threshold:
    """The threshold with the best F1 against ``gold`` (BUCC step 5, on the dev set).

    Sweeps the candidates by score descending; a cut is only possible between two
    different scores (a threshold cannot split ties), and the threshold is the midpoint
    of the last accepted and the first rejected score; after the last candidate it is
    that candidate's score. The highest of equally good cuts wins. With no correct
    candidate the threshold is +inf (accept nothing). Accepting ``score >= threshold``
    reproduces the reported scores, given distinct pairs as ``mine_candidates`` returns.
    """
    gold_set = set(gold)
    if not gold_set:
        raise ValueError("tuning a threshold needs gold pairs")
    ranked = sorted(candidates, key=lambda c: -c.score)
    best = Threshold(math.inf, 0.0, 0.0, 0.0)
    correct = 0
    for i, candidate in enumerate(ranked):
        correct += (candidate.src_id, candidate.trg_id) in gold_set
        last = i + 1 == len(ranked)
        if not last and ranked[i + 1].score == candidate.score:
            continue
        precision, recall, f1 = _prf(correct, i + 1, len(gold_set))
        if f1 > best.f1:
            threshold = candidate.score
            if not last:
                midpoint = (candidate.score + ranked[i + 1].score) / 2
                # Rounding may land the midpoint on the rejected score; then keep the accepted one.
                threshold = midpoint if midpoint > ranked[i + 1].score else candidate.score
            best = Threshold(threshold, precision, recall, f1)
    return best


def apply_threshold(candidates: Iterable[Candidate], threshold: float) -> list[tuple[str, str]]:
    """The (src_id, trg_id) pairs scoring at least ``threshold``, in candidate order."""
    return [(c.src_id, c.trg_id) for c in candidates if c.score >= threshold]


def pair_scores(
    predicted: Iterable[tuple[str, str]], gold: Iterable[tuple[str, str]]
) -> dict[str, float]:
    """``precision``, ``recall`` and ``f1`` of mined pairs against gold pairs (as sets)."""
    predicted_set, gold_set = set(predicted), set(gold)
    if not gold_set:
        raise ValueError("no gold pairs to score")
    precision, recall, f1 = _prf(len(predicted_set & gold_set), len(predicted_set), len(gold_set))
    return {"precision": precision, "recall": recall, "f1": f1}


def bucc_scores(
    candidates: Sequence[Candidate],
    gold: Collection[tuple[str, str]],
    threshold: float | None = None,
) -> dict[str, float]:
    """BUCC ``precision``/``recall``/``f1`` plus the ``threshold`` used.

    With no ``threshold`` it is tuned on this very gold (the dev set, as XTREME reports
    BUCC); pass the dev threshold to score any other set.
    """
    if threshold is None:
        threshold = tune_threshold(candidates, gold).threshold
    return pair_scores(apply_threshold(candidates, threshold), gold) | {"threshold": threshold}
