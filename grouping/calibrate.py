"""Calibrate grouping thresholds to the vectors at hand: the model, the episode, the labels.

Why: a cosine threshold means nothing on its own. CAM++ puts two lines of one LibriSpeech
reader at ~0.79 and two readers at ~0.10, but two acted game characters at ~0.33 and two lines
of one of them at only ~0.41; the defaults tuned on read speech (AHC cut at 0.38) then merge a
whole acted episode into a handful of groups. Another model has another scale again.

:class:`SimilarityCalibration` reads the episode's own pair similarities. Most pairs of lines
are two different speakers, a minority are one speaker, so a two-component Gaussian mixture on
the pair cosines gives both distributions; pairs should merge only above the bulk of the
different-speaker pairs (``threshold_``). The even-odds point of the mixture was tried and is
unstable where it matters: on acted voices the one-speaker component is a small shoulder and
its crossing wandered to 0.69 (HAC in hindsight: 0.47). Pairs known
to differ and pairs known to be one speaker (the same hand name) take over from the mixture's
guesses as they accumulate. ReliableFirstClustering passes only the latter: its cannot-links
are mostly lines overlapping in time, whose audio holds both voices, so they sit far closer
than two speakers do (LibriSpeech pseudo-episodes: 0.40-0.65 against ~0.07) and would drag the
different-speaker estimate up. The gap
between the two components in units of their spread (``separation_``) says whether the voices
can be told apart at all; below ``weak_below`` the evidence is weak, and the caller should
rather over-split (a merge is one annotator operation) than build one giant group (a move per
line).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator

from .vectors import normalize_rows

__all__ = ["TUNING", "TUNING_SCALE", "CosineScale", "SimilarityCalibration", "shifted_thresholds"]

log = logging.getLogger(__name__)


_BINS = 4096
"""Bins of the pair cosines the mixture is fitted on (width ~4e-4 over a typical range)."""
_MAX_ITER = 200
"""EM iterations at most; acted episodes use them all (the one-speaker shoulder is flat)."""
_BLOCK = 16_384
"""Sampled pairs whose rows are gathered at once (a block of 192-d float64 rows: 25 MB)."""


def _bin_moments(s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, count, variance) of the values in each non-empty one of ``_BINS`` equal bins
    spanning ``s``: what the mixture needs of 45,000-200,000 cosines, in at most 4,096 rows."""
    lo, hi = float(s.min()), float(s.max())
    scale = _BINS / (hi - lo) if hi > lo else 0.0
    idx = np.minimum(((s - lo) * scale).astype(np.intp), _BINS - 1)
    count = np.bincount(idx, minlength=_BINS).astype(np.float64)
    total = np.bincount(idx, weights=s, minlength=_BINS)
    squares = np.bincount(idx, weights=s * s, minlength=_BINS)
    keep = count > 0
    count, total, squares = count[keep], total[keep], squares[keep]
    mean = total / count
    return mean, count, np.maximum(squares / count - mean * mean, 0.0)


