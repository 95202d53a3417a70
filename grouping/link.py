"""Cross-episode linking: per-episode groups become season characters.

Clustering one episode at a time keeps grouping cheap (~330 lines each) and lets each
episode's acoustics differ; the roster linker then joins groups whose centroids agree.
Greedy merging over a kNN graph of centroids, checked against the merged components' mean
vectors (not single edges), avoids single-linkage chaining and stays near-linear in groups.
"""

from __future__ import annotations

import logging

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin

from .knn import knn, normalize_rows

__all__ = ["RosterLinker"]

log = logging.getLogger(__name__)


class RosterLinker(ClusterMixin, BaseEstimator):
    """Link groups into characters.

    Parameters: ``threshold`` cosine between (size-weighted) component mean vectors needed to
    link; ``same_episode_threshold`` the much higher bar when the two components share an
    episode (one episode's clustering already said they differ); ``k`` candidate neighbours
    per group; ``min_size`` groups smaller than this are never linked (too noisy a centroid)
    unless fixed.

    ``fit(centroids, episode_of_group, size, fixed=None)``: ``fixed`` holds a known character
    id per group (-1 none). Groups with the same known id are always linked; two different
    known ids never are. ``must_link``/``cannot_link`` are pairs of group indices from human
    decisions (merged groups of two episodes; groups a person said differ): components
    holding a cannot-link pair are never joined. Sets ``roster_`` (g,) character ids: known ids are kept, new
    characters get ids above the largest known one.
    """

    def __init__(
        self,
        *,
        threshold: float = 0.6,
        same_episode_threshold: float = 0.85,
        k: int = 10,
        min_size: int = 1,
    ):
        self.threshold = threshold
        self.same_episode_threshold = same_episode_threshold
        self.k = k
        self.min_size = min_size

    def fit(self, centroids, episode_of_group, size=None, fixed=None, must_link=(), cannot_link=()):
        C = normalize_rows(centroids).astype(np.float64)
        g = len(C)
        ep = np.asarray(episode_of_group).ravel()
        w = np.ones(g) if size is None else np.asarray(size, dtype=np.float64).ravel()
        fx = np.full(g, -1, np.int64) if fixed is None else np.asarray(fixed, np.int64).ravel()
        if not (ep.size == w.size == fx.size == g):
            raise ValueError("centroids, episode_of_group, size and fixed differ in length")
        parent = np.arange(g)
        vec = C * w[:, None]  # component sum of size-weighted centroids
        eps = [{int(e)} for e in ep]
        known = [int(f) for f in fx]
        parts = [{i} for i in range(g)]
        banned: list[set[int]] = [set() for _ in range(g)]
        for a, b in cannot_link:
            banned[int(a)].add(int(b))
            banned[int(b)].add(int(a))

        def find(a: int) -> int:
            while parent[a] != a:
                parent[a] = parent[parent[a]]
                a = parent[a]
            return int(a)

        def join(a: int, b: int) -> None:
            parent[b] = a
            vec[a] += vec[b]
            eps[a] |= eps[b]
            known[a] = max(known[a], known[b])
            parts[a] |= parts[b]
            banned[a] |= banned[b]

        def allowed(a: int, b: int) -> bool:
            if known[a] >= 0 and known[b] >= 0 and known[a] != known[b]:
                return False
            return not (parts[b] & banned[a])

        # humans first: one known id is one character
        for f in np.unique(fx[fx >= 0]):
            members = np.flatnonzero(fx == f)
            for m in members[1:]:
                ra, rb = find(int(members[0])), find(int(m))
                if ra != rb:
                    join(ra, rb)
        for a, b in must_link:  # human merges across episodes
            ra, rb = find(int(a)), find(int(b))
            if ra != rb and allowed(ra, rb):
                join(ra, rb)

        if g > 1:
            idx, sim = knn(C, min(self.k, g - 1))
            rows = np.repeat(np.arange(g), idx.shape[1])
            cols = idx.ravel()
            s = sim.ravel()
            ok = cols >= 0
            rows, cols, s = rows[ok], cols[ok], s[ok]
            eligible = (w >= self.min_size) | (fx >= 0)
            keep = eligible[rows] & eligible[cols] & (s >= self.threshold)
            order = np.argsort(-s[keep], kind="stable")
            for a, b in zip(rows[keep][order], cols[keep][order], strict=True):
                ra, rb = find(int(a)), find(int(b))
                if ra == rb:
                    continue
                if not allowed(ra, rb):
                    continue
                va, vb = vec[ra], vec[rb]
                cos = va @ vb / (np.linalg.norm(va) * np.linalg.norm(vb) + 1e-12)
                bar = self.same_episode_threshold if eps[ra] & eps[rb] else self.threshold
                if cos >= bar:
                    join(ra, rb)

        roots = np.array([find(i) for i in range(g)])
        roster = np.full(g, -1, np.int64)
        next_id = int(fx.max(initial=-1)) + 1
        for root in np.unique(roots):
            members = roots == root
            if known[root] >= 0:
                roster[members] = known[root]
            else:
                roster[members] = next_id
                next_id += 1
        self.roster_ = roster
        self.n_characters_ = int(np.unique(roster).size)
        log.debug("RosterLinker: %d groups -> %d characters", g, self.n_characters_)
        return self

    def fit_predict(
        self, centroids, episode_of_group, size=None, fixed=None, must_link=(), cannot_link=()
    ):
        return self.fit(centroids, episode_of_group, size, fixed, must_link, cannot_link).roster_
