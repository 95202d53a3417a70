"""TurnSmoother: neighbours in time lend a line their names; hand labels and lines with no
name evidence are left as they are."""

from __future__ import annotations

import numpy as np
import pytest

from grouping.turns import TurnSmoother


def times(n: int, gap: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    starts = np.arange(n) * (1.0 + gap)
    return starts, starts + 1.0


def test_an_unsure_line_leans_to_its_neighbours_name():
    P = np.array([[1.0, 0.0], [0.9, 0.05], [0.3, 0.35], [0.85, 0.1]])
    starts, ends = times(4)
    Q = TurnSmoother().transform(P, starts, ends)
    assert P[2].argmax() == 1 and Q[2].argmax() == 0
    np.testing.assert_array_equal(Q[0], P[0])  # a hand label stays one-hot


def test_no_evidence_stays_unnamed_and_weight_zero_is_the_voice_alone():
    P = np.array([[1.0, 0.0], [0.0, 0.0], [0.6, 0.2]])
    starts, ends = times(3)
    Q = TurnSmoother().transform(P, starts, ends)
    np.testing.assert_array_equal(Q[1], 0.0)
    np.testing.assert_allclose(TurnSmoother(weight=0.0).transform(P, starts, ends), P)


def test_far_apart_lines_and_other_episodes_lend_nothing():
    P = np.array([[1.0, 0.0], [0.45, 0.5]])
    far = TurnSmoother().transform(P, np.array([0.0, 100.0]), np.array([1.0, 101.0]))
    assert far[1].argmax() == 1
    other_episode = TurnSmoother().transform(P, *times(2), sequence=["ep01", "ep02"])
    assert other_episode[1].argmax() == 1
    same_episode = TurnSmoother().transform(P, *times(2), sequence=["ep01", "ep01"])
    assert same_episode[1].argmax() == 0


def test_row_order_does_not_matter():
    rng = np.random.default_rng(0)
    P = rng.dirichlet(np.ones(4), size=12)[:, :3]
    starts, ends = times(12)
    perm = rng.permutation(12)
    Q = TurnSmoother().transform(P, starts, ends)
    Qp = TurnSmoother().transform(P[perm], starts[perm], ends[perm])
    np.testing.assert_allclose(Qp, Q[perm], atol=1e-12)


def test_mismatched_times_are_rejected():
    with pytest.raises(ValueError, match="starts"):
        TurnSmoother().transform(np.ones((3, 2)) / 2, np.zeros(2), np.ones(3))
