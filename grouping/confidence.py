"""Per-line reliability: how far a line's voice vector can be trusted to place it.

Short, noisy or music-covered lines give vectors that sit between speakers; clustering them
first lets them bridge two characters. ``line_features`` turns a line's duration, its vector
and its kNN neighbourhood into features; ``LineConfidence`` maps them to P(reliable) with a
logistic model small enough to ship as JSON; ``heuristic_reliability`` is the untrained
duration-only fallback.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator

__all__ = [
    "line_features",
    "reliability_targets",
    "heuristic_reliability",
    "LineConfidence",
    "FORMAT_VERSION",
]

log = logging.getLogger(__name__)

FORMAT_VERSION = 1


def line_features(
    X,
    durations,
    knn_idx,
    knn_sim,
    X_raw=None,
    **extra,
) -> tuple[np.ndarray, list[str]]:
    """Feature matrix (n, f) float32 and its column names.

    Columns: duration, log_duration, [embedding_norm when un-normalised ``X_raw`` is given],
    top1_sim, mean_knn_sim, margin (1st minus k-th neighbour similarity), mutual_knn (share
    of my neighbours that list me too: hubs and outliers score low), neighbour_coherence (mean
    similarity of my top neighbours to their own first neighbour; high inside tight groups),
    then any ``extra`` per-line arrays (e.g. speech_ratio=, loudness=) in keyword order."""
    X = np.asarray(X, dtype=np.float32)
    n = len(X)
    dur = np.asarray(durations, dtype=np.float64).reshape(n)
    idx = np.asarray(knn_idx, dtype=np.int64)
    sim = np.asarray(knn_sim, dtype=np.float64)
    valid = idx >= 0
    simv = np.where(valid, sim, np.nan)
    k = idx.shape[1] if idx.ndim == 2 else 0
    cols: dict[str, np.ndarray] = {
        "duration": dur,
        "log_duration": np.log(np.maximum(dur, 1e-3)),
    }
    if X_raw is not None:
        cols["embedding_norm"] = np.linalg.norm(np.asarray(X_raw, dtype=np.float64), axis=1)
    with np.errstate(all="ignore"):
        top1 = np.nan_to_num(simv[:, 0], nan=0.0) if k else np.zeros(n)
        mean = np.nan_to_num(np.nanmean(simv, axis=1), nan=0.0) if k else np.zeros(n)
        last = np.nan_to_num(simv[np.arange(n), np.maximum(valid.sum(1) - 1, 0)], nan=0.0)
        cols["top1_sim"] = top1
        cols["mean_knn_sim"] = mean
        cols["margin"] = top1 - last if k else np.zeros(n)
        if k:
            safe = np.where(valid, idx, 0)
            mutual = (idx[safe] == np.arange(n)[:, None, None]).any(axis=2) & valid
            cols["mutual_knn"] = mutual.sum(1) / np.maximum(valid.sum(1), 1)
            m = min(k, 5)
            cols["neighbour_coherence"] = np.where(valid[:, :m], top1[safe[:, :m]], 0.0).sum(
                1
            ) / np.maximum(valid[:, :m].sum(1), 1)
        else:
            cols["mutual_knn"] = np.zeros(n)
            cols["neighbour_coherence"] = np.zeros(n)
    for name, values in extra.items():
        if values is None:
            continue
        cols[name] = np.asarray(values, dtype=np.float64).reshape(n)
    names = list(cols)
    return np.column_stack([cols[c] for c in names]).astype(np.float32), names


def reliability_targets(truth, knn_idx, min_agree: float = 0.5) -> np.ndarray:
    """Training target for ``LineConfidence``: 1 where at least ``min_agree`` of the line's kNN
    neighbours share its true speaker (the line would land in the right group), else 0.
    Lines with unknown truth (-1) get -1 and should be dropped before fitting."""
    t = np.asarray(truth)
    idx = np.asarray(knn_idx)
    valid = idx >= 0
    agree = (t[np.where(valid, idx, 0)] == t[:, None]) & valid
    frac = agree.sum(1) / np.maximum(valid.sum(1), 1)
    y = (frac >= min_agree).astype(np.int64)
    y[t == -1] = -1
    return y


def heuristic_reliability(durations, midpoint: float = 1.0, scale: float = 0.25) -> np.ndarray:
    """Untrained fallback: a logistic curve in duration (lines under ~1 s are unreliable, which
    is what speaker-verification models show on short segments)."""
    d = np.asarray(durations, dtype=np.float64)
    return 1.0 / (1.0 + np.exp(-(d - midpoint) / scale))


class LineConfidence(BaseEstimator):
    """Logistic regression on standardised ``line_features``; P(line is reliable).

    Parameters: ``C`` inverse regularisation strength, ``class_weight`` as in scikit-learn.
    Fitted attributes: ``feature_names_``, ``mean_``, ``scale_``, ``coef_`` (f,),
    ``intercept_``. A logistic model (not boosting) so a fitted default fits in a few hundred
    bytes of JSON and loads without pickle."""

    def __init__(self, *, C: float = 1.0, class_weight: str | None = "balanced"):
        self.C = C
        self.class_weight = class_weight

    def fit(self, F, y, feature_names: list[str] | None = None) -> LineConfidence:
        from sklearn.linear_model import LogisticRegression

        F = np.asarray(F, dtype=np.float64)
        y = np.asarray(y).ravel()
        keep = y >= 0
        F, y = F[keep], y[keep]
        if len(np.unique(y)) < 2:
            raise ValueError("LineConfidence.fit needs both reliable (1) and unreliable (0) lines")
        self.feature_names_ = list(feature_names or [f"f{i}" for i in range(F.shape[1])])
        self.mean_ = F.mean(axis=0)
        self.scale_ = np.where(F.std(axis=0) > 1e-9, F.std(axis=0), 1.0)
        model = LogisticRegression(C=self.C, class_weight=self.class_weight, max_iter=1000)
        model.fit((F - self.mean_) / self.scale_, y)
        self.coef_ = model.coef_.ravel().astype(np.float64)
        self.intercept_ = float(model.intercept_[0])
        return self

    def _select(self, F, feature_names) -> np.ndarray:
        F = np.asarray(F, dtype=np.float64)
        if feature_names is None or list(feature_names) == self.feature_names_:
            if F.shape[1] != len(self.feature_names_):
                raise ValueError(
                    f"expected {len(self.feature_names_)} features {self.feature_names_}, "
                    f"got {F.shape[1]}"
                )
            return F
        pos = {n: i for i, n in enumerate(feature_names)}
        missing = [n for n in self.feature_names_ if n not in pos]
        if missing:
            raise ValueError(f"features missing for the confidence model: {missing}")
        return F[:, [pos[n] for n in self.feature_names_]]

    def decision_function(self, F, feature_names: list[str] | None = None) -> np.ndarray:
        F = self._select(F, feature_names)
        return (F - self.mean_) / self.scale_ @ self.coef_ + self.intercept_

    def predict_proba(self, F, feature_names: list[str] | None = None) -> np.ndarray:
        """(n,) P(reliable). Columns are matched by name when ``feature_names`` is given."""
        return 1.0 / (1.0 + np.exp(-self.decision_function(F, feature_names)))

    def predict(self, F, feature_names: list[str] | None = None, threshold: float = 0.5):
        return (self.predict_proba(F, feature_names) >= threshold).astype(np.int64)

    def to_dict(self) -> dict:
        return {
            "kind": "castlist.LineConfidence",
            "version": FORMAT_VERSION,
            "model": "logistic",
            "params": {"C": self.C, "class_weight": self.class_weight},
            "feature_names": self.feature_names_,
            "mean": self.mean_.tolist(),
            "scale": self.scale_.tolist(),
            "coef": self.coef_.tolist(),
            "intercept": self.intercept_,
        }

    @classmethod
    def from_dict(cls, d: dict) -> LineConfidence:
        if d.get("kind") != "castlist.LineConfidence":
            raise ValueError("not a castlist LineConfidence model")
        if int(d.get("version", -1)) > FORMAT_VERSION:
            raise ValueError(f"model format {d.get('version')} is newer than {FORMAT_VERSION}")
        self = cls(**d.get("params", {}))
        self.feature_names_ = list(d["feature_names"])
        self.mean_ = np.asarray(d["mean"], dtype=np.float64)
        self.scale_ = np.asarray(d["scale"], dtype=np.float64)
        self.coef_ = np.asarray(d["coef"], dtype=np.float64)
        self.intercept_ = float(d["intercept"])
        return self

    def save(self, path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=1), encoding="utf-8")

    @classmethod
    def load(cls, path) -> LineConfidence:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


CONFIDENCE_K = 10
"""Neighbours per line for the reliability features (within one episode)."""


def episode_features(X, durations, **extra) -> tuple[np.ndarray, list[str], np.ndarray]:
    """``line_features`` for one episode's lines with their own kNN graph.

    Returns (features, names, knn_idx); ``extra`` per-line arrays (e.g. rms_db=, active_ratio=)
    are appended. One function for training and for use, so the two never drift apart."""
    from .knn import knn

    X = np.asarray(X, dtype=np.float32)
    n = len(X)
    k = min(CONFIDENCE_K, max(n - 1, 0))
    if k:
        idx, sim = knn(X, k)
    else:
        idx, sim = np.full((n, 1), -1, np.int64), np.full((n, 1), -np.inf, np.float32)
    F, names = line_features(X, durations, idx, sim, **extra)
    return F, names, idx


def default_model_path() -> Path:
    return Path(__file__).resolve().parent / "data" / "confidence_v1.json"


_DEFAULT: list = []


def default_confidence() -> LineConfidence | None:
    """The shipped model (trained by benchmarks/train_confidence.py), or None when missing."""
    if not _DEFAULT:
        path = default_model_path()
        try:
            _DEFAULT.append(LineConfidence.load(path))
        except (OSError, ValueError, KeyError) as exc:
            log.warning(
                "no usable confidence model at %s (%s); using the duration heuristic", path, exc
            )
            _DEFAULT.append(None)
    return _DEFAULT[0]
