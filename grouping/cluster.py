"""Reliable-first clustering of one episode's (or any set of) line vectors.

Why reliable first: short or noisy lines have vectors that sit between speakers; if they take
part in building groups they chain two characters together. So groups are built only from
reliable lines; every other line may join the group it most resembles, one at a time, and only
when the resemblance clears ``attach_threshold`` and breaks no cannot-link. An unreliable line
therefore never creates a group and never bridges two. Human must-links merge groups; cannot-
links are never violated (a group that would hold both ends is split, an attachment that would
is refused).
"""

from __future__ import annotations

import logging

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import pdist
from sklearn.base import BaseEstimator, ClusterMixin

from .calibrate import SimilarityCalibration, shifted_thresholds
from .constraints import Constraints, UnionFind
from .knn import knn, knn_search
from .vectors import centre_rows, normalize_rows

__all__ = ["ReliableFirstClustering", "cluster_core", "enforce_cannot_links", "relabel"]

log = logging.getLogger(__name__)

DENSE_MAX = 6000


def relabel(labels: np.ndarray) -> np.ndarray:
    """Consecutive ids 0..g-1, biggest group first; -1 stays -1."""
    labels = np.asarray(labels, dtype=np.int64)
    out = np.full_like(labels, -1)
    keep = labels >= 0
    if not keep.any():
        return out
    uniq, inv, counts = np.unique(labels[keep], return_inverse=True, return_counts=True)
    order = np.lexsort((uniq, -counts))  # size desc, then old id
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    out[keep] = rank[inv]
    return out


def cluster_core(
    X: np.ndarray,
    method: str,
    threshold: float,
    min_cluster_size: int,
    k: int,
    min_samples: int | None = None,
    cluster_selection_epsilon: float = 0.0,
    dense_max: int = DENSE_MAX,
) -> tuple[np.ndarray, np.ndarray]:
    """Cluster unit rows; returns (labels with -1 noise, membership strength in [0, 1]).

    ``ahc``: average linkage on cosine distance, cut at similarity ``threshold``; groups under
    ``min_cluster_size`` become noise. ``hdbscan``: HDBSCAN on precomputed cosine distance.
    Above ``dense_max`` rows both run on the sparse kNN graph instead of the full matrix."""
    n = len(X)
    if n == 0:
        return np.empty(0, np.int64), np.empty(0)
    if n == 1:
        lab = np.array([0 if min_cluster_size <= 1 else -1])
        return lab, (lab >= 0).astype(float)
    if method == "ahc":
        if n <= dense_max:
            Z = linkage(pdist(X, metric="cosine"), method="average")
            lab = fcluster(Z, t=1.0 - threshold, criterion="distance").astype(np.int64) - 1
        else:
            from sklearn.cluster import AgglomerativeClustering

            idx, _ = knn(X, min(k, n - 1))
            from scipy import sparse

            rows = np.repeat(np.arange(n), idx.shape[1])
            conn = sparse.csr_matrix((np.ones(rows.size), (rows, idx.ravel())), shape=(n, n))
            lab = AgglomerativeClustering(
                n_clusters=None,
                distance_threshold=1.0 - threshold,
                metric="cosine",
                linkage="average",
                connectivity=conn,
            ).fit_predict(X)
        counts = np.bincount(lab)
        lab = np.where(counts[lab] >= min_cluster_size, lab, -1)
        return lab, (lab >= 0).astype(float)
    if method == "hdbscan":
        import hdbscan

        mcs = max(2, int(min_cluster_size))
        params = dict(
            metric="precomputed",
            min_cluster_size=mcs,
            min_samples=min_samples,
            cluster_selection_epsilon=float(cluster_selection_epsilon),
            allow_single_cluster=False,
        )
        if n <= dense_max:
            D = np.clip(1.0 - (X @ X.T).astype(np.float64), 0.0, 2.0)
            np.fill_diagonal(D, 0.0)
        else:
            from scipy import sparse

            idx, sim = knn(X, min(k, n - 1))
            rows = np.repeat(np.arange(n), idx.shape[1])
            d = np.clip(1.0 - sim.ravel().astype(np.float64), 1e-6, 2.0)
            D = sparse.csr_matrix((d, (rows, idx.ravel())), shape=(n, n))
            D = D.maximum(D.T).tocsr()
        model = hdbscan.HDBSCAN(**params).fit(D)
        return model.labels_.astype(np.int64), np.asarray(model.probabilities_, dtype=float)
    raise ValueError(f"unknown clustering method {method!r}; use 'ahc' or 'hdbscan'")


