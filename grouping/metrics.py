"""Clustering and labelling quality: edge P/R/F1, B-cubed, annotator operations, label accuracy.

All metrics go through one sparse contingency table (true speaker x predicted group), so they
are linear in the number of lines and fine for 100k lines. Lines whose truth is -1 (unknown,
ambient) are left out everywhere; a prediction of -1 means "no group" (a singleton for the
pairwise and B-cubed scores, a line that needs a move for ``operations``).
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

__all__ = ["edge_prf", "bcubed", "operations", "label_accuracy", "contingency"]


def _prepare(truth, pred) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(truth).ravel()
    p = np.asarray(pred).ravel()
    if t.shape != p.shape:
        raise ValueError(f"truth and pred differ in length: {t.size} vs {p.size}")
    keep = t != -1
    return t[keep], p[keep]


def _singletons(p: np.ndarray) -> np.ndarray:
    """Give each -1 its own label beyond the existing ones."""
    p = p.astype(np.int64, copy=True)
    noise = p == -1
    if noise.any():
        base = p.max(initial=-1) + 1
        p[noise] = base + np.arange(noise.sum())
    return p


def contingency(truth, pred) -> sparse.csr_matrix:
    """Counts n_ij of lines with true speaker i in predicted group j (-1 lines dropped from truth
    only; callers decide what a predicted -1 means)."""
    t, p = _prepare(truth, pred)
    _, ti = np.unique(t, return_inverse=True)
    _, pj = np.unique(p, return_inverse=True)
    data = np.ones(t.size, dtype=np.int64)
    return sparse.coo_matrix(
        (data, (ti, pj)), shape=(ti.max(initial=-1) + 1, pj.max(initial=-1) + 1)
    ).tocsr()


def _pairs(n: np.ndarray) -> float:
    n = np.asarray(n, dtype=np.float64)
    return float(np.sum(n * (n - 1) / 2))


def _f1(p: float, r: float) -> float:
    return 0.0 if p + r == 0 else 2 * p * r / (p + r)


def edge_prf(truth, pred) -> dict[str, float]:
    """Pairwise precision/recall/F1 over all pairs of (known-truth) lines.

    A score with no pairs to judge is 1.0 (nothing was claimed / nothing was missed)."""
    t, p = _prepare(truth, pred)
    C = contingency(t, _singletons(p))
    tp = _pairs(C.data)
    pred_pairs = _pairs(np.asarray(C.sum(axis=0)).ravel())
    true_pairs = _pairs(np.asarray(C.sum(axis=1)).ravel())
    precision = tp / pred_pairs if pred_pairs else 1.0
    recall = tp / true_pairs if true_pairs else 1.0
    return {"precision": precision, "recall": recall, "f1": _f1(precision, recall)}


def bcubed(truth, pred) -> dict[str, float]:
    """B-cubed precision/recall/F1 (per-line averages, so big groups do not dominate as in
    pairwise scores)."""
    t, p = _prepare(truth, pred)
    if t.size == 0:
        return {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    C = contingency(t, _singletons(p)).tocoo()
    row = np.asarray(C.sum(axis=1)).ravel()[C.row]
    col = np.asarray(C.sum(axis=0)).ravel()[C.col]
    n = C.data.astype(np.float64)
    precision = float(np.sum(n * n / col) / t.size)
    recall = float(np.sum(n * n / row) / t.size)
    return {"precision": precision, "recall": recall, "f1": _f1(precision, recall)}


def operations(truth, pred) -> dict[str, float]:
    """Annotator operations to turn ``pred`` into ``truth``.

    Each predicted group takes its majority true speaker; every line that disagrees, and every
    line predicted -1, needs one move; a true speaker whose lines head m groups needs m - 1
    merges. Ties for the majority go to the lowest speaker index (deterministic)."""
    t, p = _prepare(truth, pred)
    n = t.size
    unassigned = int(np.sum(p == -1))
    grouped = p != -1
    moves = unassigned
    merges = 0
    if grouped.any():
        C = contingency(t[grouped], p[grouped]).tocsc()
        sizes = np.asarray(C.sum(axis=0)).ravel()
        majority = np.asarray(C.max(axis=0).todense()).ravel()
        moves += int(np.sum(sizes - majority))
        owner = np.asarray(C.argmax(axis=0)).ravel()
        heads = np.bincount(owner, minlength=C.shape[0])
        merges = int(np.sum(np.maximum(heads - 1, 0)))
    total = moves + merges
    return {
        "moves": moves,
        "merges": merges,
        "total": total,
        "per_100_lines": 100.0 * total / n if n else 0.0,
    }


def label_accuracy(truth, pred) -> dict[str, float]:
    """Accuracy of names with abstention: on covered lines, coverage, and at full coverage
    (abstaining counted wrong)."""
    t, p = _prepare(truth, pred)
    if t.size == 0:
        return {"accuracy": 1.0, "coverage": 0.0, "accuracy_full": 1.0}
    covered = p != -1
    correct = p == t
    return {
        "accuracy": float(correct[covered].mean()) if covered.any() else 1.0,
        "coverage": float(covered.mean()),
        "accuracy_full": float(correct.mean()),
    }
