"""Estimators on synthetic anime-like episodes; thresholds measured with a margin."""

import numpy as np
import pytest

from benchmarks.baselines import HDBSCANBaseline, SpeakerGroupingBaseline
from benchmarks.synthetic import make_episode, make_season
from grouping.cluster import ReliableFirstClustering
from grouping.confidence import (
    LineConfidence,
    heuristic_reliability,
    line_features,
    reliability_targets,
)
from grouping.constraints import Constraints
from grouping.knn import knn
from grouping.link import RosterLinker
from grouping.metrics import edge_prf, label_accuracy, operations
from grouping.propagate import NamePropagator


@pytest.fixture(scope="module")
def episode():
    return make_episode(seed=3)


@pytest.mark.parametrize("method", ["ahc", "hdbscan"])
def test_reliable_first_finds_speakers(episode, method):
    e = episode
    cons = Constraints.from_intervals(e.start, e.end, e.episode)
    m = ReliableFirstClustering(method=method, min_samples=1).fit(
        e.X, heuristic_reliability(e.duration), cons
    )
    assert edge_prf(e.speaker, m.labels_)["f1"] > 0.95  # measured 0.99+
    assert operations(e.speaker, m.labels_)["per_100_lines"] < 6  # measured ~1-2
    assert cons.violates(m.labels_)["total"] == 0
    assert ((m.probabilities_ >= 0) & (m.probabilities_ <= 1)).all()
    assert (m.probabilities_[m.labels_ == -1] == 0).all()


def test_baselines_run(episode):
    e = episode
    r = heuristic_reliability(e.duration)
    assert edge_prf(e.speaker, SpeakerGroupingBaseline().fit(e.X, r).labels_)["f1"] > 0.9
    assert edge_prf(e.speaker, HDBSCANBaseline().fit(e.X).labels_)["f1"] > 0.8


def _two_blobs(rng, n=20, dim=16):
    a, b = np.eye(dim)[0], np.eye(dim)[1]
    A = a + 0.05 * rng.standard_normal((n, dim))
    B = b + 0.05 * rng.standard_normal((n, dim))
    return A, B, a, b


def test_unreliable_line_never_bridges():
    rng = np.random.default_rng(0)
    A, B, a, b = _two_blobs(rng)
    t = np.linspace(0.1, 0.9, 15)[:, None]
    bridges = np.cos(t * np.pi / 2) * a + np.sin(t * np.pi / 2) * b  # a path from A to B
    X = np.vstack([A, B, bridges])
    # as reliable lines the path chains A and B into one group; as unreliable lines it cannot
    # (the thresholds as given: uncalibrated)
    chained = (
        ReliableFirstClustering(core_threshold=0.2, calibrate=False).fit(X, np.ones(55)).labels_
    )
    assert len(set(chained[:40])) == 1
    r = np.r_[np.ones(40), np.zeros(15)]
    for method in ("ahc", "hdbscan"):
        m = ReliableFirstClustering(
            method=method, core_threshold=0.2, attach_threshold=0.5, calibrate=False
        )
        m.fit(X, r)
        assert set(m.labels_[:20]).isdisjoint(m.labels_[20:40])
        assert len(set(m.labels_[:20])) == 1 and len(set(m.labels_[20:40])) == 1
        assert not m.core_[40:].any() and m.n_groups_ == 2


def test_unreliable_lines_never_create_groups():
    rng = np.random.default_rng(1)
    A, B, _, _ = _two_blobs(rng)
    X = np.vstack([A, B])
    # uncalibrated (two clean blobs are weak evidence to the calibration, which then lets every
    # line build groups; see test_calibrate), and an attach bar (mean of the 3 best members at
    # 0.3) that no line of the other blob reaches, so that only creation is under test
    m = ReliableFirstClustering(calibrate=False, attach_threshold=0.3, top_m=3)
    m.fit(X, np.r_[np.ones(20), np.zeros(20)])
    assert (m.labels_[20:] == -1).all() and m.n_groups_ == 1


def test_cannot_link_splits_and_refuses():
    rng = np.random.default_rng(2)
    A, B, a, _ = _two_blobs(rng)
    X = np.vstack([A, B])
    cons = Constraints(cannot_link=[[0, 1], [2, 25]])
    m = ReliableFirstClustering().fit(X, constraints=cons)
    assert cons.violates(m.labels_)["cannot_link"] == 0
    assert m.labels_[0] != m.labels_[1]
    # an unreliable line that belongs to A but cannot-links every A line stays out of A
    X2 = np.vstack([A, a[None]])
    cons2 = Constraints(cannot_link=[[i, 20] for i in range(20)])
    lab = ReliableFirstClustering().fit(X2, np.r_[np.ones(20), 0.0], cons2).labels_
    assert lab[20] == -1 or lab[20] != lab[0]


