"""The review queue on arrays: which question names the most lines per answer?

A question's worth (``saves``) is the number of lines its answer is expected to name right:
one answer is one annotator operation, so a question that names one line saves one operation
and never more. Groups and characters come first, single lines only where they disagree with
their group:

- ``group``: a character (season roster entry) whose lines mostly carry no name. The answer
  names its most typical line (the first of the samples shown), and propagation names the
  rest: worth its unnamed lines, each weighted by its reliability (P(its voice placed it
  right)), so a blurred group of many voices is not worth its size. Suggestions: names
  people gave lines inside it, otherwise the nearest named characters with P(same voice).
- ``same``: two unnamed characters whose voices are probably one. A "yes" names nothing by
  itself (it saves one later question), so it is worth P(yes) and comes after the groups.
- ``who``: one line that disagrees with its group: left unnamed inside a named character,
  named otherwise than its character, closer to another character than to its own, far
  below the band of its character's own lines (``STRAY_GAP``), or placed in its group so
  unreliably that its name is more likely wrong than right (and lines of one-line
  characters). Worth one line at most: P(its name is wrong). Whether it is
  asked at all also reads what the answers about the same name's lines said so far
  (``checked``): updated by them, a doubt below ``MIN_LINE_WORTH`` is not worth an answer, so
  a name the annotator confirmed line after line stops being asked about, and one they kept
  correcting stays asked. (Ranking by the updated doubt instead cost 3-8 more operations per
  100 lines on an acted episode, where most machine names are wrong and the record mostly
  shuffles the order.)
- ``check``: the doubtful lines of one machine name together ("Are these 8 lines Taiga?"):
  the annotator confirms them in one answer and corrects the wrong ones, one operation each,
  so a right name no longer costs a whole answer. Worth the lines expected wrong (each one
  named right by its correction). A name with one doubtful line gets a ``who`` instead.
- ``ambient``: a line far from every character *and* flagged as unusual by the caller (very
  short or odd text, song-like): never ordinary dialogue.

Everything here is numpy over per-line arrays, so the pipeline layer only gathers inputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .vectors import normalize_rows

__all__ = ["SAME_MIDPOINT", "SAME_SCALE", "Candidate", "rank_candidates", "same_probability"]


@dataclass(frozen=True)
class Candidate:
    kind: str  # "group" | "same" | "who" | "check" | "ambient"
    a: int  # group/same: character index a; who/ambient: line index; check: name index
    b: int  # same: character index b; otherwise -1
    saves: float  # expected lines named right by the answer
    p: float  # same/ambient: P(yes); who/check: P(current name right); group: P(top suggestion)
    suggestions: tuple[tuple[int, float], ...] = ()  # (character index, probability)
    lines: tuple[int, ...] = ()  # group: samples, most typical first (named); check: the lines
    fresh: bool = False  # the answer names lines not reviewed yet (a newly added episode)


CHECK_PRIOR = 2.0
"""Pseudo-answers the geometric P(wrong) of a named line counts for against the answers about
its name so far: after 3 confirmations and no correction a 0.10 doubt becomes 0.04."""

CHECK_SIZE = 8
"""Doubtful lines of one machine name shown together in a ``check`` question ("Are these 8
lines Taiga?"). One look confirms the right ones; each wrong one costs its own correction, as a
``who`` answer would. On acted voices half the line questions used to confirm a name that was
right already, one answer each (``python benchmarks/bench_review.py --acted bench-out/acted``)."""

MIN_LINE_WORTH = 0.05
"""A question about a named line expected to fix fewer lines than this is not asked: twenty
answers for one fix is more work than playing the group. On a pseudo-episode the queue once
asked 147 such questions about one voice's short lines, every answer confirming the name
(``python benchmarks/bench_review.py --work bench-out/grouping --per-season 3``)."""

STRAY_GAP = 0.2
"""How far below the 5th percentile of its character's lines (cosine to the rest of the
character) a named line's own cosine may fall before its name is doubted whatever its
neighbours: on the demo a one-line voice sat in a 29-line group at 0.22 where the group's lines
sit at 0.67 and up, carried the group's name at 86%, and the queue said "nothing to review"."""

