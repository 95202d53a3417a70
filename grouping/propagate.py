"""Name propagation: a few hand-labelled lines name the rest, or abstain.

Two kinds of evidence: the line's nearest hand-labelled neighbours (similarity-weighted vote
with an "unknown" mass, so a line far from every label gets low probabilities instead of a
confident guess), and its group (one hand label inside a group is strong evidence for the
whole group, since the group was built from reliable voices). Hand labels are never changed.
"""

from __future__ import annotations

import numpy as np

from .knn import knn_search, normalize_rows

__all__ = ["NamePropagator"]


class NamePropagator:
    """Parameters: ``k`` labelled neighbours consulted; ``abstain_below`` probability under
    which ``predict`` says -1; ``min_sim`` cosine under which a neighbour is no evidence;
    ``unknown_mass`` pseudo-weight of "none of these" in the kNN vote; ``group_weight`` share
    of the group vote when the group holds hand labels (scaled by how many).

    Fitted: ``classes_``, ``proba_`` (n, c) for the training lines, ``labelled_`` mask."""

    def __init__(
        self,
        k: int = 10,
        abstain_below: float = 0.5,
        min_sim: float = 0.3,
        unknown_mass: float = 0.5,
        group_weight: float = 0.9,
    ):
        self.k = k
        self.abstain_below = abstain_below
        self.min_sim = min_sim
        self.unknown_mass = unknown_mass
        self.group_weight = group_weight

    def fit(self, X, y, groups=None):
        Xn = normalize_rows(X)
        y = np.asarray(y, dtype=np.int64).ravel()
        n = len(Xn)
        if y.size != n:
            raise ValueError(f"y has {y.size} labels for {n} lines")
        lab = np.flatnonzero(y >= 0)
        self.classes_ = np.unique(y[lab])
        c = self.classes_.size
        self.labelled_ = y >= 0
        self._X_lab, self._y_lab = Xn[lab], np.searchsorted(self.classes_, y[lab])
        P = self._knn_proba(Xn)
        if groups is not None:
            grp = np.asarray(groups, dtype=np.int64).ravel()
            if grp.size != n:
                raise ValueError(f"groups has {grp.size} entries for {n} lines")
            P = self._with_groups(P, grp, y)
        if lab.size:
            P[lab] = 0.0
            P[lab, self._y_lab] = 1.0
        self.proba_ = P if c else np.zeros((n, 0))
        return self

    def _knn_proba(self, Xq: np.ndarray) -> np.ndarray:
        c = self.classes_.size
        P = np.zeros((len(Xq), c))
        if c == 0 or len(self._X_lab) == 0:
            return P
        idx, sim = knn_search(Xq, self._X_lab, min(self.k, len(self._X_lab)))
        w = np.where((idx >= 0) & (sim >= self.min_sim), sim - self.min_sim, 0.0)
        w = w / (1.0 - self.min_sim)
        cls = self._y_lab[np.maximum(idx, 0)]
        rows = np.repeat(np.arange(len(Xq)), idx.shape[1])
        np.add.at(P, (rows, cls.ravel()), w.ravel())
        return P / (P.sum(1, keepdims=True) + self.unknown_mass)

    def _with_groups(self, P: np.ndarray, grp: np.ndarray, y: np.ndarray) -> np.ndarray:
        c = self.classes_.size
        ok = (grp >= 0) & (y >= 0)
        if not ok.any() or c == 0:
            return P
        G = grp.max() + 1
        counts = np.zeros((G, c))
        np.add.at(counts, (grp[ok], np.searchsorted(self.classes_, y[ok])), 1.0)
        n_lab = counts.sum(1)
        group_p = counts / np.maximum(n_lab, 1)[:, None]
        lam = self.group_weight * n_lab / (n_lab + 0.25)  # 1 label: 0.8 * group_weight
        has = grp >= 0
        out = P.copy()
        lam_line = lam[grp[has]][:, None]
        out[has] = (1 - lam_line) * P[has] + lam_line * group_p[grp[has]]
        return out

    def predict_proba(self, X=None) -> np.ndarray:
        """(n, n_classes). Without ``X``: the training lines (with group evidence); with ``X``:
        new lines by kNN evidence only."""
        if X is None:
            return self.proba_
        return self._knn_proba(normalize_rows(X))

    def predict(self, X=None) -> np.ndarray:
        P = self.predict_proba(X)
        if P.shape[1] == 0:
            return np.full(len(P), -1, np.int64)
        best = P.argmax(1)
        out = self.classes_[best].astype(np.int64)
        out[P.max(1) < self.abstain_below] = -1
        return out
