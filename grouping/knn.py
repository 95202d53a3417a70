"""Cosine k-nearest-neighbour graph of line vectors via FAISS inner product.

Small inputs use an exact flat index; above ``exact_max`` rows an HNSW index keeps the cost
near n log n, so 100k lines never build an n x n matrix.
"""

from __future__ import annotations

import logging

import faiss
import numpy as np

from .vectors import normalize_rows

__all__ = ["knn", "knn_search", "EXACT_MAX"]

log = logging.getLogger(__name__)

EXACT_MAX = 20_000


def _index(base: np.ndarray, exact: bool, hnsw_m: int, ef_construction: int) -> faiss.Index:
    d = base.shape[1]
    if exact:
        index = faiss.IndexFlatIP(d)
    else:
        index = faiss.IndexHNSWFlat(d, hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = ef_construction
    index.add(base)
    return index


def knn_search(
    query,
    base,
    k: int,
    exact: bool | None = None,
    exact_max: int = EXACT_MAX,
    hnsw_m: int = 32,
    ef_search: int = 128,
    ef_construction: int = 80,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k rows of ``base`` for each row of ``query`` by cosine; missing slots are -1 / -inf.

    Returns (idx (nq, k) int64, sim (nq, k) float32), best first."""
    Q = normalize_rows(query)
    B = normalize_rows(base)
    k = int(k)
    if k <= 0 or len(B) == 0 or len(Q) == 0:
        return np.full((len(Q), max(k, 0)), -1, np.int64), np.full(
            (len(Q), max(k, 0)), -np.inf, np.float32
        )
    if exact is None:
        exact = len(B) <= exact_max
    index = _index(B, exact, hnsw_m, ef_construction)
    if not exact:
        index.hnsw.efSearch = max(ef_search, k)
    sim, idx = index.search(Q, min(k, len(B)))
    if idx.shape[1] < k:
        pad = k - idx.shape[1]
        idx = np.pad(idx, ((0, 0), (0, pad)), constant_values=-1)
        sim = np.pad(sim, ((0, 0), (0, pad)), constant_values=-np.inf)
    sim = np.where(idx < 0, -np.inf, sim).astype(np.float32)
    return idx.astype(np.int64), sim


def knn(
    X, k: int, exact: bool | None = None, exact_max: int = EXACT_MAX, **hnsw
) -> tuple[np.ndarray, np.ndarray]:
    """kNN graph of the rows of ``X`` with each row's own entry removed.

    Returns (idx (n, k) int64, sim (n, k) float32) best first; where fewer than k other rows
    exist the tail is -1 / -inf. ``exact=None`` picks exact search up to ``exact_max`` rows."""
    X = normalize_rows(X)
    n = len(X)
    idx, sim = knn_search(X, X, k + 1, exact=exact, exact_max=exact_max, **hnsw)
    # Drop self wherever it appears (duplicates may push it off the first column); else the last.
    is_self = idx == np.arange(n)[:, None]
    drop = np.where(is_self.any(axis=1), is_self.argmax(axis=1), k)
    keep = np.ones_like(idx, dtype=bool)
    keep[np.arange(n), drop] = False
    idx = idx[keep].reshape(n, k)
    sim = sim[keep].reshape(n, k)
    log.debug("knn: n=%d k=%d exact=%s", n, k, exact)
    return idx, sim