NAME_BAR = 0.5
"""A machine name less probable than this does not make its character named, so the character's
group is still asked about ("Who is this 12-line group?"). It is the probability below which a
read-speech season abstains (``NamePropagator.abstain_below``), so there nothing changes; on weak
voice evidence every line carries a guess, and once one name was known the queue went through
the lines eight at a time, correcting most of them one by one. Simulated review, acted
benchmark with a speaker signal added (``bench_review.py --acted ... --speaker-signal 0.7``,
leave-one-out 1-NN ~0.9 while the pair cosines still read weak): to 90% right names 20.0 -> 11.2
operations per 100 lines, together with ``grouping.propagate.weak_group_weight``,
``hold_guesses`` and the group questions' honest worth (``group_carry``); CAM++ as it is:
41.5 -> 45.1."""

SUGGESTION_TEMPERATURE = 0.05
"""Cosine scale of the softmax that shares a line's or group's name suggestions among the named
characters: 0.05 apart in cosine is a factor e in weight."""


SAME_MIDPOINT, SAME_SCALE = 0.55, 0.06
"""Centroid cosine at which two characters are even odds one voice, and the cosine scale of
those odds, on CAM++'s scale (callers carry them to another model's: ``CosineScale``)."""


def same_probability(cos, midpoint: float = SAME_MIDPOINT, scale: float = SAME_SCALE) -> np.ndarray:
    """P(two centroids are one character) from their cosine; CAM++ centroids of one voice sit
    above ~0.6, of two voices below ~0.45 (measured on the pseudo-episodes)."""
    return 1.0 / (1.0 + np.exp(-(np.asarray(cos, dtype=np.float64) - midpoint) / scale))


def rank_candidates(
    X,
    character,
    named,
    confidence,
    human,
    reliability=None,
    separated: set[tuple[int, int]] | frozenset = frozenset(),
    k_pairs: int = 5,
    ambient_below: float = 0.25,
    same_midpoint: float = SAME_MIDPOINT,
    same_scale: float = SAME_SCALE,
    name=None,
    group=None,
    unusual=None,
    hand_name=None,
    n_samples: int = 3,
    doubt_below: float = 0.4,
    fresh=None,
    checked=None,
    check_size: int | None = None,
    same_pair=None,
    group_carry: float = 1.0,
) -> list[Candidate]:
    """Candidates best first.

    ``X`` (n, d) line vectors; ``character`` (n,) character index per line (-1 none);
    ``named`` (c,) bool per character: holds a name; ``confidence`` (n,) probability of the
    line's current name (0 when unnamed); ``human`` (n,) bool, lines a person labelled (never
    asked again); ``reliability`` (n,) voice reliability in [0, 1]; ``separated`` pairs of
    character indices a person said differ (never asked again).

    ``name`` (n,) index of the line's current name (-1 none; default: lines with confidence
    > 0 carry their character's name); ``group`` (n,) episode group per line (samples come
    from a character's biggest group; default: the character); ``unusual`` (n,) bool, lines
    that may be ambient (short, odd or song-like text; default: none, so no ambient
    questions); ``hand_name`` (n,) index of a person's name for the line (-1 none), the
    strongest suggestion for its character. Name indices and character indices share one
    space: name ``k`` is the name of character ``k``. A line named with its group is asked
    about only when P(its name is wrong) is above ``doubt_below``: its voice barely prefers
    its own character to the next one, or its name's probability is low; the doubtful lines of
    one name are asked together (``check``, up to ``check_size``, default ``CHECK_SIZE``; 1: a
    ``who`` each). ``checked`` (c, 2) per name index: how many answers about lines carrying
    that name confirmed it and how many changed it (default: none yet).

    ``fresh`` (n,) bool: lines nobody has reviewed yet (an episode added to a labelled
    season). Questions whose answer names fresh lines come first (then by worth, as without
    it), and a character's samples are fresh lines where it has any: the annotator checks the
    new episode before returning to the old questions. None or all False: the usual order.

    ``same_pair``: P(one speaker | a pair's cosine), e.g. the season's own
    ``SimilarityCalibration.same_probability``. With it a group question is worth its unnamed
    lines times the group's estimated purity (the root of its members' mean pairwise
    probability), so a group of acted voices, one voice in three, does not promise to name
    all its lines; without it, purity 1.

    ``group_carry``: how far a name given to a group's typical line reaches the group's other
    lines (1: all of them, as on read speech; on weak voice evidence the share the season's
    labels let its groups carry, at least ``pipelines.stages.season.WEAK_REACH``): the answer
    names one line, the rest count only that far."""
    q = _Queue(
        X, character, named, confidence, human, reliability, name, group, hand_name, fresh,
        same_pair, group_carry,
    )  # fmt: skip
    if q.n == 0:
        return []
    sim = _Similarity(same_midpoint, same_scale)
    out = q.group_questions(n_samples, sim)
    out += q.same_questions(separated, k_pairs, sim)
    size = CHECK_SIZE if check_size is None else check_size
    out += q.line_questions(doubt_below, sim, checked, size)
    odd = np.zeros(q.n, bool) if unusual is None else np.asarray(unusual, dtype=bool)
    out += q.ambient_questions(odd, ambient_below)
    order = {"group": 0, "same": 1, "check": 2, "who": 3, "ambient": 4}
    out.sort(key=lambda c: (not c.fresh, -c.saves, order[c.kind], c.a, c.b))
    return out


