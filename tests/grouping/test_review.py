"""The array-level review queue ranks by expected saving."""

from __future__ import annotations

import numpy as np

from grouping.review import rank_candidates, same_probability


def _data(seed=0, dim=24):
    rng = np.random.default_rng(seed)
    c = rng.normal(size=(3, dim))
    c /= np.linalg.norm(c, axis=1, keepdims=True)
    truth = np.array([0] * 20 + [1] * 12 + [2] * 6)
    X = c[truth] + 0.2 * rng.normal(size=(len(truth), dim)) / np.sqrt(dim)
    return X, truth


def test_same_probability_is_monotone():
    p = same_probability([0.2, 0.5, 0.8])
    assert p[0] < 0.05 < p[1] < p[2] and p[2] > 0.95


def test_split_character_asks_same_first():
    X, truth = _data()
    character = truth.copy()
    character[26:32] = 3  # speaker 1 split into two characters
    named = np.array([True, False, False, False])
    human = np.zeros(len(truth), bool)
    human[0] = True
    conf = np.where(character == 0, 0.95, 0.0)
    conf[0] = 1.0
    cands = rank_candidates(X, character, named, conf, human)
    top_same = next(c for c in cands if c.kind == "same")
    assert {top_same.a, top_same.b} == {1, 3}
    assert top_same.p > 0.9
    # an unnamed character gets one "who" question worth its size, on its own line
    whos = [c for c in cands if c.kind == "who" and character[c.a] == 2]
    assert whos and whos[0].saves == 6
    # a person never gets asked about the line they labelled
    assert all(c.a != 0 for c in cands if c.kind != "same")
    savings = [c.saves for c in cands]
    assert savings == sorted(savings, reverse=True)


def test_separated_pairs_are_not_asked_again():
    X, truth = _data(1)
    character = truth.copy()
    character[26:32] = 3
    named = np.zeros(4, bool)
    conf = np.zeros(len(truth))
    human = np.zeros(len(truth), bool)
    cands = rank_candidates(X, character, named, conf, human, separated={(1, 3)})
    assert not any(c.kind == "same" and {c.a, c.b} == {1, 3} for c in cands)


def test_outlier_line_is_an_ambient_candidate():
    X, truth = _data(2)
    rng = np.random.default_rng(5)
    X = np.vstack([X, rng.normal(size=(1, X.shape[1]))])
    character = np.r_[truth, -1]
    cands = rank_candidates(
        X, character, np.zeros(3, bool), np.zeros(len(character)), np.zeros(len(character), bool),
        reliability=np.r_[np.ones(len(truth)), 0.1],
    )  # fmt: skip
    amb = [c for c in cands if c.kind == "ambient"]
    assert amb and amb[0].a == len(truth)


def test_suggestions_for_a_new_voice_are_not_confident():
    X, truth = _data()
    named = np.array([True, True, False])  # voice 2 belongs to nobody named yet
    human = np.zeros(len(truth), bool)
    human[[0, 20]] = True
    conf = np.where(truth == 0, 0.95, np.where(truth == 1, 0.8, 0.0))  # voice 1: doubtful
    cands = rank_candidates(X, truth, named, conf, human)
    new_voice = next(c for c in cands if c.kind == "who" and truth[c.a] == 2)
    known = next(c for c in cands if c.kind == "who" and truth[c.a] == 1)
    assert new_voice.suggestions[0][1] < 0.2  # "probably someone new", not 97% the nearest name
    assert known.suggestions[0] == (1, known.suggestions[0][1]) and known.suggestions[0][1] > 0.8
