"""Where a must-link unit lands: the biggest group holding one of its lines.

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