def _merge_must_links(
    labels: np.ndarray, comp: np.ndarray, X: np.ndarray | None = None, merge_above: float = -1.0
) -> np.ndarray:
    """Every must-link component ends in one group.

    The component's lines go to the group where one of them is most typical (a new group when
    none had one). Another group holding some of its lines is merged in whole only when the two groups'
    mean vectors agree (cosine >= ``merge_above``); otherwise just the component's lines move.
    Why: one hand-named line that had been clustered with another speaker must not drag that
    speaker's whole group along, while a character split in two groups should become one."""
    labels = labels.copy()
    sizes = np.bincount(comp)
    multi = np.flatnonzero(sizes > 1)
    if multi.size == 0:
        return labels
    before = labels.copy()
    next_label = labels.max(initial=-1) + 1
    uf = UnionFind(next_label + multi.size)
    cent: dict[int, np.ndarray] = {}

    def centroid(lab: int) -> np.ndarray:
        if lab not in cent:
            cent[lab] = normalize_rows(X[before == lab].sum(0), dtype=None)
        return cent[lab]

    group_sizes = np.bincount(before[before >= 0])
    for c in multi:
        members = np.flatnonzero(comp == c)
        labs, counts = np.unique(before[members], return_counts=True)
        keep = labs >= 0
        labs, counts = labs[keep], counts[keep]
        if labs.size == 0:
            labels[members] = next_label
            next_label += 1
            continue
        # the group where one of its lines is most typical, not the one holding most of them:
        # the hand-named lines of a voice gather its strays (lines it said elsewhere, named one
        # by one in a review). Moving them all into the group of two strays left the voice's
        # own 50-line group without its hand-named line, and unnamed (-16 points in one
        # answer); moving them into the biggest group moved a voice's named line into another
        # voice's 147-line group that held one of its strays. A line's cosine to its group's
        # mean without it is higher the more lines of its voice the mean holds, so a typical
        # line of a big group wins over a pair of strays. But a pair's cosine is one sample,
        # not a mean: a tight pair of one voice's strays (0.89) outranked the voice's 10-line
        # group (0.70) and took its only hand-named line, leaving it unnamed (-0.8 points in
        # one review answer). So groups of three or more lines come first.
        group_size = group_sizes[labs]
        typical = np.array([_best_fit(X, before, members, int(lab)) for lab in labs])
        ties = -np.arange(labs.size)  # then the bigger group, then the first
        target = int(labs[np.lexsort((ties, group_size, typical, group_size >= 3))[-1]])
        for lab in labs:
            if lab == target:
                continue
            if X is None or float(centroid(int(lab)) @ centroid(target)) >= merge_above:
                uf.union(target, int(lab))
        labels[members] = target
    assigned = labels >= 0
    labels[assigned] = [uf.find(int(v)) for v in labels[assigned]]
    return labels


def _best_fit(X: np.ndarray | None, labels: np.ndarray, members: np.ndarray, lab: int) -> float:
    """Cosine of the most typical of ``members`` in group ``lab`` to the rest of that group
    (-1 for a group of one line, 0 without vectors)."""
    if X is None:
        return 0.0
    inside = members[labels[members] == lab]
    group = X[labels == lab]
    if len(group) < 2:
        return -1.0
    rest = normalize_rows(group.sum(0)[None, :] - X[inside], dtype=None)
    return float(np.einsum("ij,ij->i", X[inside], rest).max())


