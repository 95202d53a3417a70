"""Must-link / cannot-link constraints between lines.

Human decisions (this line is X, these two are different people) and physics (two lines that
overlap in time are two voices) become pairwise constraints that every clustering run honours.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Constraints", "UnionFind", "ConstraintConflict"]


class ConstraintConflict(ValueError):
    """A cannot-link pair lies inside one must-link component."""


class UnionFind:
    """Disjoint sets over 0..n-1 with path halving and union by size."""

    def __init__(self, n: int):
        self.parent = np.arange(n, dtype=np.int64)
        self.size = np.ones(n, dtype=np.int64)

    def find(self, a: int) -> int:
        parent = self.parent
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return int(a)

    def union(self, a: int, b: int) -> int:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return ra
        if self.size[ra] < self.size[rb]:
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.size[ra] += self.size[rb]
        return ra

    def labels(self) -> np.ndarray:
        """Component id per element, 0..c-1 in order of first appearance."""
        roots = np.array([self.find(i) for i in range(len(self.parent))], dtype=np.int64)
        _, first, inv = np.unique(roots, return_index=True, return_inverse=True)
        order = np.argsort(np.argsort(first))
        return order[inv]


def _pairs(p) -> np.ndarray:
    a = np.asarray(p, dtype=np.int64).reshape(-1, 2) if len(p) else np.empty((0, 2), np.int64)
    a = np.sort(a, axis=1)
    a = a[a[:, 0] != a[:, 1]]
    return np.unique(a, axis=0) if len(a) else a


@dataclass
class Constraints:
    """Pairs of line indices: ``must_link`` (same speaker), ``cannot_link`` (different)."""

    must_link: np.ndarray = field(default_factory=lambda: np.empty((0, 2), np.int64))
    cannot_link: np.ndarray = field(default_factory=lambda: np.empty((0, 2), np.int64))

    def __post_init__(self):
        self.must_link = _pairs(self.must_link)
        self.cannot_link = _pairs(self.cannot_link)

    @classmethod
    def from_intervals(cls, starts, ends, episode=None, min_overlap: float = 0.3) -> Constraints:
        """Cannot-link every pair of lines of one episode that overlap by more than
        ``min_overlap`` seconds: one voice cannot say two lines at once. Sort-and-sweep, so the
        cost follows the number of overlaps, not n^2."""
        s = np.asarray(starts, dtype=np.float64)
        e = np.asarray(ends, dtype=np.float64)
        ep = np.zeros(s.size, np.int64) if episode is None else np.asarray(episode)
        order = np.lexsort((s, ep))
        pairs = []
        for pos, i in enumerate(order):
            for j in order[pos + 1 :]:
                if ep[j] != ep[i] or s[j] >= e[i] - min_overlap:
                    break
                if min(e[i], e[j]) - s[j] > min_overlap:
                    pairs.append((i, j))
        return cls(cannot_link=np.array(pairs, dtype=np.int64).reshape(-1, 2))

    def merged(self, other: Constraints) -> Constraints:
        return Constraints(
            np.concatenate([self.must_link, other.must_link]),
            np.concatenate([self.cannot_link, other.cannot_link]),
        )

    def components(self, n: int) -> np.ndarray:
        """Must-link component id per line (lines without must-links are their own)."""
        uf = UnionFind(n)
        for a, b in self.must_link:
            uf.union(int(a), int(b))
        return uf.labels()

    def check(self, n: int) -> None:
        """Raise ConstraintConflict when the must-links force a cannot-link pair together."""
        if len(self.cannot_link) == 0 or len(self.must_link) == 0:
            return
        comp = self.components(n)
        bad = comp[self.cannot_link[:, 0]] == comp[self.cannot_link[:, 1]]
        if bad.any():
            a, b = self.cannot_link[bad][0]
            raise ConstraintConflict(f"lines {a} and {b} are both must-linked and cannot-linked")

    def violates(self, labels) -> dict[str, int]:
        """Counts of broken constraints for a labelling (-1 = in no group, so it breaks every
        must-link it is in and no cannot-link)."""
        lab = np.asarray(labels)
        ml = self.must_link
        cl = self.cannot_link
        must = (
            int(np.sum((lab[ml[:, 0]] != lab[ml[:, 1]]) | (lab[ml[:, 0]] == -1))) if len(ml) else 0
        )
        cannot = (
            int(np.sum((lab[cl[:, 0]] == lab[cl[:, 1]]) & (lab[cl[:, 0]] != -1))) if len(cl) else 0
        )
        return {"must_link": must, "cannot_link": cannot, "total": must + cannot}

    def __len__(self) -> int:
        return len(self.must_link) + len(self.cannot_link)
