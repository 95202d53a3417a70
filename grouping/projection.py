"""A projection of the voice vectors learned from the season's own hand labels.

Acted voices break the assumption behind a fixed cosine: CAM++ puts two lines of one character
at cosine ~0.45 and two characters at ~0.34, because shouting, whispering and music move a
vector further than the speaker does. Once people have named a few lines per character, the
spread *within* each named character shows which directions are delivery and noise rather than
identity. ``LabelProjection`` whitens that within-class scatter (WCCN, shrunk toward the
identity by the Ledoit-Wolf estimate, since a season has only a few labelled lines per
character), so cosine in the projected space weighs the directions that separate characters.

It keeps every dimension (no LDA cut to ``n_classes - 1``): characters nobody named yet must
stay separable. With too few repeated labels it is the identity, so one label per character
changes nothing. It moves vectors only; hand labels are never read as anything but training
targets.
"""

from __future__ import annotations

import logging

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from .vectors import normalize_rows

__all__ = ["LabelProjection"]

log = logging.getLogger(__name__)


class LabelProjection(TransformerMixin, BaseEstimator):
    """Within-class covariance normalisation learned from labelled rows (-1 = unlabelled).

    Parameters: ``min_dof`` repeated-label degrees of freedom (labelled rows minus the classes
    they fall in, counting classes with at least two rows) below which the projection stays the
    identity; ``min_classes`` classes with repeated labels needed; ``shrinkage`` weight of the
    isotropic target in ``(1 - a) * S_w + a * mean_var * I`` (None: Ledoit-Wolf from the data);
    ``center``: subtract the mean of every row passed to ``fit`` (labelled or not) first.

    Fitted: ``mean_`` (d,), ``components_`` (d, d) (the identity when not fitted),
    ``identity_`` (True when too few labels), ``shrinkage_`` (the weight used), ``dof_``.
    ``transform`` returns unit rows (zero rows stay zero); when ``identity_`` it returns ``X``
    unchanged (float32).
    """

    def __init__(
        self,
        *,
        min_dof: int = 4,
        min_classes: int = 2,
        shrinkage: float | None = None,
        center: bool = True,
    ):
        self.min_dof = min_dof
        self.min_classes = min_classes
        self.shrinkage = shrinkage
        self.center = center

    def fit(self, X, y) -> LabelProjection:
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.int64).ravel()
        if X.ndim != 2:
            raise ValueError(f"expected a 2-d array of vectors, got shape {X.shape}")
        if y.size != len(X):
            raise ValueError(f"y has {y.size} labels for {len(X)} rows")
        d = X.shape[1]
        self.mean_ = np.zeros(d)
        self.components_ = np.eye(d)
        self.identity_ = True
        self.shrinkage_ = 1.0
        classes, counts = np.unique(y[y >= 0], return_counts=True)
        repeated = classes[counts >= 2]
        rows = np.flatnonzero(np.isin(y, repeated))
        self.dof_ = int(rows.size - repeated.size)
        if repeated.size < self.min_classes or self.dof_ < max(self.min_dof, 1):
            log.debug("projection: %d repeated-label dof, identity", self.dof_)
            return self
        Xn = normalize_rows(X, dtype=None)
        resid = Xn[rows].copy()
        for c in repeated:
            m = y[rows] == c
            resid[m] -= resid[m].mean(0)
        Sw = resid.T @ resid / self.dof_
        mu = float(np.trace(Sw)) / d
        if mu <= 0:
            return self
        a = self._shrinkage(resid)
        S = (1.0 - a) * Sw + a * mu * np.eye(d)
        w, V = np.linalg.eigh(S)
        w = np.maximum(w, 1e-6 * mu)
        self.components_ = (V * np.sqrt(mu / w)) @ V.T  # S^(-1/2), scaled so isotropy is 1
        nonzero = np.linalg.norm(Xn, axis=1) > 0
        self.mean_ = Xn[nonzero].mean(0) if self.center and nonzero.any() else np.zeros(d)
        self.identity_ = False
        self.shrinkage_ = a
        log.debug("projection: %d classes, dof %d, shrinkage %.2f", repeated.size, self.dof_, a)
        return self

    def _shrinkage(self, resid: np.ndarray) -> float:
        if self.shrinkage is not None:
            return float(np.clip(self.shrinkage, 0.0, 1.0))
        from sklearn.covariance import ledoit_wolf_shrinkage

        # ledoit_wolf_shrinkage divides by n rows, not by the dof: close enough for a weight
        return float(np.clip(ledoit_wolf_shrinkage(resid, assume_centered=True), 0.0, 1.0))

    def transform(self, X) -> np.ndarray:
        X = np.asarray(X, dtype=np.float32)
        if getattr(self, "identity_", True):
            return X.copy()
        Xn = normalize_rows(X, dtype=np.float64)
        out = normalize_rows((Xn - self.mean_) @ self.components_, dtype=None)
        out[np.linalg.norm(Xn, axis=1) == 0] = 0.0  # lines without a vector stay without one
        return out.astype(np.float32)

    def fit_transform(self, X, y) -> np.ndarray:
        return self.fit(X, y).transform(X)