def _answered_away(doubt: float, record) -> bool:
    """Whether the answers about a name so far (``record``: confirmed, corrected) bring a
    line's doubt about that name under ``MIN_LINE_WORTH``."""
    confirmed, corrected = record
    return (corrected + CHECK_PRIOR * doubt) / (
        confirmed + corrected + CHECK_PRIOR
    ) < MIN_LINE_WORTH


@dataclass(frozen=True)
class _Similarity:
    """How a cosine to a centroid becomes P(same character)."""

    midpoint: float
    scale: float

    def p(self, cos) -> np.ndarray:
        return same_probability(cos, self.midpoint, self.scale)


class _Queue:
    """The per-line and per-character facts every kind of question reads, computed once."""

    def __init__(self, X, character, named, confidence, human, reliability, name, group,
                 hand_name, fresh=None, same_pair=None, group_carry=1.0) -> None:  # fmt: skip
        self.Xn = Xn = normalize_rows(X)
        ch = np.asarray(character, dtype=np.int64)
        n = self.n = len(ch)
        self.ch = ch
        self.conf = conf = np.asarray(confidence, dtype=np.float64)
        self.hum = np.asarray(human, dtype=bool)
        self.rel = np.ones(n) if reliability is None else np.asarray(reliability, np.float64)
        named = np.asarray(named, dtype=bool)
        c = self.c = int(max(ch.max(initial=-1) + 1, named.size))
        if named.size < c:
            named = np.r_[named, np.zeros(c - named.size, bool)]
        self.nm = np.where(conf > 0, ch, -1) if name is None else np.asarray(name, np.int64)
        self.grp = ch.copy() if group is None else np.asarray(group, dtype=np.int64)
        self.hname = np.full(n, -1) if hand_name is None else np.asarray(hand_name, np.int64)
        self.fresh = np.zeros(n, bool) if fresh is None else np.asarray(fresh, dtype=bool)

        self.ok = ok = ch >= 0
        self.sizes = np.bincount(ch[ok], minlength=c).astype(np.float64)
        sums = np.zeros((c, Xn.shape[1]))
        np.add.at(sums, ch[ok], Xn[ok])
        cent = normalize_rows(sums) if c else np.zeros((0, Xn.shape[1]))
        self.line_sim = Xn @ cent.T if c else np.zeros((n, 0))
        self.csim = cent @ cent.T if c else np.zeros((0, 0))
        # similarity to the line's own character without the line itself
        self.own_sim = np.full(n, -1.0)
        if c:
            rest = sums[np.maximum(ch, 0)] - Xn
            norm = np.linalg.norm(rest, axis=1)
            good = ok & (norm > 1e-9)
            self.own_sim[good] = np.einsum("ij,ij->i", Xn[good], rest[good]) / norm[good]
        # share of each character's lines that carry a (non-ambient) name; a machine's guess
        # below NAME_BAR is no name here: on weak voice evidence every line carries a guess
        # once one name is known, and the groups were never asked about again
        self.has_name = ((self.nm >= 0) & (conf >= NAME_BAR)) | (self.hname >= 0)
        named_share = np.bincount(ch[ok], weights=self.has_name[ok], minlength=c) / np.maximum(
            self.sizes, 1
        )
        # a named character: its lines are asked one by one
        self.settled = named & (named_share >= 0.5)
        self.named_chars = np.flatnonzero(self.settled)
        if c:
            mine = ok[:, None] & (np.arange(c)[None, :] == ch[:, None])
            self.best_other = np.where(mine, -np.inf, self.line_sim).max(1)
        else:
            self.best_other = np.full(n, -np.inf)
        self.same_pair = same_pair
        self.group_carry = group_carry
        # the 5th percentile of each character's lines' cosine to the rest of it (-inf: fewer
        # than 5 lines), the band a stray line falls out of
        self.typical_low = np.full(c, -np.inf)
        for g in np.flatnonzero(self.sizes >= 5):
            self.typical_low[g] = float(np.quantile(self.own_sim[ch == g], 0.05))

    def purity(self, rows: np.ndarray, max_members: int = 64) -> float:
        """The estimated share of a character's lines (``rows``, at least two) that are its main
        voice: the square root of the mean P(one speaker) over pairs of them (at most
        ``max_members``, spread evenly; 1 without ``same_pair``)."""
        if self.same_pair is None:
            return 1.0
        rows = rows[np.linspace(0, rows.size - 1, min(rows.size, max_members)).astype(int)]
        V = self.Xn[rows]
        iu = np.triu_indices(len(rows), 1)
        return float(np.sqrt(np.mean(self.same_pair((V @ V.T)[iu]))))

    def suggest(self, vec_sim: np.ndarray, sim: _Similarity) -> tuple[tuple[int, float], ...]:
        named_chars = self.named_chars
        if named_chars.size == 0:
            return ()
        s = vec_sim[named_chars]
        w = np.exp((s - s.max()) / SUGGESTION_TEMPERATURE)
        # share among the named characters, times the chance it is one of them at all: a voice
        # far from every named one is probably someone new, not 97% the nearest name
        w *= float(sim.p(s.max())) / w.sum()
        top = np.argsort(-w)[:3]
        return tuple((int(named_chars[t]), float(w[t])) for t in top)

    def group_questions(self, n_samples: int, sim: _Similarity) -> list[Candidate]:
        """Characters whose lines mostly carry no name."""
        ch, hum, grp, rel, has_name = self.ch, self.hum, self.grp, self.rel, self.has_name
        out = []
        for g in np.flatnonzero(~self.settled & (self.sizes > 0)):
            members = np.flatnonzero((ch == g) & ~hum)
            open_lines = int(np.sum(~has_name[members]))
            if members.size < 2 or open_lines < 2:
                continue
            is_fresh = bool(self.fresh[members][~has_name[members]].any())
            # samples from the fresh lines when the question is asked for them
            shown = members[self.fresh[members]] if is_fresh else members
            low = grp[shown].min()
            biggest = np.bincount(grp[shown] - low).argmax() + low
            pool = shown[grp[shown] == biggest]
            score = rel[pool] + self.own_sim[pool]
            samples = tuple(int(i) for i in pool[np.argsort(-score, kind="stable")[:n_samples]])
            purity = self.purity(np.flatnonzero(ch == g))
            given = self.hname[(ch == g) & (self.hname >= 0)]
            if given.size:
                # a name a person gave one of its lines is the group's as far as the group is
                # one voice: on acted voices "Is this 35-line group X?" was asked of a group
                # whose sample was someone else
                counts = np.bincount(given)
                top = np.argsort(-counts)[: min(3, np.count_nonzero(counts))]
                sugg = tuple((int(t), 0.95 * purity * counts[t] / given.size) for t in top)
            else:
                sugg = self.suggest(self.csim[g], sim)
            p = sugg[0][1] if sugg else 0.0
            # the answer names the group's lines; each is right as far as it belongs there, and
            # only the group's main voice can be right
            right = float(np.sum(rel[members][~has_name[members]])) * purity
            # the answer names one line; the rest only as far as the group carries the name
            right = min(right, 1.0) + max(right - 1.0, 0.0) * self.group_carry
            out.append(Candidate("group", int(g), -1, right, float(p), sugg, samples, is_fresh))
        return out

    def same_questions(self, separated, k_pairs: int, sim: _Similarity) -> list[Candidate]:
        """Two unnamed characters of at least two lines each whose voices are probably one."""
        if self.c <= 1:
            return []
        csim = self.csim.copy()
        np.fill_diagonal(csim, -np.inf)
        nbr = np.argsort(-csim, axis=1)[:, : min(k_pairs, self.c - 1)]
        settled, sizes = self.settled, self.sizes
        out, seen = [], set()
        for a in np.flatnonzero(~settled & (sizes >= 2)):
            for b in nbr[a]:
                pair = (min(int(a), int(b)), max(int(a), int(b)))
                if pair in seen or pair in separated or settled[b] or sizes[b] < 2:
                    continue
                seen.add(pair)
                p = float(sim.p(csim[a, b]))
                if p >= 0.5:
                    fresh = bool(self.fresh[(self.ch == a) | (self.ch == b)].any())
                    out.append(Candidate("same", pair[0], pair[1], p, p, fresh=fresh))
        return out

    def line_questions(
        self, doubt_below: float, sim: _Similarity, checked=None, check_size: int = CHECK_SIZE
    ) -> list[Candidate]:
        """Lines that disagree with their group: one ``who`` question per unnamed line, and the
        doubtful lines of one machine name checked together, ``check_size`` at a time."""
        record = np.zeros((self.c, 2)) if checked is None else np.asarray(checked, np.float64)
        if len(record) < self.c:
            record = np.r_[record, np.zeros((self.c - len(record), 2))]
        out: list[Candidate] = []
        doubtful: dict[int, list[tuple[float, float, int]]] = {}

        def who(saves: float, p: float, i: int) -> Candidate:
            sugg = self.suggest(self.line_sim[i], sim)
            return Candidate("who", i, -1, saves, p, sugg, fresh=bool(self.fresh[i]))

        for i in np.flatnonzero(~self.hum):
            saves, p = self._line_doubt(int(i), doubt_below)
            if saves <= 0.0 or (self.nm[i] >= 0 and _answered_away(saves, record[self.nm[i]])):
                continue
            if self.nm[i] >= 0 and check_size > 1:
                doubtful.setdefault(int(self.nm[i]), []).append((saves, p, int(i)))
            else:
                out.append(who(saves, p, int(i)))
        for name, rows in doubtful.items():
            if len(rows) == 1:  # one doubtful line of its name: ask who says it
                out.append(who(*rows[0]))
                continue
            # most doubtful first (fresh lines before them), so each check finds the wrong
            # names soonest; the rest of the name's doubtful lines wait for the next check
            rows.sort(key=lambda r: (not self.fresh[r[2]], -r[0], r[2]))
            batch = rows[:check_size]
            lines = tuple(r[2] for r in batch)
            out.append(
                Candidate(
                    "check", name, -1, float(sum(r[0] for r in batch)),
                    float(np.mean([r[1] for r in batch])), lines=lines,
                    fresh=bool(self.fresh[list(lines)].any()),
                )
            )  # fmt: skip
        return out

    def _line_doubt(self, i: int, doubt_below: float) -> tuple[float, float]:
        """(saves, P(current name right)) of asking about line ``i``; saves 0: not worth it."""
        g, nm, conf = self.ch[i], self.nm[i], self.conf[i]
        own, other = self.own_sim[i], self.best_other[i]
        lone = bool(g < 0 or self.sizes[g] <= 1)
        if nm < 0 and (lone or self.settled[g]):
            return 1.0, 0.0  # a line of its own, or left unnamed inside a named character
        if (
            not lone
            and nm >= 0
            and (
                (self.settled[g] and nm != g)  # named otherwise than its character
                or other > own  # nearer another character than its own
            )
        ):
            return float(1.0 - conf), float(conf)
        # P(the line is where it belongs) from how much closer it is to its own character
        # than to the next one (a margin of 0.1 in cosine: ~0.9)
        p_stay = 1.0 / (1.0 + np.exp(-(own - other) / 0.045))
        # ... and from how far it falls below the band of its character's own lines
        low = self.typical_low[g] if g >= 0 else -np.inf
        p_fit = 1.0 / (1.0 + np.exp(-(own - low + STRAY_GAP) / 0.045))
        p = p_stay * p_fit * min(1.0, conf / doubt_below)
        if nm >= 0 and p < 1.0 - doubt_below:
            # named with its group, but its voice barely prefers that group to the next one
            # (acted voices, a blurred group): the name is as good as the line's place
            return float(1.0 - p), float(p)
        return 0.0, 0.0

    def ambient_questions(self, odd: np.ndarray, ambient_below: float) -> list[Candidate]:
        """Only unusual lines far from every character."""
        if not self.c or not odd.any():
            return []
        ok, own_sim = self.ok, self.own_sim
        grouped = ok & (self.sizes[np.maximum(self.ch, 0)] >= 3)
        typical = own_sim[grouped]
        bar = ambient_below
        if typical.size:
            bar = min(ambient_below, float(np.quantile(typical, 0.05)))
        far = np.maximum(np.where(ok, own_sim, -1.0), self.best_other)
        p_amb = 1.0 / (1.0 + np.exp(-(bar - far) / 0.05)) * (1.0 - 0.5 * self.rel)
        return [
            Candidate(
                "ambient", int(i), -1, float(p_amb[i]), float(p_amb[i]), fresh=bool(self.fresh[i])
            )
            for i in np.flatnonzero(~self.hum & odd & (far < bar) & (p_amb > 0.05))
        ]