def test_must_link_merges_groups(episode):
    rng = np.random.default_rng(3)
    A, B, _, _ = _two_blobs(rng)
    X = np.vstack([A, B])
    cons = Constraints(must_link=[[0, 30]])
    lab = ReliableFirstClustering(must_merge_threshold=-1.0).fit(X, constraints=cons).labels_
    assert lab[0] == lab[30] == lab[5] == lab[25]
    # must-linked unreliable lines still end together
    lab = ReliableFirstClustering().fit(X, np.zeros(40), Constraints(must_link=[[1, 2]])).labels_
    assert lab[1] == lab[2] >= 0


def test_confidence_model_roundtrip(tmp_path):
    e = make_season(3, seed=5)
    idx, sim = knn(e.X, 10)
    F, names = line_features(e.X, e.duration, idx, sim, X_raw=e.X * 3, loudness=e.duration * 0)
    assert F.shape == (len(e.X), len(names)) and "embedding_norm" in names
    y = reliability_targets(e.speaker, idx)
    model = LineConfidence().fit(F, y, names)
    p = model.predict_proba(F)
    # the learned model beats the duration-only fallback at ranking reliable lines
    from sklearn.metrics import roc_auc_score

    auc_model = roc_auc_score(y, p)
    auc_dur = roc_auc_score(y, heuristic_reliability(e.duration))
    assert auc_model > 0.8 and auc_model > auc_dur
    model.save(tmp_path / "conf.json")
    again = LineConfidence.load(tmp_path / "conf.json")
    np.testing.assert_allclose(again.predict_proba(F[:, ::-1], names[::-1]), p, rtol=1e-6)
    with pytest.raises(ValueError):
        again.predict_proba(F[:, :3], names[:3])


def test_roster_linker_links_across_episodes_and_respects_known_ids():
    rng = np.random.default_rng(4)
    chars = np.eye(8)
    cent = np.vstack([chars[[0, 1, 2]], chars[[0, 1, 3]]]) + 0.05 * rng.standard_normal((6, 8))
    ep = np.array([0, 0, 0, 1, 1, 1])
    roster = RosterLinker().fit_predict(cent, ep, np.full(6, 10))
    assert roster[0] == roster[3] and roster[1] == roster[4]
    assert len(set(roster)) == 4
    # different known ids are never merged, same known id always is, even across dissimilar
    fixed = np.array([7, -1, -1, 9, -1, 7])
    roster = RosterLinker().fit_predict(cent, ep, np.full(6, 10), fixed)
    assert roster[0] == 7 and roster[3] == 9 and roster[5] == 7
    # same episode: two groups are not linked unless very similar
    two = np.vstack([chars[0], chars[0] * 0.8 + chars[1] * 0.6])
    assert len(set(RosterLinker(threshold=0.5).fit_predict(two, [0, 0], [5, 5]))) == 2
    assert len(set(RosterLinker(threshold=0.5).fit_predict(two, [0, 1], [5, 5]))) == 1


def test_propagator_keeps_hand_labels_and_uses_groups():
    e = make_episode(seed=6)
    rng = np.random.default_rng(0)
    y = np.full(len(e.X), -1)
    pick = rng.random(len(y)) < 0.05
    y[pick] = e.speaker[pick]
    groups = ReliableFirstClustering().fit_predict(e.X, heuristic_reliability(e.duration))
    plain = NamePropagator().fit(e.X, y)
    grouped = NamePropagator().fit(e.X, y, groups=groups)
    assert (grouped.predict()[pick] == y[pick]).all()
    P = grouped.predict_proba()
    assert P.shape == (len(y), grouped.classes_.size) and np.all(P.sum(1) <= 1 + 1e-9)
    acc_plain = label_accuracy(e.speaker[~pick], plain.predict()[~pick])
    acc_group = label_accuracy(e.speaker[~pick], grouped.predict()[~pick])
    assert acc_group["accuracy"] > 0.95  # measured ~0.99
    assert acc_group["accuracy_full"] >= acc_plain["accuracy_full"]
    strict = NamePropagator(abstain_below=0.99).fit(e.X, y).predict()
    assert (strict == -1).sum() > (plain.predict() == -1).sum()
