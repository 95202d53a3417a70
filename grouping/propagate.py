"""Name propagation: a few hand-labelled lines name the rest, or abstain.

Two kinds of evidence: the line's nearest hand-labelled neighbours (similarity-weighted vote
with an "unknown" mass, so a line far from every label gets low probabilities instead of a
confident guess), and its group (one hand label inside a group is strong evidence for the
whole group, since the group was built from reliable voices). Hand labels are never changed.

Open set: every real labelling job starts with characters nobody has named yet, and a vote
among the named ones alone always finds *some* winner. So a line only takes a name when its
voice is closer to that name's evidence (its named characters' lines) than to every unnamed
character; a line nearer an unnamed character stays unnamed until a person names that
character (or the roster linker joins it to a named one).
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator

from .knn import knn_search
from .projection import LabelProjection
from .vectors import normalize_rows

__all__ = [
    "FULL_GROUP_WEIGHT",
    "NamePropagator",
    "hold_guesses",
    "label_neighbour_agreement",
    "name_probability",
    "weak_group_weight",
]


FULL_GROUP_WEIGHT = 0.9
"""``NamePropagator.group_weight`` where groups carry names fully (its default)."""


class NamePropagator(BaseEstimator):
    """Parameters: ``k`` labelled neighbours consulted; ``abstain_below`` probability under
    which ``predict`` says -1; ``min_sim`` cosine under which a neighbour is no evidence;
    ``unknown_mass`` pseudo-weight of "none of these" in the kNN vote; ``group_weight`` share
    of the group vote when the group holds hand labels (scaled by how many); ``open_set``:
    with ``groups``, a line closer (cosine to the leave-one-out centroid) to an unnamed group
    of at least ``min_unknown_size`` lines than to its best name's evidence gets no name
    (``margin`` is added to the unnamed side's similarity before comparing); ``vote``:
    ``"knn"`` (the labelled neighbours above) or ``"centroid"`` (a softmax at ``temperature``
    over the cosines to each name's mean labelled vector: for weak voice evidence, where one
    labelled neighbour is barely more likely the same voice than not, but the mean of a
    name's few labels is a steadier guide; measured on acted voices in
    ``benchmarks/bench_labels.py``); ``learned_space`` (centroid vote only): the cosines are
    read after whitening the spread within each hand-named character
    (:class:`~grouping.projection.LabelProjection`), at ``learned_temperature``, once at least
    two characters have repeated labels (before that, plain cosines at ``temperature``).

    Fitted: ``classes_``, ``proba_`` (n, c) for the training lines, ``labelled_`` mask,
    ``projection_`` (the learned space, None unless asked for; its ``identity_`` says whether
    it is in use),
    ``held_back_`` mask of lines the open-set rule kept unnamed, and (with ``groups``) the
    two sides of its comparison, ``named_sim_`` and ``unknown_sim_``."""

    def __init__(
        self,
        *,
        k: int = 10,
        abstain_below: float = 0.5,
        min_sim: float = 0.3,
        unknown_mass: float = 0.5,
        group_weight: float = FULL_GROUP_WEIGHT,
        open_set: bool = True,
        min_unknown_size: int = 3,
        margin: float = 0.0,
        vote: str = "knn",
        temperature: float = 0.05,
        learned_space: bool = False,
        learned_temperature: float = 0.1,
    ):
        self.k = k
        self.abstain_below = abstain_below
        self.min_sim = min_sim
        self.unknown_mass = unknown_mass
        self.group_weight = group_weight
        self.open_set = open_set
        self.min_unknown_size = min_unknown_size
        self.margin = margin
        self.vote = vote
        self.temperature = temperature
        self.learned_space = learned_space
        self.learned_temperature = learned_temperature

    def fit(self, X, y, groups=None, anchored=None):
        """``groups`` (n,) character per line (-1: none); ``anchored`` (n,) bool: lines the
        open-set rule never holds back. The caller passes the lines that built a group a hand
        name speaks for: the group is their evidence, whatever small unnamed group their voice
        also sits near (on a pseudo-episode the rule left 10 lines of a named 178-line group
        unnamed). Lines that merely joined such a group stay under the rule: after a group is
        named, what joins it next is where names used to leak."""
        Xn = normalize_rows(X)
        y = np.asarray(y, dtype=np.int64).ravel()
        n = len(Xn)
        if y.size != n:
            raise ValueError(f"y has {y.size} labels for {n} lines")
        if self.vote not in ("knn", "centroid"):
            raise ValueError(f"vote must be 'knn' or 'centroid', not {self.vote!r}")
        lab = np.flatnonzero(y >= 0)
        self.classes_ = np.unique(y[lab])
        c = self.classes_.size
        self.labelled_ = y >= 0
        self._X_lab, self._y_lab = Xn[lab], np.searchsorted(self.classes_, y[lab])
        learn = self.learned_space and self.vote == "centroid"
        self.projection_ = LabelProjection().fit(Xn, y) if learn else None
        P = self._vote_proba(Xn)
        self.held_back_ = np.zeros(n, bool)
        self.named_sim_ = np.full(n, np.inf)
        self.unknown_sim_ = np.full(n, -np.inf)
        if groups is not None:
            grp = np.asarray(groups, dtype=np.int64).ravel()
            if grp.size != n:
                raise ValueError(f"groups has {grp.size} entries for {n} lines")
            P = self._with_groups(P, grp, y)
            if c:
                self.named_sim_, self.unknown_sim_ = self._open_set_sims(Xn, y, grp, P)
            if self.open_set and c:
                closer = self.unknown_sim_ + self.margin > self.named_sim_
                self.held_back_ = closer & (P.max(1) > 0) & (y < 0)
                if anchored is not None:
                    self.held_back_ &= ~np.asarray(anchored, dtype=bool).ravel()
                P[self.held_back_] = 0.0
        if lab.size:
            P[lab] = 0.0
            P[lab, self._y_lab] = 1.0
        self.proba_ = P if c else np.zeros((n, 0))
        return self

    def _vote_proba(self, Xq: np.ndarray) -> np.ndarray:
        return self._centroid_proba(Xq) if self.vote == "centroid" else self._knn_proba(Xq)

    def _centroid_proba(self, Xq: np.ndarray) -> np.ndarray:
        c = self.classes_.size
        if c == 0 or len(self._X_lab) == 0:
            return np.zeros((len(Xq), c))
        X_lab, temperature = self._X_lab, self.temperature
        if self.projection_ is not None and not self.projection_.identity_:
            Xq, X_lab = (self.projection_.transform(v).astype(np.float64) for v in (Xq, X_lab))
            temperature = self.learned_temperature
        C = np.zeros((c, Xq.shape[1]))
        np.add.at(C, self._y_lab, X_lab)
        C = normalize_rows(C)
        z = (Xq @ C.T) / temperature
        z -= z.max(1, keepdims=True)
        P = np.exp(z)
        return P / P.sum(1, keepdims=True)

    def _knn_proba(self, Xq: np.ndarray) -> np.ndarray:
        c = self.classes_.size
        P = np.zeros((len(Xq), c))
        if c == 0 or len(self._X_lab) == 0:
            return P
        idx, sim = knn_search(Xq, self._X_lab, min(self.k, len(self._X_lab)))
        w = np.where((idx >= 0) & (sim >= self.min_sim), sim - self.min_sim, 0.0)
        w = w / (1.0 - self.min_sim)
        cls = self._y_lab[np.maximum(idx, 0)]
        rows = np.repeat(np.arange(len(Xq)), idx.shape[1])
        np.add.at(P, (rows, cls.ravel()), w.ravel())
        return P / (P.sum(1, keepdims=True) + self.unknown_mass)

    def _with_groups(self, P: np.ndarray, grp: np.ndarray, y: np.ndarray) -> np.ndarray:
        c = self.classes_.size
        ok = (grp >= 0) & (y >= 0)
        if not ok.any() or c == 0:
            return P
        G = grp.max() + 1
        counts = np.zeros((G, c))
        np.add.at(counts, (grp[ok], np.searchsorted(self.classes_, y[ok])), 1.0)
        n_lab = counts.sum(1)
        group_p = counts / np.maximum(n_lab, 1)[:, None]
        lam = self.group_weight * n_lab / (n_lab + 0.25)  # 1 label: 0.8 * group_weight
        has = grp >= 0
        out = P.copy()
        lam_line = lam[grp[has]][:, None]
        out[has] = (1 - lam_line) * P[has] + lam_line * group_p[grp[has]]
        return out

    def known_share(self) -> np.ndarray:
        """Per training line, P(its voice is its best name's rather than an unnamed
        character's): a softmax at ``temperature`` between the cosine to the name's evidence
        and to the nearest unnamed group (1 where no unnamed group competes). A vote among the
        named characters alone says 100% when one name is known."""
        with np.errstate(invalid="ignore"):  # -inf - -inf: no side at all, NaN -> sure
            gap = (self.unknown_sim_ - self.named_sim_) / self.temperature
        gap = np.nan_to_num(gap, nan=-50.0)
        out = 1.0 / (1.0 + np.exp(np.clip(gap, -50.0, 50.0)))
        out[self.labelled_] = 1.0
        return out

    def _open_set_sims(
        self, Xn: np.ndarray, y: np.ndarray, grp: np.ndarray, P
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per line, the cosine to its best name's evidence and to the nearest unnamed group
        of ``min_unknown_size`` lines (-inf: none); the open-set rule compares the two.

        A name's evidence is every line of the groups that hold that name (a group holding
        labels is named by its majority) plus its labelled lines outside any group. Both sides
        are centroids without the line itself, so a line's own group counts for it only
        through its other members."""
        n, c = len(Xn), self.classes_.size
        lab = y >= 0
        G = int(grp.max(initial=-1)) + 1
        cls_of_group = np.full(G, -1)
        if G:
            ok = (grp >= 0) & lab
            counts = np.zeros((G, c))
            np.add.at(counts, (grp[ok], np.searchsorted(self.classes_, y[ok])), 1.0)
            has = counts.sum(1) > 0
            cls_of_group[has] = counts[has].argmax(1)
        # each line's name-evidence class (-1: none) and unnamed group (-1: none)
        line_cls = np.where(grp >= 0, cls_of_group[np.maximum(grp, 0)], -1)
        free = lab & (grp < 0)
        line_cls[free] = np.searchsorted(self.classes_, y[free])
        S = np.zeros((c, Xn.shape[1]))
        np.add.at(S, line_cls[line_cls >= 0], Xn[line_cls >= 0])
        unnamed_line = (grp >= 0) & (line_cls < 0)
        sizes = np.bincount(grp[unnamed_line], minlength=G) if G else np.zeros(0, int)
        big = np.flatnonzero(sizes >= self.min_unknown_size)
        best = P.argmax(1)
        s_named = _loo_cos(Xn, S[best], own=line_cls == best)
        if big.size == 0:
            return s_named, np.full(n, -np.inf)
        U = np.zeros((G, Xn.shape[1]))
        np.add.at(U, grp[unnamed_line], Xn[unnamed_line])
        U = U[big]
        pos = np.full(G, -1)
        pos[big] = np.arange(big.size)
        own_u = np.where(unnamed_line, pos[np.maximum(grp, 0)], -1)
        rows = np.flatnonzero(own_u >= 0)
        dots = Xn.astype(np.float64) @ U.T
        norms2 = np.broadcast_to((U * U).sum(1), dots.shape).copy()
        cols = own_u[rows]
        # leave the line out of its own unnamed group's centroid (unit rows: x.x = 1)
        norms2[rows, cols] = np.maximum(norms2[rows, cols] - 2 * dots[rows, cols] + 1.0, 0.0)
        dots[rows, cols] -= 1.0
        s_unknown = (dots / np.sqrt(np.maximum(norms2, 1e-12))).max(1)
        return s_named, s_unknown

    def predict_proba(self, X=None) -> np.ndarray:
        """(n, n_classes). Without ``X``: the training lines (with group evidence); with ``X``:
        new lines by kNN evidence only."""
        if X is None:
            return self.proba_
        return self._vote_proba(normalize_rows(X))

    def predict(self, X=None) -> np.ndarray:
        P = self.predict_proba(X)
        if P.shape[1] == 0:
            return np.full(len(P), -1, np.int64)
        best = P.argmax(1)
        out = self.classes_[best].astype(np.int64)
        out[(P.max(1) < self.abstain_below) | (P.max(1) <= 0)] = -1
        return out


def _loo_cos(Xn: np.ndarray, sums: np.ndarray, own: np.ndarray) -> np.ndarray:
    """Row-wise cosine of each unit line to a centroid given by its sum, leaving the line out
    of the sum where ``own`` says it is in it (-inf where nothing is left)."""
    sums = np.array(sums, dtype=np.float64, copy=True)
    sums[own] -= Xn[own]
    norm = np.linalg.norm(sums, axis=1)
    out = np.full(len(Xn), -np.inf)
    ok = norm > 1e-9
    out[ok] = np.einsum("ij,ij->i", Xn[ok], sums[ok]) / norm[ok]
    return out


AGREEMENT_PRIOR = (0.5, 5.0)
"""(share, pseudo-lines) the labelled lines' neighbour agreement starts from: a coin flip worth
five lines, so two or three lucky labels cannot open the gate of :func:`weak_group_weight`."""

WEAK_GROUP_GATE = (0.65, 0.9)
"""Neighbour agreement at which a weak season's groups start to carry names, and at which they
carry them fully (``group_weight`` 0.9). Measured on the acted benchmark
(``python benchmarks/bench_review.py --acted ...``): with CAM++ the agreement of the answered
lines stays at 0.30-0.62 (leave-one-out 1-NN over all lines 0.28-0.59), so nothing changes;
with the voices given a speaker signal (``--speaker-signal 0.7``, 1-NN 0.84-0.95) it reaches
0.7-0.85 while the pair cosines still call the season weak."""


def label_neighbour_agreement(X, y, prior: tuple[float, float] = AGREEMENT_PRIOR) -> float:
    """How often a hand-labelled line's nearest other labelled line carries its name, over the
    lines whose name has at least two labels, smoothed by ``prior`` (share, pseudo-lines).

    Why: a season whose pair cosines overlap (acted voices) may still have voices whose nearest
    neighbours are mostly the same speaker (a better voice model on the same voices). The pair
    statistics cannot tell those apart; the labels can, and cannot-links cut groups around
    them, so agreement *inside* groups says nothing, while the nearest labelled line is found
    on the vectors alone."""
    Xn = normalize_rows(X)
    y = np.asarray(y, dtype=np.int64).ravel()
    lab = np.flatnonzero(y >= 0)
    share, weight = prior
    if lab.size < 2:
        return float(share)
    counts = np.bincount(y[lab])
    ask = lab[counts[y[lab]] >= 2]
    if ask.size == 0:
        return float(share)
    S = Xn[ask] @ Xn[lab].T
    S[np.arange(ask.size), np.searchsorted(lab, ask)] = -np.inf  # not itself
    hits = float(np.sum(y[lab][S.argmax(1)] == y[ask]))
    return (hits + share * weight) / (ask.size + weight)


def weak_group_weight(agreement: float, gate: tuple[float, float] = WEAK_GROUP_GATE) -> float:
    """``NamePropagator.group_weight`` for a weak season from :func:`label_neighbour_agreement`:
    0 below ``gate[0]`` (where a group of acted voices is one voice in three and a name given
    to one line must not spread over it), rising to ``FULL_GROUP_WEIGHT`` at ``gate[1]``."""
    lo, hi = gate
    return float(np.clip((agreement - lo) / (hi - lo), 0.0, 1.0)) * FULL_GROUP_WEIGHT


GUESS_HOLD = 0.4
"""A guess keeps the name it had while that name's probability is within this share of the
best one's. On weak voice evidence every probability is low and flat (0.1-0.4), so one answer
re-drew the names of lines it says nothing about: the first label of a new name pulled 10-14
lines of other voices to it, and the share of right names fell by up to 9 points in one answer.
Acted benchmark, simulated review of the six episodes at six speaker-signal strengths, 0 (CAM++
as it is) to 1.0 (``bench_review.py --acted ... --speaker-signal A``; measured with group
questions still worth all their lines, see ``pipelines.stages.season.WEAK_REACH``): mean
ops/100 lines to 100% right names and mean worst single-answer drop, without holding 48.7 and
2.50 points (33 of 36 episodes above 0.5); holding at 0.2 / 0.3 / 0.4 / 0.5 / 0.6: 48.7 / 48.3 / 48.2 / 47.7 /
48.6 ops and 1.48 / 1.07 / 0.65 / 0.37 / 0.52 points; 0.5 and up cost CAM++ as it is 5-7 ops
(61.7, 63.4 against 56.8 at 0.4)."""


def hold_guesses(
    pred: np.ndarray,
    proba: np.ndarray,
    classes: np.ndarray,
    previous: np.ndarray,
    labelled: np.ndarray,
    hold: float = GUESS_HOLD,
) -> tuple[np.ndarray, np.ndarray]:
    """``pred`` (name index per line) with each unlabelled line's ``previous`` name (-1: none)
    kept where its probability (``proba`` columns: ``classes``) is at least ``1 - hold``
    times the line's best, and the mask of the lines whose name was kept that way."""
    out = np.asarray(pred, dtype=np.int64).copy()
    previous = np.asarray(previous, dtype=np.int64)
    col = np.searchsorted(classes, previous)
    known = (previous >= 0) & (col < classes.size)
    known[known] &= classes[col[known]] == previous[known]
    rows = np.flatnonzero(known & ~np.asarray(labelled, dtype=bool) & (out != previous))
    keep = proba[rows, col[rows]] >= (1.0 - hold) * proba[rows].max(1)
    out[rows[keep]] = previous[rows[keep]]
    held = np.zeros(len(out), bool)
    held[rows[keep]] = True
    return out, held


def name_probability(proba: np.ndarray, classes: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Per line, the probability (``proba`` columns: ``classes``) of the name ``pred`` gives
    it (0 where it gives none): a held guess is as sure as its own name, not the best one."""
    pred = np.asarray(pred, dtype=np.int64)
    out = np.zeros(len(pred))
    has = pred >= 0
    out[has] = proba[np.flatnonzero(has), np.searchsorted(classes, pred[has])]
    return out