def _rejoin_must_links(
    labels: np.ndarray, comp: np.ndarray, X: np.ndarray, cons: Constraints, merge_above: float
) -> np.ndarray:
    """Labels where every must-link component that ended in several groups (or partly in
    none) is one group again (the group :func:`_merge_must_links` picks), or a new group of
    its own when a cannot-link pushes it out of that one."""
    split = [
        c for c in np.flatnonzero(np.bincount(comp) > 1) if np.unique(labels[comp == c]).size > 1
    ]
    if not split:
        return labels
    labels = _merge_must_links(labels, comp, X, merge_above)
    labels = enforce_cannot_links(labels, X, cons, comp)
    for c in split:
        members = np.flatnonzero(comp == c)
        if (labels[members] < 0).any():
            labels[members] = labels.max(initial=-1) + 1
    return labels


def _partner_units(cl: np.ndarray, comp: np.ndarray, unit: int) -> np.ndarray:
    """The must-link units holding a cannot-link partner of a line of ``unit``."""
    ca, cb = comp[cl[:, 0]], comp[cl[:, 1]]
    return np.unique(np.concatenate([cb[ca == unit], ca[cb == unit]]))


def enforce_cannot_links(
    labels: np.ndarray, X: np.ndarray, cons: Constraints, comp: np.ndarray
) -> np.ndarray:
    """Resolve every group that holds both ends of a cannot-link: the worse-fitting end leaves
    the group when it is a lone line (label -1), otherwise the group is split.

    The side of ``b`` starts as b's must-link unit alone and the side of ``a`` as the rest of
    the group, then each other unit goes to the side whose (normalised) mean it is closer to,
    for a few rounds. Starting from the whole rest of the group (not from ``a`` alone) matters:
    the usual violation is one stray line in a big group, and two single seed vectors would
    cut the big group in halves."""
    labels = labels.copy()
    cl = cons.cannot_link
    if len(cl) == 0:
        return labels
    next_label = labels.max(initial=-1) + 1
    unit_size = np.bincount(comp)
    for _ in range(len(labels) + 1):
        la, lb = labels[cl[:, 0]], labels[cl[:, 1]]
        bad = np.flatnonzero((la == lb) & (la >= 0))
        if bad.size == 0:
            return labels
        a, b = cl[bad[0]]
        members = np.flatnonzero(labels == labels[a])
        # a lone line that fits the group worse than its partner just leaves it (it may still
        # attach elsewhere): the usual case is one stray line, and cutting the group would halve
        # a main character. A unit fits as well as its most typical line: a stray line named by
        # hand is tied to its voice's named line, and judged by their mean the pair left the
        # voice's own 86-line group over one overlap, taking the group's name along (-22 points)
        total = X[members].sum(0)
        fit = {}
        for v in (a, b):
            unit = members[comp[members] == comp[v]]
            rest = normalize_rows(total - X[unit].sum(0), dtype=None)
            fit[int(v)] = (float((X[unit] @ rest).max()), unit)
        worse = min(fit, key=lambda v: fit[v][0])
        unit = fit[worse][1]
        if 3 * unit.size <= members.size:
            labels[unit] = -1  # a stray line or a small named unit leaves; it may attach elsewhere
            continue
        units, inv = np.unique(comp[members], return_inverse=True)
        means = np.zeros((units.size, X.shape[1]))
        np.add.at(means, inv, X[members])
        ua = int(np.searchsorted(units, comp[a]))
        ub = int(np.searchsorted(units, comp[b]))
        side_b = np.zeros(units.size, bool)
        side_b[ub] = True
        # every unit a cannot-link keeps from a's unit goes to b's side and the other way round:
        # a moved line carries one cannot-link per line of the group it left, and splitting on
        # one pair at a time shattered that group (15 lines into 5 pieces)
        with_b = np.isin(units, _partner_units(cl, comp, comp[a]))
        with_a = np.isin(units, _partner_units(cl, comp, comp[b]))
        # a stray line: one look; two human-made units: settle like 2-means
        rounds = 5 if unit_size[comp[a]] > 1 and unit_size[comp[b]] > 1 else 1
        for _round in range(rounds):
            ca = normalize_rows(means[~side_b].sum(0), dtype=None)
            cb = normalize_rows(means[side_b].sum(0), dtype=None)
            normed = normalize_rows(means, dtype=None)
            new = normed @ cb > normed @ ca
            new[with_b], new[with_a] = True, False
            new[ua], new[ub] = False, True
            if np.array_equal(new, side_b):
                break
            side_b = new
        labels[members[side_b[inv]]] = next_label
        next_label += 1
    raise RuntimeError("cannot-link splitting did not converge")


