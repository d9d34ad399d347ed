"""Retrieval metrics over L2-normalised sentence vectors: Tatoeba accuracy and BUCC mining F1.

Accuracy, precision, recall and F1 are percentages (0-100), as everywhere in
``harness.metrics``; BUCC thresholds are raw margin scores.

Search is by inner product (cosine on normalised vectors). Memory grows with n * k plus
one score tile, never with n * m: no full similarity matrix is ever built.

- ``KnnSearch.search`` (one direction, Tatoeba): faiss ``IndexFlatIP``, or IVF when
  ``ivf_lists`` is set, queries ``block_size`` rows at a time.
- ``KnnSearch.search_both`` (BUCC mining needs both directions): exact search computes
  each block_size x block_size tile of scores once, by a float32 (or, with
  ``precision="bfloat16"``, an AMX bfloat16) GEMM, and feeds it to both directions: the
  tile's rows propose source -> target neighbours, its columns target -> source ones,
  k + slack per row, kept against a running threshold so that after the first tile
  few entries need looking at. The proposals are then rescored exactly
  (``exact_scores``: float64 sums rounded to float32) and the k best kept. A row is
  certified when a rigorous bound on the GEMM's error shows nothing it left out can
  reach its k-th; the rare rows that fail (ties, near-ties) are searched again over the
  whole other side. Neighbours and scores are thus exact whatever the precision or
  block size. With ``ivf_lists`` each direction is an IVF search (one index in memory
  at a time, vectors stored flat, fp16 or sq8) whose k + slack results are rescored:
  approximate, so record the settings with the results.

Ties: among equal scores the lowest index ranks first (what an exact argmax does).
``search_both`` guarantees it even at the k-th place; faiss (``search``) keeps the
first of equal top-1 scores, but for k > 1 may keep a higher index among ties at the
k-th place; the neighbours it returns are re-sorted by (score descending, index).

Vectors may be float16 (half the memory at a million sentences); blocks are widened
to float32 as they are used.

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
from fractions import Fraction
from typing import Any, TypeVar

import faiss
import numpy as np

S = TypeVar("S", bound=Hashable)
T = TypeVar("T", bound=Hashable)

# Neighbours proposed per row beyond k, so that the exact rescoring can reorder them and
# the error bound can rule out the rest (bfloat16's coarser bound needs more room).
_SLACK = {"float32": 4, "bfloat16": 12}
# Pairs rescored per numpy call: bounds the float64 gather at ~50 MB for 384-d vectors.
_RESCORE_PAIRS = 8192
# float32 unit roundoff; bfloat16's (8 significant bits) is 2**-9.
_U32 = 2.0**-24
_UBF16 = 2.0**-9
PRECISIONS = ("float32", "bfloat16")
IVF_STORAGE = {
    "flat": None,
    "fp16": faiss.ScalarQuantizer.QT_fp16,
    "sq8": faiss.ScalarQuantizer.QT_8bit,
}

Neighbours = tuple[np.ndarray, np.ndarray]  # (scores, indices), n x k each, best first


def _as_matrix(x: np.ndarray, name: str) -> np.ndarray:
    """C-contiguous float32 rows; float16 stays float16 (half the memory), blocks are
    widened to float32 as they are used."""
    x = np.asarray(x)
    x = np.ascontiguousarray(x, dtype=np.float16 if x.dtype == np.float16 else np.float32)
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f"{name}: expected a non-empty 2-D array of vectors, got shape {x.shape}")
    return x


def _f32(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float32)


def exact_scores(
    queries: np.ndarray, base: np.ndarray, rows: np.ndarray, cols: np.ndarray
) -> np.ndarray:
    """The inner products of pairs (queries[rows], base[cols]) as float32, summed in float64.

    The one definition of a pair's score everywhere exact search returns one, so the
    blocking or precision that proposed a pair cannot change its score or rank.
    """
    out = np.empty(len(rows), dtype=np.float32)
    for start in range(0, len(rows), _RESCORE_PAIRS):
        stop = start + _RESCORE_PAIRS
        a = queries[rows[start:stop]].astype(np.float64)
        b = base[cols[start:stop]].astype(np.float64)
        out[start:stop] = np.einsum("pd,pd->p", a, b)
    return out


def _best_per_group(
    groups: np.ndarray, n_groups: int, scores: np.ndarray, indices: np.ndarray, k: int
) -> Neighbours:
    """The k best (score, index) of each group 0..n_groups-1 (each needs >= k entries),
    best first, equal scores by lower index."""
    order = np.lexsort((indices, -scores, groups))
    sizes = np.bincount(groups, minlength=n_groups)
    take = order[(np.cumsum(sizes) - sizes)[:, None] + np.arange(k)]
    return scores[take], indices[take]


class _Proposals:
    """Each row's k best-scoring columns seen so far (in no order), by the fast tile scores.

    The least of them is a threshold: only entries above it can enter, and after the
    first tile few do. Whatever never entered scored at most the final threshold.
    """

    def __init__(self, rows: int, k: int, mask: np.ndarray):
        self.k = k
        self._mask = mask  # shared scratch for the tile's hits
        self.scores = np.full((rows, k), -np.inf, dtype=np.float32)
        self.indices = np.full((rows, k), -1, dtype=np.int64)

    def offer(self, tile: np.ndarray, row0: int, col0: int, by_column: bool = False) -> None:
        """The tile's rows (its columns if ``by_column``) are rows row0.. of this side, the
        other axis columns col0.. of the other side."""
        count, width = tile.shape[::-1] if by_column else tile.shape
        floor = self.scores[row0 : row0 + count].min(axis=1)
        if floor[0] == -np.inf and width > self.k:
            # Every row has seen the same columns, so all are empty together. The least of
            # k maxima over disjoint column groups is a floor some k entries reach.
            size = width // self.k * self.k
            if by_column:
                floor = tile[:size].reshape(self.k, -1, count).max(axis=1).min(axis=0)
            else:
                floor = tile[:, :size].reshape(count, self.k, -1).max(axis=2).min(axis=1)
            floor = np.nextafter(floor, -np.inf)  # keep entries equal to it
        mask = self._mask[: tile.size].reshape(tile.shape)
        np.greater(tile, floor[None, :] if by_column else floor[:, None], out=mask)
        rows, cols = np.divmod(np.flatnonzero(mask), tile.shape[1])
        if by_column:
            rows, cols = cols, rows
        if len(rows) == 0:
            return
        # Merge: each touched row's held k and its hits side by side, padded with -inf; no
        # order among proposals is needed, only that nothing left out beats the k-th.
        order = np.argsort(rows, kind="stable")
        rows, cols = rows[order], cols[order]
        values = tile[cols, rows] if by_column else tile[rows, cols]
        first = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
        counts = np.diff(np.r_[first, len(rows)])
        local = np.repeat(np.arange(len(first)), counts)
        slot = self.k + np.arange(len(rows)) - first[local]
        held = rows[first] + row0
        width = self.k + counts.max()
        scores = np.full((len(held), width), -np.inf, dtype=np.float32)
        indices = np.full((len(held), width), -1, dtype=np.int64)
        scores[:, : self.k], indices[:, : self.k] = self.scores[held], self.indices[held]
        scores[local, slot], indices[local, slot] = values, cols + col0
        best = np.argpartition(scores, width - self.k, axis=1)[:, width - self.k :]
        self.scores[held] = np.take_along_axis(scores, best, 1)
        self.indices[held] = np.take_along_axis(indices, best, 1)


class _Tiles:
    """Score tiles (src block x trg block) in float32 or bfloat16, in one reused buffer,
    with the error bound that certifies what the fast scores left out."""

    def __init__(self, precision: str, src: np.ndarray, trg: np.ndarray, size: int):
        self.bf16 = precision == "bfloat16"
        self.buffer = np.empty(min(size, len(src)) * min(size, len(trg)), dtype=np.float32)
        dim = src.shape[1]
        gamma = dim * _U32 / (1 - dim * _U32)  # float32 accumulation over dim products
        if self.bf16:
            import torch  # only this option needs it

            self.torch = torch
            self.fast = torch.empty(len(self.buffer), dtype=torch.bfloat16)
            self.src, src_err, src_norm = self._rounded(src)
            self.trg, trg_err, trg_norm = self._rounded(trg)
        else:
            self.src, self.trg = src, trg
            src_norm, trg_norm = _norms(src), _norms(trg)
            src_err, trg_err = np.zeros_like(src_norm), np.zeros_like(trg_norm)
        # |fast - true| <= err_x |y| + |x~| err_y + gamma |x~| |y~| before the output is
        # rounded; per row, against the worst row of the other side
        self.fwd_abs = src_err * trg_norm.max() + src_norm * (
            trg_err.max() + gamma * trg_norm.max()
        )
        self.bwd_abs = trg_err * src_norm.max() + trg_norm * (
            src_err.max() + gamma * src_norm.max()
        )
        self.rel = _UBF16 / (1 - _UBF16) if self.bf16 else 0.0

    def _rounded(self, x: np.ndarray) -> tuple[Any, np.ndarray, np.ndarray]:
        """x in bfloat16, with each row's rounding error norm and rounded norm."""
        rounded = self.torch.from_numpy(_f32(x)).bfloat16()
        back = rounded.float().numpy()
        return rounded, _norms(back - x), _norms(back)

    def score(self, i0: int, i1: int, j0: int, j1: int) -> np.ndarray:
        tile = self.buffer[: (i1 - i0) * (j1 - j0)].reshape(i1 - i0, j1 - j0)
        if self.bf16:
            fast = self.fast[: tile.size].view(tile.shape)
            self.torch.mm(self.src[i0:i1], self.trg[j0:j1].T, out=fast)
            self.torch.from_numpy(tile).copy_(fast)
        else:
            np.matmul(_f32(self.src[i0:i1]), _f32(self.trg[j0:j1]).T, out=tile)
        return tile

    def bound(self, fast: np.ndarray, absolute: np.ndarray) -> np.ndarray:
        """An upper bound on the true score of anything whose fast score is <= ``fast``."""
        fast = fast.astype(np.float64)
        return fast + self.rel * np.abs(fast) + absolute


