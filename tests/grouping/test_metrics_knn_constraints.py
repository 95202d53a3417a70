"""Metrics on hand-computed examples, kNN exact vs approximate, constraint helpers."""

import numpy as np
import pytest

from grouping.constraints import ConstraintConflict, Constraints
from grouping.knn import knn
from grouping.metrics import bcubed, edge_prf, label_accuracy, operations


def test_edge_prf_hand_computed():
    truth = [0, 0, 0, 1, 1]
    pred = [5, 5, 7, 7, 7]
    # pred pairs: (0,1) + 3 in {2,3,4} = 4; true pairs: 3 + 1 = 4; tp: (0,1) + (3,4) = 2
    r = edge_prf(truth, pred)
    assert r["precision"] == pytest.approx(0.5) and r["recall"] == pytest.approx(0.5)
    assert r["f1"] == pytest.approx(0.5)


def test_edge_prf_noise_is_singleton_and_unknown_truth_excluded():
    r = edge_prf([0, 0, 1, -1], [-1, -1, 3, 3])
    assert r["precision"] == 1.0 and r["recall"] == 0.0


def test_bcubed_hand_computed():
    b = bcubed([0, 0, 0, 1, 1], [5, 5, 7, 7, 7])
    # precision per line: 1, 1, 1/3, 2/3, 2/3 -> 11/15; recall: 2/3, 2/3, 1/3, 1, 1 -> 11/15
    assert b["precision"] == pytest.approx(11 / 15) and b["recall"] == pytest.approx(11 / 15)


def test_operations_hand_computed():
    truth = [0, 0, 0, 0, 1, 1, 2]
    pred = [0, 0, 1, 1, 1, -1, 2]
    # group0 -> spk0 ok; group1 {0,0,1} -> spk0, 1 move; line 5 is -1 -> 1 move;
    # spk0 heads groups 0 and 1 -> 1 merge
    ops = operations(truth, pred)
    assert ops == {"moves": 2, "merges": 1, "total": 3, "per_100_lines": pytest.approx(300 / 7)}
    assert operations(truth, truth)["total"] == 0


def test_label_accuracy_with_abstention():
    r = label_accuracy([0, 1, 2, 2, -1], [0, 2, -1, 2, 5])
    assert r["accuracy"] == pytest.approx(2 / 3)
    assert r["coverage"] == pytest.approx(3 / 4)
    assert r["accuracy_full"] == pytest.approx(2 / 4)


def test_metrics_scale_linearly():
    rng = np.random.default_rng(0)
    t = rng.integers(0, 500, 100_000)
    p = np.where(rng.random(t.size) < 0.9, t, rng.integers(0, 500, t.size))
    assert edge_prf(t, p)["f1"] > 0.5 and operations(t, p)["total"] > 0


def test_knn_excludes_self_and_matches_exact():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((3000, 32)).astype(np.float32)
    idx_e, sim_e = knn(X, 10, exact=True)
    idx_a, sim_a = knn(X, 10, exact=False)
    assert idx_e.shape == (3000, 10) and idx_e.dtype == np.int64 and sim_e.dtype == np.float32
    assert not (idx_e == np.arange(3000)[:, None]).any()
    assert not (idx_a == np.arange(3000)[:, None]).any()
    assert np.all(np.diff(sim_e, axis=1) <= 1e-6)
    recall = np.mean([len(set(a) & set(e)) / 10 for a, e in zip(idx_a, idx_e, strict=True)])
    assert recall > 0.9


def test_knn_small_input_pads():
    idx, sim = knn(np.eye(3), 5)
    assert (idx[:, 2:] == -1).all() and np.isneginf(sim[:, 2:]).all()


def test_from_intervals_only_real_overlaps_within_episode():
    starts = [0.0, 1.0, 1.9, 0.5, 10.0]
    ends = [2.0, 1.5, 3.0, 2.5, 11.0]
    ep = [0, 0, 0, 1, 0]
    c = Constraints.from_intervals(starts, ends, ep)
    # 0-1 overlap 0.5 s; 0-2 only 0.1 s; 1-2 none; line 3 is another episode
    assert c.cannot_link.tolist() == [[0, 1]]


def test_violates_and_conflict():
    c = Constraints(must_link=[[0, 1]], cannot_link=[[1, 2]])
    assert c.violates([0, 0, 1])["total"] == 0
    assert c.violates([0, 1, 1]) == {"must_link": 1, "cannot_link": 1, "total": 2}
    assert c.violates([-1, -1, 1])["must_link"] == 1
    with pytest.raises(ConstraintConflict):
        Constraints(must_link=[[0, 1], [1, 2]], cannot_link=[[0, 2]]).check(3)
    assert c.components(4).tolist()[:2] == [0, 0]
