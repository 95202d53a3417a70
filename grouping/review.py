"""The review queue on arrays: which question saves the annotator the most work?

Three kinds of question, each scored by its expected saving (probability that the answer
changes something x lines it changes):

- ``same``: two characters whose centroids are close. If yes, one merge names (or regroups)
  every line of the smaller one: saves P(yes) x its size.
- ``who``: a line the machine could not name confidently. For the best line of an unnamed
  character one answer names the whole character: saves size x (1 - P(named right)); for a
  single doubtful line it saves 1 - P(right).
- ``ambient``: a line that resembles no character (crowd, song, narration): saves P(ambient).

Everything here is numpy over per-line arrays, so the pipeline layer only gathers inputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .knn import normalize_rows

__all__ = ["Candidate", "rank_candidates", "same_probability"]


@dataclass(frozen=True)
class Candidate:
    kind: str  # "same" | "who" | "ambient"
    a: int  # same: character index a; who/ambient: line index
    b: int  # same: character index b; otherwise -1
    saves: float
    p: float  # P(yes) for same/ambient, P(current guess right) for who
    suggestions: tuple[tuple[int, float], ...] = ()  # who: (character index, probability)


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
) -> list[Candidate]:
    """Candidates best first.

    ``X`` (n, d) line vectors; ``character`` (n,) character index per line (-1 none);
    ``named`` (c,) bool per character: holds a name; ``confidence`` (n,) probability of the
    line's current name (0 when unnamed); ``human`` (n,) bool, lines a person labelled (never
    asked again); ``reliability`` (n,) voice reliability in [0, 1]; ``separated`` pairs of
    character indices a person said differ (never asked again)."""
    Xn = normalize_rows(X)
    ch = np.asarray(character, dtype=np.int64)
    conf = np.asarray(confidence, dtype=np.float64)
    hum = np.asarray(human, dtype=bool)
    rel = np.ones(len(ch)) if reliability is None else np.asarray(reliability, dtype=np.float64)
    named = np.asarray(named, dtype=bool)
    c = int(max(ch.max(initial=-1) + 1, named.size))
    if named.size < c:
        named = np.r_[named, np.zeros(c - named.size, bool)]
    out: list[Candidate] = []
    if len(ch) == 0:
        return out
    ok = ch >= 0
    sizes = np.bincount(ch[ok], minlength=c).astype(np.float64)
    cent = np.zeros((c, Xn.shape[1]))
    np.add.at(cent, ch[ok], Xn[ok] * rel[ok, None])
    cent = normalize_rows(cent)
    sim = cent @ cent.T if c else np.zeros((0, 0))

    # --- same character?
    if c > 1:
        np.fill_diagonal(sim, -np.inf)
        kk = min(k_pairs, c - 1)
        nbr = np.argsort(-sim, axis=1)[:, :kk]
        seen = set()
        for a in range(c):
            if sizes[a] == 0:
                continue
            for b in nbr[a]:
                pair = (min(a, int(b)), max(a, int(b)))
                if pair in seen or pair in separated or sizes[b] == 0:
                    continue
                seen.add(pair)
                if named[pair[0]] and named[pair[1]]:
                    continue  # both named differently: a person already decided
                p = float(same_probability(sim[a, b], same_midpoint, same_scale))
                small = min(sizes[pair[0]], sizes[pair[1]])
                out.append(Candidate("same", pair[0], pair[1], p * small, p))
        np.fill_diagonal(sim, 1.0)

    # --- who says this line?
    named_chars = np.flatnonzero(named)
    line_sim = Xn @ cent.T if c else np.zeros((len(ch), 0))

    def suggest(i: int) -> tuple[tuple[int, float], ...]:
        if named_chars.size == 0:
            return ()
        s = line_sim[i, named_chars]
        w = np.exp((s - s.max()) / 0.05)
        # share among the named characters, times the chance it is one of them at all: a line
        # far from every named voice is probably someone new, not 97% the nearest name
        w *= float(same_probability(s.max(), same_midpoint, same_scale)) / w.sum()
        top = np.argsort(-w)[:3]
        return tuple((int(named_chars[t]), float(w[t])) for t in top)

    for g in range(c):
        members = np.flatnonzero((ch == g) & ~hum)
        if members.size == 0:
            continue
        if not named[g]:
            best = members[np.argmax(rel[members] + 1e-3 * line_sim[members, g])]
            out.append(Candidate("who", int(best), -1, float(members.size), 0.0, suggest(best)))
    doubtful = np.flatnonzero(~hum & ((ch < 0) | named[np.maximum(ch, 0)]) & (conf < 0.9))
    for i in doubtful:
        out.append(Candidate("who", int(i), -1, float(1 - conf[i]), float(conf[i]), suggest(i)))

    # --- is this ambient?
    if c:
        own = np.where(ch >= 0, line_sim[np.arange(len(ch)), np.maximum(ch, 0)], -1.0)
        best_any = line_sim.max(1)
        far = np.maximum(own, best_any)
        p_amb = 1.0 / (1.0 + np.exp(-(ambient_below - far) / 0.05)) * (1.0 - 0.5 * rel)
        for i in np.flatnonzero(~hum & (p_amb > 0.05)):
            out.append(Candidate("ambient", int(i), -1, float(p_amb[i]), float(p_amb[i])))

    out.sort(key=lambda q: (-q.saves, q.kind, q.a, q.b))
    return out
