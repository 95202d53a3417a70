"""Cosine k-nearest-neighbour graph of line vectors via FAISS inner product.

Small inputs use an exact flat index; above ``exact_max`` rows an HNSW index keeps the cost
near n log n, so 100k lines never build an n x n matrix. Where faiss sees a GPU (a faiss-gpu
build on a CUDA machine) the exact index is searched there; faiss has no GPU HNSW, so the
approximate index stays on the CPU.
"""

from __future__ import annotations

import logging

import faiss
import numpy as np

from .vectors import normalize_rows

__all__ = ["knn", "knn_search", "use_gpu", "EXACT_MAX"]

log = logging.getLogger(__name__)

EXACT_MAX = 20_000
GPU_MAX_K = 2048
"""faiss-gpu's largest k for a flat search; a larger k searches on the CPU."""


def faiss_gpus() -> int:
    """GPUs faiss can use: 0 with faiss-cpu (which has ``get_num_gpus`` too), the count with
    faiss-gpu on a CUDA machine."""
    get = getattr(faiss, "get_num_gpus", None)
    return int(get()) if get is not None else 0


def use_gpu(exact: bool, gpu: bool | None = None, n_gpus: int | None = None) -> bool:
    """Whether the index is searched on a GPU: ``gpu`` None means where faiss sees one, for
    the exact index only (no GPU HNSW in faiss); True where there is none is an error."""
    if gpu is False:
        return False
    available = faiss_gpus() if n_gpus is None else n_gpus
    if gpu and available == 0:
        raise ValueError("gpu=True but faiss sees no GPU (faiss-cpu, or no CUDA device)")
    if gpu and not exact:
        raise ValueError("faiss has no GPU HNSW index: use exact=True with gpu=True")
    return exact and available > 0


_GPU_RESOURCES: list = []  # one StandardGpuResources per process: it holds scratch GPU memory


def _on_gpu(index: faiss.Index) -> faiss.Index:
    if not _GPU_RESOURCES:
        _GPU_RESOURCES.append(faiss.StandardGpuResources())
    return faiss.index_cpu_to_gpu(_GPU_RESOURCES[0], 0, index)


def _index(
    base: np.ndarray, exact: bool, hnsw_m: int, ef_construction: int, gpu: bool = False
) -> faiss.Index:
    d = base.shape[1]
    if exact:
        index = faiss.IndexFlatIP(d)
        if gpu:
            index = _on_gpu(index)
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
    gpu: bool | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k rows of ``base`` for each row of ``query`` by cosine; missing slots are -1 / -inf.
    ``gpu``: see :func:`use_gpu` (None: the exact index on a GPU where faiss sees one).

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
    on_gpu = use_gpu(exact, gpu) and k <= GPU_MAX_K
    index = _index(B, exact, hnsw_m, ef_construction, gpu=on_gpu)
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
