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
  named otherwise than its character, closer to another character than to its own, or
  placed in its group so unreliably that its name is more likely wrong than right (and
  lines of one-line characters). Worth one line at most: P(its name is wrong).
- ``ambient``: a line far from every character *and* flagged as unusual by the caller (very
  short or odd text, song-like): never ordinary dialogue.

Everything here is numpy over per-line arrays, so the pipeline layer only gathers inputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .knn import normalize_rows

__all__ = ["Candidate", "rank_candidates", "same_probability"]


@dataclass(frozen=True)
class Candidate:
    kind: str  # "group" | "same" | "who" | "ambient"
    a: int  # group/same: character index a; who/ambient: line index
    b: int  # same: character index b; otherwise -1
    saves: float  # expected lines named right by the answer
    p: float  # same/ambient: P(yes); who: P(current name right); group: P(top suggestion)
    suggestions: tuple[tuple[int, float], ...] = ()  # (character index, probability)
    lines: tuple[int, ...] = ()  # group: sample lines shown, most typical first (named)


def same_probability(cos, midpoint: float = 0.55, scale: float = 0.06) -> np.ndarray:
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
    same_midpoint: float = 0.55,
    same_scale: float = 0.06,
    name=None,
    group=None,
    unusual=None,
    hand_name=None,
    n_samples: int = 3,
    doubt_below: float = 0.4,
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
    its own character to the next one, or its name's probability is low."""
    Xn = normalize_rows(X)
    ch = np.asarray(character, dtype=np.int64)
    n = len(ch)
    conf = np.asarray(confidence, dtype=np.float64)
    hum = np.asarray(human, dtype=bool)
    rel = np.ones(n) if reliability is None else np.asarray(reliability, dtype=np.float64)
    named = np.asarray(named, dtype=bool)
    c = int(max(ch.max(initial=-1) + 1, named.size))
    if named.size < c:
        named = np.r_[named, np.zeros(c - named.size, bool)]
    out: list[Candidate] = []
    if n == 0:
        return out
    nm = (
        np.where(conf > 0, ch, -1)
        if name is None
        else np.asarray(name, dtype=np.int64)
    )  # fmt: skip
    grp = ch.copy() if group is None else np.asarray(group, dtype=np.int64)
    odd = np.zeros(n, bool) if unusual is None else np.asarray(unusual, dtype=bool)
    hname = np.full(n, -1) if hand_name is None else np.asarray(hand_name, dtype=np.int64)

    ok = ch >= 0
    sizes = np.bincount(ch[ok], minlength=c).astype(np.float64)
    sums = np.zeros((c, Xn.shape[1]))
    np.add.at(sums, ch[ok], Xn[ok])
    cent = normalize_rows(sums) if c else np.zeros((0, Xn.shape[1]))
    line_sim = Xn @ cent.T if c else np.zeros((n, 0))
    # similarity to the line's own character without the line itself
    own_sim = np.full(n, -1.0)
    if c:
        rest = sums[np.maximum(ch, 0)] - Xn
        norm = np.linalg.norm(rest, axis=1)
        good = ok & (norm > 1e-9)
        own_sim[good] = np.einsum("ij,ij->i", Xn[good], rest[good]) / norm[good]
    # share of each character's lines that carry a (non-ambient) name
    has_name = (nm >= 0) | (hname >= 0)
    named_share = np.bincount(ch[ok], weights=has_name[ok], minlength=c) / np.maximum(sizes, 1)
    settled = named & (named_share >= 0.5)  # a named character: its lines are asked one by one
    named_chars = np.flatnonzero(settled)

    def suggest(vec_sim: np.ndarray) -> tuple[tuple[int, float], ...]:
        if named_chars.size == 0:
            return ()
        s = vec_sim[named_chars]
        w = np.exp((s - s.max()) / 0.05)
        # share among the named characters, times the chance it is one of them at all: a voice
        # far from every named one is probably someone new, not 97% the nearest name
        w *= float(same_probability(s.max(), same_midpoint, same_scale)) / w.sum()
        top = np.argsort(-w)[:3]
        return tuple((int(named_chars[t]), float(w[t])) for t in top)

    # --- groups: characters whose lines mostly carry no name
    csim = cent @ cent.T if c else np.zeros((0, 0))
    for g in np.flatnonzero(~settled & (sizes > 0)):
        members = np.flatnonzero((ch == g) & ~hum)
        open_lines = int(np.sum(~has_name[members]))
        if members.size < 2 or open_lines < 2:
            continue
        biggest = np.bincount(grp[members] - grp[members].min()).argmax() + grp[members].min()
        pool = members[grp[members] == biggest]
        score = rel[pool] + own_sim[pool]
        samples = tuple(int(i) for i in pool[np.argsort(-score, kind="stable")[:n_samples]])
        given = hname[(ch == g) & (hname >= 0)]
        if given.size:
            counts = np.bincount(given)
            top = np.argsort(-counts)[: min(3, np.count_nonzero(counts))]
            sugg = tuple((int(t), 0.95 * counts[t] / given.size) for t in top)
        else:
            sugg = suggest(csim[g])
        p = sugg[0][1] if sugg else 0.0
        # the answer names the group's lines; each is right as far as it belongs to the group
        right = float(np.sum(rel[members][~has_name[members]]))
        out.append(Candidate("group", int(g), -1, right, float(p), sugg, samples))

    # --- same character? (two unnamed characters of at least two lines each)
    if c > 1:
        sim = csim.copy()
        np.fill_diagonal(sim, -np.inf)
        kk = min(k_pairs, c - 1)
        nbr = np.argsort(-sim, axis=1)[:, :kk]
        seen = set()
        for a in np.flatnonzero(~settled & (sizes >= 2)):
            for b in nbr[a]:
                pair = (min(int(a), int(b)), max(int(a), int(b)))
                if pair in seen or pair in separated or settled[b] or sizes[b] < 2:
                    continue
                seen.add(pair)
                p = float(same_probability(sim[a, b], same_midpoint, same_scale))
                if p >= 0.5:
                    out.append(Candidate("same", pair[0], pair[1], p, p))

    # --- single lines that disagree with their group
    asked = np.zeros(n, bool)
    if c:
        best_other = np.where(
            ok[:, None] & (np.arange(c)[None, :] == ch[:, None]), -np.inf, line_sim
        ).max(1)
    else:
        best_other = np.full(n, -np.inf)
    # P(the line is where it belongs) from how much closer it is to its own character than
    # to the next one (a margin of 0.1 in cosine: ~0.9)
    p_stay = 1.0 / (1.0 + np.exp(-(own_sim - best_other) / 0.045))
    for i in np.flatnonzero(~hum):
        g = ch[i]
        lone = bool(g < 0 or sizes[g] <= 1)
        if lone and nm[i] < 0:
            saves, p = 1.0, 0.0  # a line of its own: asking names it
        elif not lone and settled[g] and nm[i] < 0:
            saves, p = 1.0, 0.0  # left unnamed inside a named character
        elif not lone and nm[i] >= 0 and settled[g] and nm[i] != g:
            saves, p = 1.0 - conf[i], conf[i]  # named otherwise than its character
        elif not lone and nm[i] >= 0 and best_other[i] > own_sim[i]:
            saves, p = 1.0 - conf[i], conf[i]  # nearer another character than its own
        elif nm[i] >= 0 and p_stay[i] * min(1.0, conf[i] / doubt_below) < 1.0 - doubt_below:
            # named with its group, but its voice barely prefers that group to the next one
            # (acted voices, a blurred group): the name is as good as the line's place
            p = float(p_stay[i] * min(1.0, conf[i] / doubt_below))
            saves = 1.0 - p
        else:
            continue
        if saves <= 0.0:
            continue
        asked[i] = True
        out.append(Candidate("who", int(i), -1, float(saves), float(p), suggest(line_sim[i])))

    # --- is this ambient? Only unusual lines far from every character
    if c and odd.any():
        grouped = ok & (sizes[np.maximum(ch, 0)] >= 3)
        typical = own_sim[grouped]
        bar = (
            min(ambient_below, float(np.quantile(typical, 0.05))) if typical.size else ambient_below
        )
        far = np.maximum(np.where(ok, own_sim, -1.0), best_other)
        p_amb = 1.0 / (1.0 + np.exp(-(bar - far) / 0.05)) * (1.0 - 0.5 * rel)
        for i in np.flatnonzero(~hum & odd & (far < bar) & (p_amb > 0.05)):
            out.append(Candidate("ambient", int(i), -1, float(p_amb[i]), float(p_amb[i])))

    order = {"group": 0, "same": 1, "who": 2, "ambient": 3}
    out.sort(key=lambda q: (-q.saves, order[q.kind], q.a, q.b))
    return out