def _sample_pairs(n: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``k`` seeded pairs of distinct rows of ``n`` (with replacement: ``k`` may be near all)."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, n, k)
    b = rng.integers(0, n - 1, k)
    return a, np.where(b >= a, b + 1, b)  # never a line with itself


def _row_dots(Xn: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``Xn[a[i]] . Xn[b[i]]`` for every i, gathering ``_BLOCK`` pairs of rows at a time."""
    out = np.empty(len(a), dtype=Xn.dtype)
    for i in range(0, len(a), _BLOCK):
        j = slice(i, i + _BLOCK)
        out[j] = np.einsum("ij,ij->i", Xn[a[j]], Xn[b[j]])
    return out


class SimilarityCalibration(BaseEstimator):
    """Same- and different-speaker cosine distributions of one set of line vectors.

    Parameters
    ----------
    max_pairs: pairs sampled (seeded) when the episode has more; every pair below it. Pairs of
        hand-labelled lines are bounded alike.
    min_known: known pairs of a kind (same / different) at which they weigh as much as the
        mixture's estimate of that kind (more pairs weigh more).
    weak_below: separation (component gap / pooled spread) under which the voice evidence is
        called weak (measured with CAM++: ~3.8-4.0 on LibriSpeech pseudo-episodes, ~1.6 on 22
        acted game characters).
    tail_z: the merge threshold sits this many different-speaker spreads above their mean
        (1.0: about 16% of different-speaker pairs clear it; 0.8-1.2 measured alike on acted
        voices).
    min_sd: floor of each component's spread (a handful of near-identical lines must not make
        a needle-thin component).
    seed: for the pair sample and nothing else.

    Attributes
    ----------
    threshold_: the lowest cosine at which two lines should merge: ``diff_mean_ + tail_z *
        diff_sd_``, the tail of the different-speaker pairs (on LibriSpeech ~0.15, far below
        the tuned 0.38; on acted voices ~0.44, where HAC in hindsight was best: 0.45-0.47).
    same_mean_, same_sd_, diff_mean_, diff_sd_, same_weight_: the two components.
    separation_: (same_mean_ - diff_mean_) / pooled sd. weak_: separation_ < weak_below.
    n_pairs_: pairs the mixture saw; n_known_same_, n_known_diff_: known pairs used;
    source_: "mixture", "mixture+known" or "degenerate" (too few lines: nothing learned).
    """

    def __init__(
        self,
        *,
        max_pairs: int = 200_000,
        min_known: int = 10,
        weak_below: float = 2.5,
        tail_z: float = 1.0,
        min_sd: float = 0.03,
        seed: int = 0,
    ):
        self.max_pairs = max_pairs
        self.tail_z = tail_z
        self.min_known = min_known
        self.weak_below = weak_below
        self.min_sd = min_sd
        self.seed = seed

    # ------------------------------------------------------------------ fitting
    def _pairs(self, Xn: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(cosine, row a, row b) of every pair up to ``max_pairs`` pairs (one Gram matrix: an
        episode of 300 lines is 45,000 pairs), of a seeded sample of ``max_pairs`` above; the
        sample's rows are gathered a block at a time, so memory stays at a block whatever the
        episode."""
        n = len(Xn)
        if n * (n - 1) // 2 <= self.max_pairs:
            a, b = np.triu_indices(n, 1)  # the upper triangle in row-major order
            return (Xn @ Xn.T)[a, b], a, b
        a, b = _sample_pairs(n, self.max_pairs, self.seed)
        return _row_dots(Xn, a, b), a, b

    def _pair_sims(self, Xn: np.ndarray) -> np.ndarray:
        return self._pairs(Xn)[0]

    def fit(self, X, cannot_link=None, labels=None, must_link=None) -> SimilarityCalibration:
        """``X`` (n, d) line vectors; ``cannot_link`` (m, 2) row pairs known to be different
        speakers; ``must_link`` (m, 2) row pairs known to be one speaker; ``labels`` (n,)
        hand-given speaker ids, -1 for unlabelled lines (equal ids: one speaker, different
        ids: two)."""
        Xn = normalize_rows(X, dtype=np.float64)
        n = len(Xn)
        self.n_known_same_ = 0
        self.n_known_diff_ = 0
        if n < 4:
            self._degenerate()
            return self
        s = self._pair_sims(Xn)
        self.n_pairs_ = int(s.size)
        self._mixture(s)
        known_same, known_diff = self._known_pairs(Xn, cannot_link, labels, must_link)
        self.source_ = "mixture"
        if known_diff.size:
            self.diff_mean_, self.diff_sd_ = self._pool(self.diff_mean_, self.diff_sd_, known_diff)
            self.n_known_diff_ = int(known_diff.size)
            self.source_ = "mixture+known"
        if known_same.size:
            self.same_mean_, self.same_sd_ = self._pool(self.same_mean_, self.same_sd_, known_same)
            self.n_known_same_ = int(known_same.size)
            self.source_ = "mixture+known"
        self._finish()
        return self

    def _pool(self, mean: float, sd: float, known: np.ndarray) -> tuple[float, float]:
        """The mixture's estimate moved towards the known pairs' mean and spread, the more the
        more pairs are known (half way at ``min_known`` pairs)."""
        w = known.size / (known.size + self.min_known)
        k_sd = float(known.std()) if known.size > 1 else sd
        return (1 - w) * mean + w * float(known.mean()), max((1 - w) * sd + w * k_sd, self.min_sd)

    def _degenerate(self) -> None:
        self.n_pairs_ = 0
        self.same_mean_, self.same_sd_ = 1.0, self.min_sd
        self.diff_mean_, self.diff_sd_ = 0.0, self.min_sd
        self.same_weight_ = 0.5
        self.source_ = "degenerate"
        self._finish()

    def _mixture(self, s: np.ndarray) -> None:
        """Two-Gaussian EM on the pair cosines, started deterministically from quantiles
        (the different-speaker bulk at the median, the one-speaker tail at the 97th).

        Why binned: EM on every pair cost ~4-8 ms an iteration for a 300-line episode and
        acted episodes run all 200 iterations (0.3-1.7 s an episode, 20 s for 10k synthetic
        lines). The cosines are binned once into ``_BINS`` bins of width ~4e-4, each keeping
        its count, mean and spread, and the iterations run over the bins: a responsibility is
        read at the bin's mean (the error is second order in the bin width, the linear term
        averages out) and the M-step adds each bin's own spread back, so the fit matches the
        per-pair one to ~1e-6 (every real episode: tests/grouping/test_calibrate.py)."""
        m0, m1 = (float(q) for q in np.quantile(s, [0.5, 0.97]))  # one partition for both
        sd0 = sd1 = max(float(s.std()) / 2, self.min_sd)
        w0, w1 = 0.9, 0.1
        x, c, within = _bin_moments(s)
        # per bin: mean, mean square, 1; A @ weights gives a component's three sums at once
        A = np.stack([x, x * x + within, np.ones_like(x)])
        total = A @ c
        with np.errstate(over="ignore"):  # exp of a far bin's odds: inf, its share 0
            for _ in range(_MAX_ITER):
                # log odds of the second component at each bin's mean (Gaussian densities)
                z0 = (x - m0) * (1.0 / sd0)
                z1 = (x - m1) * (1.0 / sd1)
                odds = 0.5 * (z0 * z0 - z1 * z1) + (np.log(w1 / w0) - np.log(sd1 / sd0))
                sums1 = A @ (c / (1.0 + np.exp(-odds)))
                sums0 = total - sums1
                n0, n1 = sums0[2] + 1e-9, sums1[2] + 1e-9
                new0, new1 = sums0[0] / n0, sums1[0] / n1
                sd0 = max(np.sqrt(max(sums0[1] / n0 - new0 * new0, 0.0)), self.min_sd)
                sd1 = max(np.sqrt(max(sums1[1] / n1 - new1 * new1, 0.0)), self.min_sd)
                w1 = min(max(n1 / (n0 + n1), 1e-4), 1 - 1e-4)
                w0 = min(max(n0 / (n0 + n1), 1e-4), 1 - 1e-4)
                done = max(abs(new0 - m0), abs(new1 - m1)) < 1e-6
                m0, m1 = new0, new1
                if done:
                    break
        m, sd, w = np.array([m0, m1]), np.array([sd0, sd1]), np.array([w0, w1])
        hi = int(np.argmax(m))
        lo = 1 - hi
        self.same_mean_, self.same_sd_ = float(m[hi]), float(sd[hi])
        self.diff_mean_, self.diff_sd_ = float(m[lo]), float(sd[lo])
        self.same_weight_ = float(w[hi])

    def _known_pairs(self, Xn, cannot_link, labels, must_link) -> tuple[np.ndarray, np.ndarray]:
        def sims(pairs) -> list[np.ndarray]:
            if pairs is None or len(pairs) == 0:
                return []
            p = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
            return [np.einsum("ij,ij->i", Xn[p[:, 0]], Xn[p[:, 1]])]

        diff = sims(cannot_link)
        same = sims(must_link)
        if labels is not None:
            y = np.asarray(labels).ravel()
            lab = np.flatnonzero(y >= 0)
            if lab.size >= 2:
                # as many labelled pairs as the mixture sees, not a Gram matrix of every
                # labelled line (20,000 of them: 3.2 GB)
                s, a, b = self._pairs(Xn[lab])
                eq = y[lab][a] == y[lab][b]
                same.append(s[eq])
                diff.append(s[~eq])
        cat = lambda parts: np.concatenate(parts) if parts else np.empty(0)  # noqa: E731
        return cat(same), cat(diff)

    def _finish(self) -> None:
        pooled = np.sqrt(0.5 * (self.same_sd_**2 + self.diff_sd_**2))
        self.separation_ = float((self.same_mean_ - self.diff_mean_) / pooled)
        self.weak_ = bool(self.separation_ < self.weak_below)
        self.threshold_ = float(min(1.0, self.diff_mean_ + self.tail_z * self.diff_sd_))

    def same_probability(self, cos) -> np.ndarray:
        """P(one speaker | a pair's cosine) under the fitted mixture: calibrated in the mean,
        so its average over a set of pairs estimates the share of one-speaker pairs in it."""
        s = np.asarray(cos, dtype=np.float64)
        z1 = (s - self.same_mean_) / self.same_sd_
        z0 = (s - self.diff_mean_) / self.diff_sd_
        w = min(max(self.same_weight_, 1e-6), 1 - 1e-6)
        odds = (
            0.5 * (z0 * z0 - z1 * z1) + np.log(w / (1 - w)) - np.log(self.same_sd_ / self.diff_sd_)
        )
        return 1.0 / (1.0 + np.exp(-np.clip(odds, -50.0, 50.0)))

    # ------------------------------------------------------------------ reporting
    def evidence(self) -> dict[str, float | str | bool | int]:
        """What the calibration found, for a workspace's meta and ``castlist status``."""
        return {
            "voice_evidence": "weak" if self.weak_ else "ok",
            "separation": round(self.separation_, 2),
            "same_mean": round(self.same_mean_, 3),
            "diff_mean": round(self.diff_mean_, 3),
            "threshold": round(self.threshold_, 3),
            "source": self.source_,
        }


TUNING_SCALE = (0.08, 0.60)
"""Mean cosine of two lines of different speakers / of one speaker on the episodes the
clustering defaults were tuned on (the mixture's ``diff_mean_`` / ``same_mean_``, median of the
12 LibriSpeech pseudo-episodes of ``benchmarks/bench_grouping.py``)."""

TUNED_THRESHOLD = 0.38
"""A ``threshold_`` above this (the tuned AHC cut) says the vectors' different speakers sit
closer than the tuning set's ever did (there: 0.17-0.20)."""


@dataclass(frozen=True)
class CosineScale:
    """Where a set of vectors puts two speakers and one speaker, so that a cosine constant
    chosen on the tuning set (CAM++ on read speech) means the same on other vectors.

    Another voice model has its own scale: one whose vectors share a common direction puts
    every pair ~0.4 higher and the two means closer together. Constants carried over keep
    their place between the two means (``carry``), differences shrink with the gap between
    them (``stretch``). Vectors at least as well separated as the tuning set, and weak ones
    (their own path: over-splitting, centred vectors), keep every constant as it is."""

    diff_mean: float = TUNING_SCALE[0]
    same_mean: float = TUNING_SCALE[1]
    active: bool = False

    @classmethod
    def of(cls, diff_mean: float, same_mean: float, threshold: float, weak: bool) -> CosineScale:
        active = threshold > TUNED_THRESHOLD and not weak and same_mean > diff_mean
        return cls(float(diff_mean), float(same_mean), bool(active))

    @classmethod
    def of_calibration(cls, cal: SimilarityCalibration) -> CosineScale:
        if getattr(cal, "source_", None) == "degenerate":
            return cls()
        return cls.of(cal.diff_mean_, cal.same_mean_, cal.threshold_, cal.weak_)

    @classmethod
    def of_evidence(cls, per_episode: dict[str, dict]) -> CosineScale:
        """The median scale of a season's episodes (their stored ``evidence()``), so a season
        of one model reads its constants on one scale."""
        ev = [
            e
            for e in per_episode.values()
            if "diff_mean" in e and "same_mean" in e and e.get("source") != "degenerate"
        ]
        if not ev:
            return cls()
        med = lambda key: float(np.median([e[key] for e in ev]))  # noqa: E731
        weak = 2 * sum(e.get("voice_evidence") == "weak" for e in ev) > len(ev)
        return cls.of(med("diff_mean"), med("same_mean"), med("threshold"), weak)

    @property
    def ratio(self) -> float:
        d0, s0 = TUNING_SCALE
        return (self.same_mean - self.diff_mean) / (s0 - d0) if self.active else 1.0

    def carry(self, cos: float) -> float:
        """The cosine holding tuning-set cosine ``cos``'s place on this scale (never lower)."""
        if not self.active:
            return cos
        return max(cos, self.diff_mean + (cos - TUNING_SCALE[0]) * self.ratio)

    def stretch(self, gap: float) -> float:
        """A cosine difference chosen on the tuning set, on this scale."""
        return gap * self.ratio


TUNING = CosineScale()
"""The tuning set's own scale: every constant as it was chosen."""


def shifted_thresholds(
    params: dict[str, float],
    cal: SimilarityCalibration,
    reference: float,
    keys: tuple[str, ...],
) -> dict[str, float]:
    """``params`` with every threshold in ``keys`` raised where this episode's different
    speakers sit closer than on the tuning set (its ``threshold_`` above ``reference``, the
    episodes the defaults were tuned on); never lowered, so vectors at least as well separated
    as the tuning set keep the tuned values.

    Each is raised by how far ``threshold_`` moved, or carried to the episode's own scale
    (:class:`CosineScale`) where that is higher: raising every threshold by one amount left
    the lower ones among the different-speaker pairs of a model with a common direction
    (read-speech vectors given one: edge F1 0.970 -> 0.82; ``python
    benchmarks/bench_grouping.py --cached --only unsup --offset 0.8``)."""
    shift = float(cal.threshold_) - float(reference)
    if shift <= 0.0:
        return dict(params)
    scale = CosineScale(cal.diff_mean_, cal.same_mean_, active=True)

    def raised(v: float) -> float:
        return max(v + shift, scale.carry(v))

    return {k: (raised(v) if k in keys and v > -1.0 else v) for k, v in params.items()}
