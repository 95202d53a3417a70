"""Baselines that castlist's grouping must beat, with the same ``fit`` / ``labels_`` API.

``SpeakerGroupingBaseline`` follows the community method (Speaker-Grouping): lines longer
than a duration threshold are clustered by agglomerative clustering on voice vectors, every
other line takes the group of its nearest clustered neighbour, and names spread from hand
labels by kNN vote. ``HDBSCANBaseline`` is plain HDBSCAN on all lines.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin

from grouping.cluster import cluster_core, relabel
from grouping.knn import knn_search
from grouping.vectors import normalize_rows

__all__ = ["SpeakerGroupingBaseline", "HDBSCANBaseline", "knn_label_vote"]


def knn_label_vote(X, y, k: int = 5) -> np.ndarray:
    """Every line gets the majority label of its k nearest hand-labelled lines (no abstain)."""
    Xn = normalize_rows(X)
    y = np.asarray(y)
    lab = np.flatnonzero(y >= 0)
    out = y.copy()
    if lab.size == 0:
        return out
    idx, sim = knn_search(Xn, Xn[lab], min(k, lab.size))
    votes = y[lab][np.maximum(idx, 0)]
    classes = np.unique(y[lab])
    counts = np.stack([((votes == c) * np.maximum(sim, 0)).sum(1) for c in classes], 1)
    out[y < 0] = classes[counts.argmax(1)][y < 0]
    return out


class SpeakerGroupingBaseline(ClusterMixin, BaseEstimator):
    """Reliable = ``reliability >= reliability_threshold`` (pass a duration-based reliability,
    or durations with ``reliability_threshold`` in seconds); AHC (average linkage, cosine)
    on reliable lines cut at similarity ``threshold``; unreliable lines join their nearest
    reliable line's group unconditionally."""

    def __init__(self, *, threshold: float = 0.4, reliability_threshold: float = 0.5):
        self.threshold = threshold
        self.reliability_threshold = reliability_threshold

    def fit(self, X, reliability=None, constraints=None):
        Xn = normalize_rows(X)
        n = len(Xn)
        r = np.ones(n) if reliability is None else np.asarray(reliability, dtype=float)
        rel = np.flatnonzero(r >= self.reliability_threshold)
        labels = np.full(n, -1, np.int64)
        if rel.size:
            labels[rel], _ = cluster_core(Xn[rel], "ahc", self.threshold, 1, 15)
            rest = np.flatnonzero(labels == -1)
            if rest.size:
                idx, _ = knn_search(Xn[rest], Xn[rel], 1)
                labels[rest] = labels[rel][idx[:, 0]]
        self.labels_ = relabel(labels)
        return self

    def fit_predict(self, X, reliability=None, constraints=None):
        return self.fit(X, reliability, constraints).labels_


class HDBSCANBaseline(ClusterMixin, BaseEstimator):
    """HDBSCAN on cosine distance over all lines; noise stays -1."""

    def __init__(self, *, min_cluster_size: int = 2, min_samples: int | None = None):
        self.min_cluster_size = min_cluster_size
        self.min_samples = min_samples

    def fit(self, X, reliability=None, constraints=None):
        Xn = normalize_rows(X)
        labels, prob = cluster_core(Xn, "hdbscan", 0.0, self.min_cluster_size, 15, self.min_samples)
        self.labels_ = relabel(labels)
        self.probabilities_ = prob
        return self

    def fit_predict(self, X, reliability=None, constraints=None):
        return self.fit(X, reliability, constraints).labels_
