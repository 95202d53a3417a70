"""Pseudo-seasons for the benchmarks: real fansub ASS files give the turn structure (timings
and speaker names), and the demo's episode builder renders each episode with one voice per
character across the whole season.

The product only needs the demo's synthetic episode (pipelines.demo.episodes); reading real named
subtitle files into turns and casting a whole season is benchmark data generation, so it lives
here, next to the benchmarks that use it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pysubs2

from pipelines.demo.episodes import (
    PseudoEpisode,
    Turn,
    VoicePool,
    build_episode,
    demo_pool,
    synthetic_turns,
)
from pipelines.errors import InputError, SubtitleError

_SKIP_STYLE_TOKENS = {"op", "ed", "title", "credit", "credits", "karaoke", "kara", "lyrics"}
_SKIP_STYLE_PREFIXES = ("sign", "song", "insert", "romaji", "kanji", "eptitle")
_SKIP_NAME_TOKENS = {"sign", "text", "title", "note", "sfx", "credits", "paper", "op", "ed"}


def _tokens(s: str) -> list[str]:
    return [t for t in re.split(r"[^a-z0-9]+", s.lower()) if t]


def _is_speech_event(name: str, style: str) -> bool:
    """Rough filter: real files mark signs, songs and credits by style or by a pseudo-name."""
    name = name.strip()
    if not name or name.startswith("["):
        return False
    style_tokens = _tokens(style)
    if any(t in _SKIP_STYLE_TOKENS or t.startswith(_SKIP_STYLE_PREFIXES) for t in style_tokens):
        return False
    return not any(t in _SKIP_NAME_TOKENS for t in _tokens(name))


def _base_name(name: str) -> str:
    """ "Ryuji (thought)" and "Ooy?" are the same voice as "Ryuji" and "Ooy"."""
    return re.sub(r"\s*\([^)]*\)\s*$", "", name.strip()).rstrip("?").strip() or name.strip()


def turns_from_ass(path: str | Path) -> list[Turn]:
    """Read the dialogue turn structure of a real ASS file whose Name field holds the speaker.

    Comments, events without a name, sign/song/credit styles and empty texts are dropped, and
    exact duplicates (layered typesetting) are kept once. Names lose a trailing "(thought)"
    or "?" and take the file's most common capitalisation ("RYuji" -> "Ryuji"); other typos
    stay, as in the real data. Sorted by start time.
    """
    path = Path(path)
    try:
        subs = pysubs2.load(str(path), encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError, pysubs2.exceptions.Pysubs2Error) as exc:
        raise SubtitleError(f"{path}: cannot read as ASS ({exc})") from exc
    seen: set[tuple[int, int, str]] = set()
    turns: list[Turn] = []
    for ev in subs.events:
        if ev.is_comment or not _is_speech_event(ev.name, ev.style):
            continue
        text = " ".join(ev.plaintext.split())
        if not text or ev.end - ev.start < 100:
            continue
        key = (ev.start, ev.end, ev.name.strip())
        if key in seen:
            continue
        seen.add(key)
        turns.append(Turn(ev.start / 1000, ev.end / 1000, ev.name.strip(), text))
    if not turns:
        raise SubtitleError(f"{path}: no named dialogue lines (is the Name field filled?)")
    spellings = Counter(_base_name(t.speaker) for t in turns)
    canon: dict[str, str] = {}
    for n, _ in spellings.most_common():
        canon.setdefault(n.casefold(), n)
    turns = [Turn(t.start, t.end, canon[_base_name(t.speaker).casefold()], t.text) for t in turns]
    turns.sort(key=lambda t: (t.start, t.end, t.speaker))
    return turns


def build_season(
    ass_paths: Sequence[str | Path],
    pool: VoicePool,
    out_dir: str | Path,
    seed: int = 0,
    snr_db: float | None = None,
    music: bool = True,
    video: bool = False,
    names: Sequence[str] | None = None,
) -> list[PseudoEpisode]:
    """Pseudo-episodes for several named ASS files, each character keeping one voice.

    Voices are assigned once over the whole season's line counts, so the main cast gets the
    main voices and one-off characters of all episodes compete for the rest.
    """
    all_turns = [turns_from_ass(p) for p in ass_paths]
    names = list(names) if names is not None else [f"ep{i + 1:02d}" for i in range(len(ass_paths))]
    if len(names) != len(all_turns):
        raise InputError("names and ass_paths differ in length")
    counts = Counter(t.speaker for turns in all_turns for t in turns)
    vmap = pool.assign(counts, seed)
    return [
        build_episode(turns, pool, out_dir, nm, seed * 1000 + i + 1, snr_db, music, video, vmap)
        for i, (turns, nm) in enumerate(zip(all_turns, names, strict=True))
    ]


def thin_names(ass_path: str | Path, share: float, out_path: str | Path, seed: int = 0) -> int:
    """Copy a named ASS keeping the Name field on only ``share`` of its events; returns how many.

    Real fansub tracks name some lines and not others: this is how the hint benchmark and the
    README's walk-through make a pseudo-episode whose subtitles carry 10% or 30% of the names.
    Which events keep theirs is drawn with ``seed``, so a rerun writes the same file.
    """
    if not 0.0 <= share <= 1.0:
        raise InputError(f"share of names to keep must be within 0..1, not {share}")
    try:
        subs = pysubs2.load(str(ass_path), encoding="utf-8")
    except (OSError, ValueError, pysubs2.exceptions.Pysubs2Error) as exc:
        raise SubtitleError(f"cannot read {ass_path}: {exc}") from exc
    keep = np.random.default_rng(seed).random(len(subs.events)) < share
    kept = 0
    for ev, k in zip(subs.events, keep, strict=True):
        if k and ev.name:
            kept += 1
        else:
            ev.name = ""
    subs.save(str(out_path), format_="ass", encoding="utf-8")
    return kept


def build_demo_season(
    out_dir: str | Path,
    n_episodes: int = 3,
    n_lines: int = 40,
    duration_s: float = 95.0,
    seed: int = 0,
    video: bool = False,
) -> list[PseudoEpisode]:
    """Several demo-like episodes of one cast (the bundled LibriSpeech voices, each character
    keeping its voice across episodes), needing only package data: what the Ray tests and
    benchmark run on, where a season rather than one episode is the point."""
    pool = demo_pool()
    seasons = [
        synthetic_turns(n_lines=n_lines, n_main=6, n_minor=2, seed=seed + i, duration_s=duration_s)
        for i in range(n_episodes)
    ]
    vmap = pool.assign(Counter(t.speaker for turns in seasons for t in turns), seed)
    return [
        build_episode(
            turns, pool, out_dir, f"ep{i + 1:02d}", seed * 1000 + i + 1, 15.0, True, video, vmap
        )
        for i, turns in enumerate(seasons)
    ]
