"""How sure a machine name really is, learned from the answers people gave about such names.

Why: a name's probability comes from a model of the voices, and on weak voice evidence that
model is wrong about itself. On the acted benchmark, machine names said to be 90-100% sure were
right 70% of the time, those at 0.3-0.5 55% (``bench_review.py --acted ... --calibration``), so
a confidence floor (``castlist features --min-confidence``) did not mean what it said. Every
answer about a machine-named line is a held-out test of that probability, so the season's own
answers give a map from what the model says to how often it is right.

The map is Platt's: a logistic curve on the log-odds the model gives, two numbers, so a few
dozen answers fit it, and it keeps the model's order (it cannot make a probability rank names
better; it makes it say how often they are right). ``prior`` pseudo-answers that say "right as
often as said" hold it near the identity until the answers outweigh them.

The answers are not a random sample: the queue asks about the doubtful lines first, so at a
given probability the answered lines are wrong a little more often than the rest, and the map
errs on the side of saying less. That is the side a dataset filter should err on.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression

__all__ = ["NameCalibration"]

_EPS = 1e-4


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1.0 - _EPS)
    return np.log(p / (1.0 - p))


class NameCalibration(BaseEstimator):
    """Parameters: ``prior`` pseudo-answers on the diagonal (a name right as often as it says),
    spread evenly over ``(0, 1)``; ``min_answers`` answers below which ``transform`` changes
    nothing; ``min_slope`` the least slope on the log-odds, so that a surer name never reads
    as less sure, nor all names as equally sure.

    ``fit(p, right)``: the machine's probabilities when people answered, and whether the name
    was right. Fitted: ``n_answers_``, ``slope_`` and ``intercept_`` (1 and 0: unchanged,
    ``identity_``)."""

    def __init__(self, *, prior: float = 10.0, min_answers: int = 10, min_slope: float = 0.1):
        self.prior = prior
        self.min_answers = min_answers
        self.min_slope = min_slope

    def fit(self, p, right) -> NameCalibration:
        p = np.asarray(p, dtype=np.float64).ravel()
        right = np.asarray(right, dtype=bool).ravel()
        if p.size != right.size:
            raise ValueError(f"{p.size} probabilities for {right.size} answers")
        self.n_answers_ = int(p.size)
        self.slope_, self.intercept_ = 1.0, 0.0
        if p.size < max(self.min_answers, 1):
            return self
        grid = (np.arange(10) + 0.5) / 10
        x = np.concatenate([_logit(p), _logit(grid), _logit(grid)])
        y = np.concatenate([right, np.ones(grid.size, bool), np.zeros(grid.size, bool)])
        share = self.prior / grid.size
        w = np.concatenate([np.ones(p.size), grid * share, (1.0 - grid) * share])
        lr = LogisticRegression(C=1e4).fit(x[:, None], y, sample_weight=w)
        self.slope_ = max(float(lr.coef_[0, 0]), self.min_slope)
        self.intercept_ = float(lr.intercept_[0])
        return self

    @property
    def identity_(self) -> bool:
        return (self.slope_, self.intercept_) == (1.0, 0.0)

    def to_dict(self) -> dict:
        return {"slope": self.slope_, "intercept": self.intercept_, "answers": self.n_answers_}

    @classmethod
    def from_dict(cls, d: dict) -> NameCalibration:
        self = cls()
        self.slope_, self.intercept_ = float(d["slope"]), float(d["intercept"])
        self.n_answers_ = int(d.get("answers", 0))
        return self

    def transform(self, p) -> np.ndarray:
        """The probabilities as the answers say they hold (unchanged before enough answers);
        0 stays 0: no name is not made a name."""
        p = np.asarray(p, dtype=np.float64)
        if self.identity_:
            return p.copy()
        out = 1.0 / (1.0 + np.exp(-(self.slope_ * _logit(p) + self.intercept_)))
        return np.where(p > 0, out, 0.0)
