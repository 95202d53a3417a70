"""Synthetic speaker embeddings shaped like anime episodes, for tests and benchmarks.

Real CAM++ vectors are not always at hand (and never in unit tests), so this module plants
speakers whose similarity statistics roughly follow CAM++ on dubbed speech: clean lines of one
speaker sit at cosine ~0.6-0.8, short lines fall towards ~0.3, different speakers spread around
~0.1-0.3 because voices share a common component. Speaker sizes are unbalanced like a real
episode: a few main characters with 50-100 lines and many one-off characters with 1-3 lines.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from grouping.vectors import normalize_rows

__all__ = ["SyntheticEpisode", "make_episode", "make_season", "noise_scale"]


@dataclass(frozen=True)
class SyntheticEpisode:
    """Arrays for one or more synthetic episodes, one row per line."""

    X: np.ndarray  # (n, d) float32, L2-normalised
    speaker: np.ndarray  # (n,) int64 true speaker id (season-wide)
    duration: np.ndarray  # (n,) float32 seconds
    episode: np.ndarray  # (n,) int64
    start: np.ndarray  # (n,) float64 seconds
    end: np.ndarray  # (n,) float64 seconds


COMMON = 0.8  # weight of the shared voice direction: different speakers at cosine ~0.3
STYLE = 0.45  # each speaker has a few delivery styles (calm, shouting, ...) this far apart


def noise_scale(duration: np.ndarray) -> np.ndarray:
    """Noise radius relative to the unit centroid: long lines ~0.75, 0.5 s lines ~1.6."""
    d = np.asarray(duration, dtype=np.float64)
    return 0.7 + 1.6 * np.exp(-d / 0.9)


def _speaker_sizes(rng: np.random.Generator, n_main: int, n_mid: int, n_oneoff: int) -> list[int]:
    return (
        list(rng.integers(50, 101, n_main))
        + list(rng.integers(5, 21, n_mid))
        + list(rng.integers(1, 4, n_oneoff))
    )


def _centroids(rng: np.random.Generator, n: int, dim: int, common: np.ndarray) -> np.ndarray:
    # A shared "voice" direction makes different speakers correlate (cos ~0.2) as real ones do.
    return normalize_rows(
        COMMON * common + normalize_rows(rng.standard_normal((n, dim)), dtype=None), dtype=None
    )


def _lines(
    rng: np.random.Generator,
    centroids: np.ndarray,
    speaker_ids: np.ndarray,
    sizes: list[int],
    episode: int,
) -> SyntheticEpisode:
    dim = centroids.shape[1]
    spk = np.repeat(speaker_ids, sizes)
    rng.shuffle(spk)
    n = spk.size
    dur = np.clip(rng.lognormal(np.log(1.8), 0.7, n), 0.3, 12.0)
    row_of = {s: i for i, s in enumerate(speaker_ids)}
    cen = centroids[[row_of[s] for s in spk]]
    # A speaker's lines fall into one of 3 styles (offsets fixed per speaker and episode).
    styles = STYLE * normalize_rows(rng.standard_normal((len(speaker_ids), 3, dim)), dtype=None)
    cen = cen + styles[[row_of[s] for s in spk], rng.integers(0, 3, n)]
    noise = rng.standard_normal((n, dim)) / np.sqrt(dim)
    X = normalize_rows(cen + noise_scale(dur)[:, None] * noise, dtype=None).astype(np.float32)
    # Lines follow each other with short gaps; ~3% overlap the previous line (two people talking).
    gaps = rng.exponential(1.5, n)
    start = np.cumsum(np.concatenate([[0.0], dur[:-1] + gaps[:-1]]))
    overlap = rng.random(n) < 0.03
    overlap[0] = False
    overlap &= (spk != np.roll(spk, 1)) & (
        spk != np.roll(spk, 2)
    )  # simultaneous speech is always two different people
    start[overlap] -= np.minimum(dur[np.roll(np.arange(n), 1)][overlap], 1.0) * 0.8 + gaps[overlap]
    start = np.maximum(start, 0.0)
    return SyntheticEpisode(
        X=X,
        speaker=spk.astype(np.int64),
        duration=dur.astype(np.float32),
        episode=np.full(n, episode, dtype=np.int64),
        start=start,
        end=start + dur,
    )


def make_episode(
    seed: int = 0,
    dim: int = 192,
    n_main: int = 3,
    n_mid: int = 4,
    n_oneoff: int = 10,
) -> SyntheticEpisode:
    """One episode (~330 lines, ~17 speakers by default)."""
    return make_season(1, seed=seed, dim=dim, n_main=n_main, n_mid=n_mid, n_oneoff=n_oneoff)


def make_season(
    n_episodes: int,
    seed: int = 0,
    dim: int = 192,
    n_main: int = 3,
    n_mid: int = 4,
    n_oneoff: int = 10,
    n_recurring: int = 8,
) -> SyntheticEpisode:
    """Episodes that share main characters, draw mid characters from a recurring pool and have
    their own one-off characters (new speaker ids each episode)."""
    rng = np.random.default_rng(seed)
    common = normalize_rows(rng.standard_normal(dim), dtype=None)
    pool = _centroids(rng, n_main + n_recurring, dim, common)
    parts = []
    next_id = n_main + n_recurring
    for ep in range(n_episodes):
        mids = rng.choice(np.arange(n_main, n_main + n_recurring), n_mid, replace=False)
        ones = np.arange(next_id, next_id + n_oneoff)
        next_id += n_oneoff
        ids = np.concatenate([np.arange(n_main), mids, ones])
        cen = np.concatenate([pool[:n_main], pool[mids], _centroids(rng, n_oneoff, dim, common)])
        sizes = _speaker_sizes(rng, n_main, n_mid, n_oneoff)
        parts.append(_lines(rng, cen, ids, sizes, ep))
    return SyntheticEpisode(
        *(np.concatenate([getattr(p, f) for p in parts]) for f in SyntheticEpisode.__annotations__)
    )