def _norms(x: np.ndarray) -> np.ndarray:
    return np.sqrt(np.einsum("nd,nd->n", x, x, dtype=np.float64))


@dataclass(frozen=True)
class KnnSearch:
    """How k-NN search runs; record it with results, since IVF is approximate.

    ``ivf_lists`` 0 means exact search; otherwise an IVF index with that many lists,
    trained on a sample of the base vectors, probing ``nprobe`` of them per query and
    storing vectors as ``ivf_storage`` (flat float32, fp16 or sq8: 4, 2 or 1 bytes per
    dimension). ``precision`` is the arithmetic exact two-way search proposes neighbours
    with (bfloat16 uses AMX where the CPU has it); the neighbours and scores it returns
    are exact either way. ``block_size`` bounds the rows per block, and score tiles to
    block_size x block_size.
    """

    block_size: int = 4096
    ivf_lists: int = 0
    nprobe: int = 16
    ivf_storage: str = "flat"
    precision: str = "float32"

    def __post_init__(self) -> None:
        if (
            self.block_size < 1
            or self.ivf_lists < 0
            or self.nprobe < 1
            or self.ivf_storage not in IVF_STORAGE
            or self.precision not in PRECISIONS
        ):
            raise ValueError(f"invalid search settings: {self}")

    def _index(self, base: np.ndarray) -> faiss.Index:
        dim = base.shape[1]
        if self.ivf_lists == 0:
            index = faiss.IndexFlatIP(dim)
        else:
            if len(base) < self.ivf_lists:
                raise ValueError(f"{len(base)} vectors cannot train {self.ivf_lists} IVF lists")
            quantizer = faiss.IndexFlatIP(dim)
            storage = IVF_STORAGE[self.ivf_storage]
            if storage is None:
                index = faiss.IndexIVFFlat(
                    quantizer, dim, self.ivf_lists, faiss.METRIC_INNER_PRODUCT
                )
            else:
                index = faiss.IndexIVFScalarQuantizer(
                    quantizer, dim, self.ivf_lists, storage, faiss.METRIC_INNER_PRODUCT
                )
            # 64 points per list train k-means well; more only costs time
            sample = np.random.default_rng(0).permutation(len(base))[: 64 * self.ivf_lists]
            index.train(_f32(base[np.sort(sample)]))
            index.nprobe = self.nprobe
        for start in range(0, len(base), self.block_size):
            index.add(_f32(base[start : start + self.block_size]))
        return index

    def search(self, queries: np.ndarray, base: np.ndarray, k: int) -> Neighbours:
        """Each query's k best base rows as (scores, indices), n x k each.

        Best first; equal scores in index order.
        """
        queries = _as_matrix(queries, "queries")
        base = _as_matrix(base, "base")
        _check(queries, base, k)
        index = self._index(base)
        scores = np.empty((len(queries), k), dtype=np.float32)
        indices = np.empty((len(queries), k), dtype=np.int64)
        for start in range(0, len(queries), self.block_size):
            stop = start + self.block_size
            scores[start:stop], indices[start:stop] = index.search(_f32(queries[start:stop]), k)
        if (indices < 0).any():
            raise ValueError(f"approximate search found fewer than k={k} neighbours; raise nprobe")
        order = np.lexsort((indices, -scores))
        return np.take_along_axis(scores, order, 1), np.take_along_axis(indices, order, 1)

    def search_both(
        self, src: np.ndarray, trg: np.ndarray, k: int
    ) -> tuple[Neighbours, Neighbours]:
        """Each source's k best targets and each target's k best sources (k capped at the
        other side's size), as (scores, indices) pairs, best first, ties by lower index.

        Scores are ``exact_scores``. Exact search computes each score tile once for both
        directions; IVF searches one direction at a time (one index in memory) and
        rescores what it finds.
        """
        src, trg = _as_matrix(src, "source vectors"), _as_matrix(trg, "target vectors")
        _check(src, trg, 1)
        k_fwd, k_bwd = min(k, len(trg)), min(k, len(src))
        if self.ivf_lists:
            return self._rescored(src, trg, k_fwd), self._rescored(trg, src, k_bwd)
        return self._exact_both(src, trg, k_fwd, k_bwd)

    def _rescored(self, queries: np.ndarray, base: np.ndarray, k: int) -> Neighbours:
        proposed = min(k + _SLACK["float32"], len(base))
        _, indices = self.search(queries, base, proposed)
        rows = np.repeat(np.arange(len(queries)), proposed)
        cols = indices.ravel()
        exact = exact_scores(queries, base, rows, cols)
        return _best_per_group(rows, len(queries), exact, cols, k)

    def _exact_both(
        self, src: np.ndarray, trg: np.ndarray, k_fwd: int, k_bwd: int
    ) -> tuple[Neighbours, Neighbours]:
        """One pass over the score tiles: row-wise proposals for src -> trg, column-wise
        for trg -> src, then exact rescoring, certified by the tiles' error bound."""
        n, m, size = len(src), len(trg), self.block_size
        tiles = _Tiles(self.precision, src, trg, size)
        mask = np.empty(len(tiles.buffer), dtype=bool)
        slack = _SLACK[self.precision]
        fwd = _Proposals(n, min(k_fwd + slack, m), mask)
        bwd = _Proposals(m, min(k_bwd + slack, n), mask)
        for i0 in range(0, n, size):
            for j0 in range(0, m, size):
                tile = tiles.score(i0, min(i0 + size, n), j0, min(j0 + size, m))
                fwd.offer(tile, i0, j0)
                bwd.offer(tile, j0, i0, by_column=True)
        return (
            _settle(fwd, src, trg, k_fwd, tiles.bound(fwd.scores.min(axis=1), tiles.fwd_abs), size),
            _settle(bwd, trg, src, k_bwd, tiles.bound(bwd.scores.min(axis=1), tiles.bwd_abs), size),
        )


