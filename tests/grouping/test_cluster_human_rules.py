"""How ReliableFirstClustering resolves human constraints without damaging big groups."""

from __future__ import annotations

import numpy as np

from grouping.cluster import ReliableFirstClustering
from grouping.constraints import Constraints


def _voices(sizes, dim=32, noise=0.25, seed=0):
    rng = np.random.default_rng(seed)
    c = rng.normal(size=(len(sizes), dim))
    c /= np.linalg.norm(c, axis=1, keepdims=True)
    truth = np.repeat(np.arange(len(sizes)), sizes)
    X = c[truth] + noise * rng.normal(size=(truth.size, dim)) / np.sqrt(dim)
    return X, truth


def test_cannot_link_ejects_a_stray_line_instead_of_halving_the_group():
    X, truth = _voices([40, 10])
    # a blurred line between the two voices, nearer speaker 0
    X[0] = 0.6 * X[1:40].mean(0) + 0.4 * X[40:].mean(0)
    model = ReliableFirstClustering(attach_threshold=0.3)
    base = model.fit_predict(X)
    big = base[1]
    assert base[0] == big  # the blurred line clustered with speaker 0
    # a person (or the timing rule) says line 0 and line 1 differ
    lab = model.fit_predict(X, constraints=Constraints(cannot_link=[(0, 1)]))
    assert lab[0] != lab[1]
    assert np.sum(lab[1:40] == lab[1]) == 39  # speaker 0 stays whole


def test_must_link_moves_the_line_when_the_groups_differ():
    X, truth = _voices([30, 30])
    cons = Constraints(must_link=[(0, 35)])  # a person named line 35 like line 0 (wrongly)
    merged = ReliableFirstClustering(must_merge_threshold=-1.0).fit_predict(X, constraints=cons)
    assert len(set(merged[:60])) == 1  # -1: whole groups always merge
    moved = ReliableFirstClustering(must_merge_threshold=0.5).fit_predict(X, constraints=cons)
    assert moved[0] == moved[35]
    # one of the two lines moved; every other line kept its voice's group
    rest_a, rest_b = set(moved[1:30]), set(moved[30:35]) | set(moved[36:60])
    assert len(rest_a) == 1 and len(rest_b) == 1 and rest_a != rest_b


def test_a_named_stray_joins_its_voice_not_the_bigger_group_it_sat_in():
    """Review answers name a voice's strays one by one: the stray sits in another voice's
    bigger group, the voice's own named line is typical of its group. The stray moves to its
    voice; the named line must not move into the other voice's group (its own group would
    lose its name)."""
    X, truth = _voices([60, 30], noise=0.3, seed=3)
    stray = 10  # a line of voice 1 said inside voice 0's group
    X[stray] = 0.4 * X[60:].mean(0) + 0.6 * X[11:60].mean(0)
    model = ReliableFirstClustering(must_merge_threshold=0.5, attach_threshold=0.2)
    base = model.fit_predict(X)
    assert base[stray] == base[0] and base[70] != base[0]
    lab = model.fit_predict(X, constraints=Constraints(must_link=[(70, stray)]))
    assert lab[stray] == lab[70] == lab[61]  # the stray joined voice 1's group
    assert len(set(lab[np.r_[0:10, 11:60]])) == 1 and lab[0] != lab[70]


def test_a_cannot_link_keeps_the_unit_holding_the_groups_typical_line():
    """The group's most typical line (the sample a group question shows, so the line that
    names the group) tied by a hand name to an atypical line of its voice, and a timing
    cannot-link between it and a neighbour of its voice: the neighbour leaves, not the
    group's named line (which carried the group's name away, -22 points in one answer)."""
    X, truth = _voices([40, 40], noise=0.3, seed=4)
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    typical = int(np.argmax(Xn[:40] @ Xn[:40].mean(0)))
    partner = (typical + 1) % 40
    X[45] = 0.5 * X[:40].mean(0) + 0.5 * X[41:80].mean(0)  # atypical line of voice 0
    model = ReliableFirstClustering(must_merge_threshold=0.5)
    cons = Constraints(must_link=[(typical, 45)], cannot_link=[(typical, partner)])
    lab = model.fit_predict(X, constraints=cons)
    assert lab[typical] == lab[45] != lab[partner]
    others = np.setdiff1d(np.arange(40), [typical, partner])
    assert np.all(lab[others] == lab[typical])  # the named line stayed with its voice


def test_must_link_merges_a_split_character():
    X, truth = _voices([30, 30])
    X[15:30] = X[15:30] * 0.6 + X[0] * 0.4  # speaker 0 in two sub-groups, still one voice
    model = ReliableFirstClustering(core_threshold=0.95, must_merge_threshold=0.5)
    split = model.fit_predict(X)
    cons = Constraints(must_link=[(0, 20)])
    lab = model.fit_predict(X, constraints=cons)
    assert lab[0] == lab[20]
    assert len(set(split[:30])) >= len(set(lab[:30]))


def test_a_moved_line_leaves_its_old_group_whole():
    """`castlist move` ties the line to its new group (must-links) and keeps it from every
    line of the group it left (one cannot-link each): the old group must stay one group."""
    X, truth = _voices([10, 5], noise=0.9, seed=1)
    assert len(set(ReliableFirstClustering().fit_predict(X)[1:10])) == 1
    cons = Constraints(
        must_link=[(0, j) for j in range(10, 15)], cannot_link=[(0, j) for j in range(1, 10)]
    )
    lab = ReliableFirstClustering().fit_predict(X, constraints=cons)
    assert len(set(lab[1:10])) == 1  # the 9 lines it left stay together (were cut in 4)
    assert lab[0] == lab[10] and lab[0] != lab[1]