def _group_scores(
    cand_group: np.ndarray, cand_sim: np.ndarray, top_m: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """From each candidate's neighbour groups and similarities (nc, K), the mean of its top-m
    similarities per group. Returns flat (candidate row, group, score) triples."""
    nc, K = cand_group.shape
    row = np.repeat(np.arange(nc), K)
    grp = cand_group.ravel()
    sim = cand_sim.ravel().astype(np.float64)
    ok = (grp >= 0) & np.isfinite(sim)
    row, grp, sim = row[ok], grp[ok], sim[ok]
    order = np.lexsort((-sim, grp, row))
    row, grp, sim = row[order], grp[order], sim[order]
    key = row * (grp.max(initial=0) + 1) + grp
    start = np.r_[0, np.flatnonzero(np.diff(key)) + 1]
    rank = np.arange(key.size) - np.repeat(start, np.diff(np.r_[start, key.size]))
    keep = rank < top_m
    key, row, grp, sim = key[keep], row[keep], grp[keep], sim[keep]
    uk, first, inv = np.unique(key, return_index=True, return_inverse=True)
    score = np.bincount(inv, weights=sim) / np.bincount(inv)
    return row[first], grp[first], score


class ReliableFirstClustering(ClusterMixin, BaseEstimator):
    """Group lines by voice, building groups from reliable lines only.

    Parameters
    ----------
    min_cluster_size: smallest group the core clustering may create from reliable lines.
    k: neighbours looked at when attaching a line (and for the sparse large-n paths).
    reliability_threshold: lines with reliability below it never build groups.
    reliable_attach_threshold: the same bar for reliable lines the core left out. Higher,
        because a clean vector far from every group is evidence of another (one-off) speaker.
    attach_threshold: mean cosine of a line to its ``top_m`` most similar members of a group
        needed to join that group. Tuned on CAM++-like vectors; recalibrate for another model.
    method: core clustering, ``"ahc"`` (average linkage, cut at ``core_threshold``) or
        ``"hdbscan"`` (precomputed cosine distance; ``min_samples``,
        ``cluster_selection_epsilon`` passed through).
    core_threshold: average-linkage cosine similarity at which AHC stops merging.
    leftover: what happens to reliable lines that neither formed nor joined a group:
        ``"cluster"`` (AHC among themselves at ``leftover_threshold``; singletons allowed, so a
        one-off character gets a group), ``"singleton"`` (one group each) or ``"noise"`` (-1).
    top_m: how many best members of a group score an attaching line.
    must_merge_threshold: two groups a must-link spans are merged whole only when their mean
        vectors reach this cosine; below it only the must-linked lines move (-1: always merge).
    calibrate: fit a :class:`~grouping.calibrate.SimilarityCalibration` on the data (with the
        constraints as known pairs) and raise every threshold above by how far its merge
        threshold (the tail of the different-speaker pairs) lies above
        ``calibration_reference``. The thresholds above stay as they are for vectors at least
        as well separated as the tuning set; a model or episode whose different speakers sit
        closer (acted voices, noise) raises them all, so the episode over-splits instead of
        merging everyone.
        When the calibration finds the voice evidence weak, the episode's mean vector is
        removed first, the thresholds follow the centred vectors' calibration (up or down) and
        every line may build groups: on acted voices this lowered ops/100 by ~7 against the
        raw-cosine calibration at a similar edge F1 (``benchmarks/bench_acted.py``).
    calibration_reference: the calibrated threshold the parameters correspond to (None: the
        ``core_threshold`` itself).
    weak_strategy: what ``calibrate`` does when the evidence is weak: ``"centre"`` (above) or
        ``"raise"`` (only raise the thresholds, as for any other episode).
    tail_z: the calibration's ``tail_z`` (see :class:`~grouping.calibrate.SimilarityCalibration`).

    The defaults are what ``castlist run`` uses, chosen on real CAM++ vectors of
    pseudo-episodes holding one series out at a time (``python benchmarks/bench_grouping.py
    --tune``): every held-out series picked reliability 0.85 (group cores are lines over
    ~1.4 s), attaching by the single most similar core line (top_m 1), 0.45 for reliable lines
    the core left out, and core 0.38 (0.35 with Angel Beats! held out). Against the previous
    core 0.4 / attach 0.3 / top_m 3 this lowered ops/100 on every series (mean 4.2 -> 3.9); mean
    edge F1 0.969 -> 0.970 (each series within 0.002), mean accuracy with 1 / 3 hand labels per
    voice 0.963 -> 0.964 / 0.973 -> 0.975. Attaching every other line unconditionally (attach
    -1) is the unsupervised optimum by a hair (3.88 vs 3.91 ops/100) but lowers edge F1 and
    once put stray lines into wrong groups that then carried hand names across the season (edge
    F1 0.80 vs 0.96 on one series with one label per voice), so a bar (0.25) stays. A
    hand-named line clustered with another voice moves alone instead of merging the two groups
    (``must_merge_threshold`` 0.5). ``calibrate``: these thresholds hold for vectors as well
    separated as the LibriSpeech pseudo-episodes; each episode's own similarity distribution
    raises them where different voices sit closer (acted voices: ~0.47 instead of 0.38), so
    such an episode over-splits instead of merging into a few giant groups (``python
    benchmarks/bench_acted.py``).

    Attributes
    ----------
    labels_ (n,) group per line, -1 unassigned; probabilities_ (n,) membership strength in
    [0, 1] (0 for -1); reliable_ (n,) bool; core_ (n,) bool lines that built groups;
    attached_ (n,) bool lines that joined an existing group; n_groups_; thresholds_ the
    thresholds used (dict, the parameters' names); calibration_ the fitted calibration (None
    without ``calibrate``).
    """

    _CALIBRATED = (
        "core_threshold",
        "attach_threshold",
        "reliable_attach_threshold",
        "leftover_threshold",
        "must_merge_threshold",
    )

    def __init__(
        self,
        *,
        min_cluster_size: int = 1,
        k: int = 15,
        reliability_threshold: float = 0.85,
        attach_threshold: float = 0.25,
        method: str = "ahc",
        core_threshold: float = 0.38,
        min_samples: int | None = None,
        cluster_selection_epsilon: float = 0.0,
        leftover: str = "cluster",
        leftover_threshold: float = 0.45,
        reliable_attach_threshold: float = 0.45,
        top_m: int = 1,
        dense_max: int = DENSE_MAX,
        must_merge_threshold: float = 0.5,
        calibrate: bool = True,
        calibration_reference: float | None = None,
        weak_strategy: str = "centre",
        tail_z: float = 1.0,
    ):
        self.min_cluster_size = min_cluster_size
        self.k = k
        self.reliability_threshold = reliability_threshold
        self.attach_threshold = attach_threshold
        self.method = method
        self.core_threshold = core_threshold
        self.min_samples = min_samples
        self.cluster_selection_epsilon = cluster_selection_epsilon
        self.leftover = leftover
        self.leftover_threshold = leftover_threshold
        self.reliable_attach_threshold = reliable_attach_threshold
        self.top_m = top_m
        self.dense_max = dense_max
        self.must_merge_threshold = must_merge_threshold
        self.calibrate = calibrate
        self.calibration_reference = calibration_reference
        self.weak_strategy = weak_strategy
        self.tail_z = tail_z

    def _calibrate(self, Xn: np.ndarray, cons: Constraints) -> tuple[np.ndarray, dict, bool]:
        """(vectors to cluster, thresholds, weak). Strong evidence: the tuned thresholds, raised
        when this episode's merge threshold lies above the reference. Weak evidence: the
        episode's mean vector is removed first (what every line shares, the music bed, the
        language, the acted register, drowns the speaker in the raw cosine), then the
        thresholds follow the calibration of the centred vectors, up or down."""
        params = {k: float(getattr(self, k)) for k in self._CALIBRATED}
        self.calibration_ = None
        self.centred_calibration_ = None
        if not self.calibrate:
            return Xn, params, False
        # cannot-links are not read as known different-speaker pairs: most come from lines
        # overlapping in time, whose audio holds both voices, so their vectors sit close
        # (LibriSpeech pseudo-episodes: cosine 0.40-0.65 against 0.05-0.09 for two speakers,
        # 0-11% of them one voice); pooled in, they dragged the different-speaker estimate to
        # ~0.4 and made every read-speech episode "weak" (edge F1 0.96 -> 0.55).
        cal = SimilarityCalibration(tail_z=self.tail_z).fit(Xn, must_link=cons.must_link)
        self.calibration_ = cal
        ref = self.calibration_reference
        ref = self.core_threshold if ref is None else ref
        if not cal.weak_ or self.weak_strategy == "raise":
            return Xn, shifted_thresholds(params, cal, ref, self._CALIBRATED), False
        Xc = centre_rows(Xn)
        cen = SimilarityCalibration(tail_z=self.tail_z).fit(Xc, must_link=cons.must_link)
        self.centred_calibration_ = cen
        shift = cen.threshold_ - ref
        params = {k: (v + shift if v > -1.0 else v) for k, v in params.items()}
        return Xc, params, True

    def fit(
        self,
        X,
        reliability=None,
        constraints: Constraints | None = None,
        calibration_constraints: Constraints | None = None,
    ):
        """``calibration_constraints``: the known pairs ``calibrate`` may learn from (default:
        ``constraints``). Pairs a person cut apart (split, separate) are pairs the voices
        confused, not a sample of different speakers: fifteen of them from one split moved
        the calibration enough to shatter a whole episode into single lines."""
        Xn = normalize_rows(X)
        n = len(Xn)
        if self.weak_strategy not in ("centre", "raise"):
            raise ValueError(
                f"weak_strategy must be 'centre' or 'raise', not {self.weak_strategy!r}"
            )
        if self.leftover not in ("cluster", "singleton", "noise"):
            raise ValueError(
                f"leftover must be 'cluster', 'singleton' or 'noise', not {self.leftover!r}"
            )
        r = np.ones(n) if reliability is None else np.asarray(reliability, dtype=float).ravel()
        if r.size != n:
            raise ValueError(f"reliability has {r.size} values for {n} lines")
        cons = constraints if constraints is not None else Constraints()
        if len(cons) and (
            cons.must_link.max(initial=-1) >= n or cons.cannot_link.max(initial=-1) >= n
        ):
            raise ValueError("a constraint names a line index beyond the data")
        cons.check(n)
        comp = cons.components(n)
        Xn, th, weak = self._calibrate(
            Xn, cons if calibration_constraints is None else calibration_constraints
        )
        self.thresholds_ = th
        # with weak voice evidence a short line's vector is no worse a guide than a long one's,
        # and attaching short lines to their single nearest core line chained errors
        reliable = np.ones(n, bool) if weak else r >= self.reliability_threshold
        labels = np.full(n, -1, np.int64)
        strength = np.zeros(n)

        # 1. groups from reliable lines only
        core_rows = np.flatnonzero(reliable)
        lab, prob = cluster_core(
            Xn[core_rows],
            self.method,
            th["core_threshold"],
            self.min_cluster_size,
            self.k,
            self.min_samples,
            self.cluster_selection_epsilon,
            self.dense_max,
        )
        labels[core_rows] = lab
        strength[core_rows] = prob
        # 2. humans: must-links merge (and vouch for their lines), cannot-links split
        labels = _merge_must_links(labels, comp, Xn, th["must_merge_threshold"])
        grouped = labels >= 0
        labels = enforce_cannot_links(labels, Xn, cons, comp)
        # lines a cannot-link pushed out are held to the reliable bar when attaching: forcing
        # them into their next-best group would plant them (and a hand name) in the wrong one
        self.ejected_ = grouped & (labels == -1)
        core = labels >= 0
        strength[core & ~np.isin(np.arange(n), core_rows)] = 1.0

        # 3. everything else may join an existing group, never start or bridge one
        attached = np.zeros(n, bool)
        cand = np.flatnonzero(~core)
        if cand.size and core.any():
            attached = self._attach(Xn, labels, cand, r, cons, core)
            strength[attached] = self.attach_score_[attached]

        # 4. reliable leftovers: one-off characters
        left = np.flatnonzero((reliable | self.ejected_) & (labels == -1))
        if left.size and self.leftover != "noise":
            if self.leftover == "singleton" or left.size == 1:
                sub = np.arange(left.size)
            else:
                sub, _ = cluster_core(Xn[left], "ahc", th["leftover_threshold"], 1, self.k)
            labels[left] = labels.max(initial=-1) + 1 + sub
            labels = enforce_cannot_links(labels, Xn, cons, comp)
            strength[left] = r[left].clip(0, 1)

        # 5. attaching and the leftover clustering place lines one by one: a unit a person
        # tied together (moved into one group) that they pulled apart is tied up again
        labels = _rejoin_must_links(labels, comp, Xn, cons, th["must_merge_threshold"])

        self.labels_ = relabel(labels)
        self.probabilities_ = np.where(self.labels_ >= 0, np.clip(strength, 0.0, 1.0), 0.0)
        self.reliable_ = reliable
        self.core_ = core
        self.attached_ = attached
        self.n_groups_ = int(self.labels_.max(initial=-1) + 1)
        log.debug(
            "ReliableFirstClustering: n=%d reliable=%d core=%d attached=%d groups=%d",
            n,
            reliable.sum(),
            core.sum(),
            attached.sum(),
            self.n_groups_,
        )
        return self

    def fit_predict(
        self,
        X,
        reliability=None,
        constraints: Constraints | None = None,
        calibration_constraints: Constraints | None = None,
    ):
        return self.fit(X, reliability, constraints, calibration_constraints).labels_

    def _attach(self, Xn, labels, cand, r, cons: Constraints, core) -> np.ndarray:
        """Assign candidates (most reliable first) to the best-scoring group built from core
        lines; refuse groups that hold a cannot-link partner."""
        n = len(Xn)
        core_rows = np.flatnonzero(core)
        K = min(max(self.k, self.top_m), core_rows.size)
        idx, sim = knn_search(Xn[cand], Xn[core_rows], K, exact_max=self.dense_max * 4)
        grp = np.where(idx >= 0, labels[core_rows[np.maximum(idx, 0)]], -1)
        row, g, score = _group_scores(grp, sim, self.top_m)
        self.attach_score_ = np.zeros(n)
        th = self.thresholds_
        bar = np.where(
            (r[cand] >= self.reliability_threshold) | self.ejected_[cand],
            max(th["attach_threshold"], th["reliable_attach_threshold"]),
            th["attach_threshold"],
        )
        ok = score >= bar[row]
        row, g, score = row[ok], g[ok], score[ok]
        order = np.lexsort((-score, row))  # per candidate, best group first
        row, g, score = row[order], g[order], score[order]
        partners: dict[int, list[int]] = {}
        for a, b in cons.cannot_link:
            partners.setdefault(int(a), []).append(int(b))
            partners.setdefault(int(b), []).append(int(a))
        attached = np.zeros(n, bool)
        starts = np.flatnonzero(np.r_[True, np.diff(row) != 0]) if row.size else row
        ends = np.r_[starts[1:], row.size] if row.size else row
        by_row = {int(row[s]): (s, e) for s, e in zip(starts, ends, strict=True)}
        for ci in np.argsort(-r[cand], kind="stable"):
            if ci not in by_row:
                continue
            line = int(cand[ci])
            s, e = by_row[ci]
            for j in range(s, e):
                group = int(g[j])
                if any(labels[p] == group for p in partners.get(line, ())):
                    continue
                labels[line] = group
                attached[line] = True
                self.attach_score_[line] = score[j]
                break
        return attached