def _check(queries: np.ndarray, base: np.ndarray, k: int) -> None:
    if queries.shape[1] != base.shape[1]:
        raise ValueError(f"queries have dimension {queries.shape[1]}, base {base.shape[1]}")
    if not 1 <= k <= len(base):
        raise ValueError(f"k={k} neighbours asked of {len(base)} base vectors")


def _settle(
    proposals: _Proposals,
    queries: np.ndarray,
    base: np.ndarray,
    k: int,
    ceiling: np.ndarray,
    block_size: int,
) -> Neighbours:
    """The exact k best of each row's proposals; a row is settled when ``ceiling`` (a bound
    on every unproposed score) is below its k-th, else searched again exactly."""
    n, proposed = proposals.indices.shape
    rows = np.repeat(np.arange(n), proposed)
    cols = proposals.indices.ravel()
    scores, indices = _best_per_group(rows, n, exact_scores(queries, base, rows, cols), cols, k)
    if proposed == len(base):  # everything was proposed
        return scores, indices
    # a float32 rounding of a score below the ceiling is at most an ulp above it
    unsure = np.flatnonzero(ceiling + np.abs(ceiling) * 2 * _U32 + 1e-12 >= scores[:, -1])
    if len(unsure):
        scores[unsure], indices[unsure] = _search_rows(queries, unsure, base, k, block_size)
    return scores, indices


