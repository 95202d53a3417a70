"""LabelProjection: the season's hand labels teach which directions of the voice vectors are
identity and which are delivery or noise; with too few labels it must change nothing."""

from __future__ import annotations

import numpy as np
import pytest

from grouping.projection import LabelProjection


def buried_speakers(seed: int = 0, n_classes: int = 6, per_class: int = 30, dim: int = 32):
    """Speakers that differ only in 4 dimensions, under 6 dimensions of large per-line
    nuisance (delivery, music) and a large shared offset (what all voices have in common)."""
    rng = np.random.default_rng(seed)
    centres = np.zeros((n_classes, dim))
    centres[:, :4] = rng.normal(size=(n_classes, 4))
    centres += 4.0 * rng.normal(size=dim)  # shared component: raw cosines all look alike
    y = np.repeat(np.arange(n_classes), per_class)
    X = centres[y] + 0.1 * rng.normal(size=(len(y), dim))
    X[:, 4:10] += 3.0 * rng.normal(size=(len(y), 6))
    return X.astype(np.float32), y


def label_some(y: np.ndarray, per_class: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.full(len(y), -1)
    for c in np.unique(y):
        out[rng.choice(np.flatnonzero(y == c), per_class, replace=False)] = c
    return out


def centroid_accuracy(X: np.ndarray, y_lab: np.ndarray, truth: np.ndarray) -> float:
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    classes = np.unique(y_lab[y_lab >= 0])
    C = np.stack([Xn[y_lab == c].mean(0) for c in classes])
    C /= np.linalg.norm(C, axis=1, keepdims=True)
    pred = classes[(Xn @ C.T).argmax(1)]
    other = y_lab < 0
    return float(np.mean(pred[other] == truth[other]))


@pytest.mark.parametrize("per_class", [3, 5])
def test_projection_finds_speakers_buried_under_nuisance(per_class):
    X, truth = buried_speakers()
    y = label_some(truth, per_class)
    raw = centroid_accuracy(X, y, truth)
    proj = LabelProjection().fit(X, y)
    assert not proj.identity_
    learned = centroid_accuracy(proj.transform(X), y, truth)
    assert raw < 0.6, raw  # the data is hard for plain cosine
    assert learned > raw + 0.25, (raw, learned)
    assert learned > 0.55, learned


def test_same_speaker_pairs_move_closer_than_different_ones():
    X, truth = buried_speakers(seed=1)
    Z = LabelProjection().fit(X, label_some(truth, 5, seed=1)).transform(X)

    def gap(V):
        V = V / np.linalg.norm(V, axis=1, keepdims=True)
        S = V @ V.T
        same = truth[:, None] == truth[None, :]
        off = ~np.eye(len(truth), dtype=bool)
        return S[same & off].mean() - S[~same].mean()

    assert gap(Z) > gap(X) + 0.1, (gap(X), gap(Z))


def test_one_label_per_character_changes_nothing():
    X, truth = buried_speakers()
    y = label_some(truth, 1)
    proj = LabelProjection().fit(X, y)
    assert proj.identity_
    np.testing.assert_array_equal(proj.transform(X), X)
    # a few repeated labels are still too few to learn 32 dimensions from
    y[np.flatnonzero((truth == 0) & (y < 0))[:2]] = 0
    assert LabelProjection().fit(X, y).identity_


def test_no_labels_and_unlabelled_rows_only_centre():
    X, truth = buried_speakers()
    proj = LabelProjection().fit(X, np.full(len(X), -1))
    assert proj.identity_ and proj.dof_ == 0
    np.testing.assert_array_equal(proj.transform(X), X)


def test_transform_gives_unit_rows_and_keeps_zero_rows_zero():
    X, truth = buried_speakers()
    X[3] = 0.0
    proj = LabelProjection().fit(X, label_some(truth, 4))
    Z = proj.transform(X)
    assert Z.dtype == np.float32 and Z.shape == X.shape
    norms = np.linalg.norm(Z, axis=1)
    assert norms[3] == 0.0
    np.testing.assert_allclose(np.delete(norms, 3), 1.0, atol=1e-5)


def test_shrinkage_one_is_centring_only():
    """With all weight on the isotropic target the projection only removes the season mean."""
    X, truth = buried_speakers()
    proj = LabelProjection(shrinkage=1.0).fit(X, label_some(truth, 3))
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    expected = Xn - Xn.mean(0)
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(proj.transform(X), expected, atol=1e-5)


def test_fit_rejects_mismatched_labels():
    X, truth = buried_speakers()
    with pytest.raises(ValueError, match="labels"):
        LabelProjection().fit(X, truth[:-1])
