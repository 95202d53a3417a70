"""Where a must-link unit lands: among the groups of three or more lines, the one where one of
its lines is most typical.

In a review the hand-named lines of a voice gather its strays one by one (lines it said that
sat in other voices' groups). When two strays sat in one small group, the unit used to go
there, leaving the voice's own 50-line group without its hand-named line and unnamed: one
right answer lost 16 points of right names."""

from __future__ import annotations

import numpy as np

from grouping.cluster import _merge_must_links
from grouping.constraints import Constraints


def test_a_unit_joins_the_big_group_of_its_voice_not_the_group_of_its_strays():
    rng = np.random.default_rng(0)
    a, b = np.eye(8)[0], np.eye(8)[1]
    X = np.vstack([a + 0.1 * rng.normal(size=(40, 8)), b + 0.1 * rng.normal(size=(6, 8))])
    labels = np.array([0] * 40 + [1] * 6)
    unit = [0, 41, 42]  # the anchor in voice A's group, two of A's strays in B's group
    comp = Constraints(must_link=[(0, 41), (41, 42)]).components(len(X))
    out = _merge_must_links(labels, comp, X, merge_above=0.5)
    assert (out[unit] == 0).all()  # the strays come home; the anchor stays
    assert (out[:40] == 0).all() and (out[[40, 43, 44, 45]] == 1).all()  # B is not merged in


def test_a_full_tie_keeps_the_first_group():
    X = np.vstack([np.tile(np.eye(4)[0], (5, 1)), np.tile(np.eye(4)[1], (5, 1))])
    labels = np.array([0] * 5 + [1] * 5)
    comp = Constraints(must_link=[(0, 7)]).components(len(X))
    out = _merge_must_links(labels, comp, X, merge_above=0.5)
    assert out[7] == 0 and (out[:5] == 0).all()


def test_a_tight_pair_does_not_outrank_a_group_of_its_voice():
    """A pair's cosine is one sample: a near-duplicate pair of strays (cosine ~0.9) used to
    beat the voice's 10-line group (typical line ~0.7) and take its only hand-named line."""
    rng = np.random.default_rng(1)
    a, b = np.eye(16)[0], np.eye(16)[1]
    voice = a + 0.6 * rng.normal(size=(10, 16)) / 4  # a loose 10-line group
    pair = np.vstack([a + b, a + b + 0.05 * rng.normal(size=16)])  # two tight strays
    X = np.vstack([voice, pair])
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    labels = np.array([0] * 10 + [1, 1])
    comp = Constraints(must_link=[(0, 10)]).components(len(X))  # named alike by hand
    out = _merge_must_links(labels, comp, X, merge_above=0.99)
    assert out[0] == 0 and out[10] == 0  # the stray joins the named line's group
    assert (out[:10] == 0).all() and out[11] == 1