def _search_rows(
    queries: np.ndarray, rows: np.ndarray, base: np.ndarray, k: int, block_size: int
) -> Neighbours:
    """Exact k best for a few rows: a float32 pass over all of ``base``, then every column
    within that pass's error of the k-th is rescored, so ties and near-ties come out exact."""
    dim = base.shape[1]
    gamma = dim * _U32 / (1 - dim * _U32)
    base_norm = _norms(base).max()
    per_group = max(1, (block_size * block_size) // len(base))
    scores = np.empty((len(rows), k), dtype=np.float32)
    indices = np.empty((len(rows), k), dtype=np.int64)
    full = np.empty((min(per_group, len(rows)), len(base)), dtype=np.float32)
    for g0 in range(0, len(rows), per_group):
        group = rows[g0 : g0 + per_group]
        q = _f32(queries[group])
        fast = full[: len(group)]
        for j0 in range(0, len(base), block_size):
            np.matmul(q, _f32(base[j0 : j0 + block_size]).T, out=fast[:, j0 : j0 + block_size])
        kth = np.partition(fast, len(base) - k, axis=1)[:, len(base) - k].astype(np.float64)
        err = gamma * _norms(q) * base_norm
        floor = kth - 2 * err - 1e-6 * (1 + np.abs(kth))
        r, c = np.nonzero(fast >= floor[:, None])
        exact = exact_scores(queries, base, group[r], c)
        scores[g0 : g0 + len(group)], indices[g0 : g0 + len(group)] = _best_per_group(
            r, len(group), exact, c, k
        )
    return scores, indices


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
    forward, backward = (search or KnnSearch()).search_both(src_vectors, trg_vectors, k)
    return margin_candidates(forward, backward, src_ids, trg_ids)


def margin_candidates(
    forward: Neighbours,
    backward: Neighbours,
    src_ids: Mapping[str, int],
    trg_ids: Mapping[str, int],
) -> list[Candidate]:
    """BUCC steps 3-4 from ``KnnSearch.search_both``'s neighbours (see ``mine_candidates``)."""
    (fwd_sim, fwd_idx), (bwd_sim, bwd_idx) = forward, backward
    src_by_row = _ids_by_row(src_ids, len(fwd_sim), "source")
    trg_by_row = _ids_by_row(trg_ids, len(bwd_sim), "target")
    fwd_mean = fwd_sim.mean(axis=1, dtype=np.float64)
    bwd_mean = bwd_sim.mean(axis=1, dtype=np.float64)
    fwd_margin = fwd_sim / ((fwd_mean[:, None] + bwd_mean[fwd_idx]) / 2)
    bwd_margin = bwd_sim / ((bwd_mean[:, None] + fwd_mean[bwd_idx]) / 2)
    src_rows, trg_rows = np.arange(len(fwd_sim)), np.arange(len(bwd_sim))
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
    # F1 is 2 * correct / (accepted + gold): compared exactly, since two equal F1s can
    # round apart in floating point and then a lower cut would beat an equally good one
    best_f1 = Fraction(0)
    correct = 0
    for i, candidate in enumerate(ranked):
        correct += (candidate.src_id, candidate.trg_id) in gold_set
        last = i + 1 == len(ranked)
        if not last and ranked[i + 1].score == candidate.score:
            continue
        f1_exact = Fraction(2 * correct, i + 1 + len(gold_set))
        if f1_exact > best_f1:
            best_f1 = f1_exact
            precision, recall, f1 = _prf(correct, i + 1, len(gold_set))
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
