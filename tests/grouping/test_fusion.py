"""Voice + face fusion: faces help where they are reliable and change nothing elsewhere."""

from __future__ import annotations

import numpy as np
import pytest

from grouping.fusion import face_agreement, face_reliable, fuse, voice_to_face_map


def _unit(X):
    return X / np.linalg.norm(X, axis=1, keepdims=True)


@pytest.fixture
def planted():
    """6 speakers, 60 lines; voices noisy (two speakers nearly alike), faces clean."""
    rng = np.random.default_rng(0)
    speakers = np.repeat(np.arange(6), 10)
    vc = rng.normal(size=(6, 24))
    vc[1] = vc[0] + 0.3 * rng.normal(size=24)  # speakers 0 and 1 sound alike
    fc = rng.normal(size=(6, 32))
    V = _unit(_unit(vc)[speakers] + 0.5 * rng.normal(size=(60, 24)) / np.sqrt(24))
    F = _unit(_unit(fc)[speakers] + 0.3 * rng.normal(size=(60, 32)) / np.sqrt(32))
    reliable = rng.random(60) < 0.5
    return speakers, V.astype(np.float32), F.astype(np.float32), reliable


@pytest.mark.parametrize("method", ["procrustes", "zero"])
def test_faceless_pairs_keep_their_voice_cosine(planted, method):
    _, V, F, reliable = planted
    X = fuse(V, F, reliable, 0.4, method=method)
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-5)
    off = ~reliable
    np.testing.assert_allclose(X[off] @ X[off].T, V[off] @ V[off].T, atol=1e-5)


def test_pairs_with_faces_get_the_weighted_cosine(planted):
    _, V, F, reliable = planted
    w = 0.4
    X = fuse(V, F, reliable, w)
    on = reliable
    expected = (1 - w) * (V[on] @ V[on].T) + w * (F[on] @ F[on].T)
    np.testing.assert_allclose(X[on] @ X[on].T, expected, atol=1e-5)


def test_faces_separate_alike_voices_and_pull_together_the_same_face(planted):
    speakers, V, F, reliable = planted
    X = fuse(V, F, reliable, 0.5)
    both = reliable[:, None] & reliable[None, :] & ~np.eye(60, dtype=bool)
    same = speakers[:, None] == speakers[None, :]
    alike = np.isin(speakers, [0, 1])
    confusable = both & ~same & alike[:, None] & alike[None, :]
    # faces disagree: voices that sound alike drift apart
    assert (X @ X.T)[confusable].mean() < (V @ V.T)[confusable].mean() - 0.1
    # faces agree: same speaker comes closer
    assert (X @ X.T)[both & same].mean() > (V @ V.T)[both & same].mean()


def test_mixed_pairs_are_not_penalised_with_procrustes(planted):
    speakers, V, F, reliable = planted
    mixed = reliable[:, None] & ~reliable[None, :]
    same = speakers[:, None] == speakers[None, :]
    gap_v = (V @ V.T)[mixed & same].mean() - (V @ V.T)[mixed & ~same].mean()
    zero = fuse(V, F, reliable, 0.4, method="zero")
    proc = fuse(V, F, reliable, 0.4)
    # zero face part shrinks every seen-vs-unseen cosine by sqrt(1 - w)
    np.testing.assert_allclose((zero @ zero.T)[mixed], np.sqrt(0.6) * (V @ V.T)[mixed], atol=1e-5)
    # the voice-predicted face keeps same-speaker cosines near the voice cosines
    shift = (proc @ proc.T)[mixed & same].mean() - (V @ V.T)[mixed & same].mean()
    assert abs(shift) < 0.15
    gap_p = (proc @ proc.T)[mixed & same].mean() - (proc @ proc.T)[mixed & ~same].mean()
    assert gap_p > 0.8 * gap_v


def test_no_faces_means_voice_alone_and_a_season_map_keeps_widths(planted):
    _, V, F, reliable = planted
    none = np.zeros(60, dtype=bool)
    np.testing.assert_allclose(fuse(V, None, none), V, atol=1e-6)
    np.testing.assert_allclose(fuse(V, F, none), V, atol=1e-6)
    np.testing.assert_allclose(fuse(V, F, reliable, 0.0), V, atol=1e-6)
    M = voice_to_face_map(V, F, reliable)
    np.testing.assert_allclose(M @ M.T, np.eye(32), atol=1e-4)
    X = fuse(V, None, none, 0.4, mapping=M)  # an audio-only episode in a season with faces
    assert X.shape == (60, 24 + 32)
    np.testing.assert_allclose(X @ X.T, V @ V.T, atol=1e-5)


def test_reliable_rule_and_bad_input():
    rel = face_reliable(
        [True, True, True, False],
        [0.9, 0.3, 0.9, 0.9],
        [0.3, 0.3, 0.01, 0.3],
        min_consistency=0.5,
        min_size=0.08,
    )
    assert rel.tolist() == [True, False, False, False]
    V = np.eye(3, dtype=np.float32)
    with pytest.raises(ValueError, match="face_weight"):
        fuse(V, V, np.ones(3, bool), 1.5)
    with pytest.raises(ValueError, match="entries"):
        fuse(V, V, np.ones(2, bool))
    with pytest.raises(ValueError, match="method"):
        fuse(V, V, np.ones(3, bool), method="mean")


def test_agreement_gate_drops_listener_shots(planted):
    speakers, V, F, reliable = planted
    F = F.copy()
    shown = speakers.copy()
    listener = np.flatnonzero(reliable)[::4]  # a quarter of the faces show someone else
    shown[listener] = (speakers[listener] + 3) % 6
    F[listener] = F[np.array([np.flatnonzero(speakers == s)[0] for s in shown[listener]])]
    agree = face_agreement(V, F, reliable)
    truthful = reliable & (shown == speakers)
    assert agree[listener].mean() < agree[truthful].mean() - 0.3
    gated = fuse(V, F, reliable, 0.5, min_agreement=0.3)
    # a gated listener line is compared with others as if it had no face: voice cosine
    lost = listener[agree[listener] < 0.3]
    off = np.flatnonzero(~reliable)
    assert lost.size > 0
    np.testing.assert_allclose(gated[lost] @ gated[off].T, V[lost] @ V[off].T, atol=1e-5)
