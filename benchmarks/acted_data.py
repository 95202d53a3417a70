"""Acted-voice pseudo-episodes: real acted clips laid on real named-ASS turn structure, cached.

Read speech (LibriSpeech) flatters every voice model; anime is acted. Each episode here takes
the turn structure of one real named ASS episode (../shared/data/anime_subtitles_named), gives
each of its most talkative characters one acted voice from ../shared/data/acted_voices (game
characters, VTubers), and places one whole clip per line: clip = line, no clip twice in an
episode (an identical clip would be a free, false match). A character with more lines than its
voice has clips keeps only as many of its lines (a seeded random choice); characters beyond the
voices are left out. Lines keep the original order and gaps (overlaps only where the original
had two different speakers overlapping, at most 0.5 s), music and noise go under them at an SNR.

Then castlist's real path: ``add_episode`` (ingest) and ``embed_episode`` (CAM++ by default),
one workspace per episode, cached under ``work/<name>/`` as ``ws/``, ``truth.csv`` (one row per
line: idx, start, end, speaker = character, voice = acted speaker, clip, episode) and ``DONE``.
The layout is the grouping benchmark's, so ``benchmarks.grouping_data.load`` reads it.
"""

from __future__ import annotations

import csv
import logging
import os
import shutil
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.pseudo_seasons import turns_from_ass
from pipelines.demo.episodes import (
    SAMPLE_RATE,
    Turn,
    _fade,
    _load_audio,
    _write_media,
    _write_subs,
    active_frames,
    background,
)

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
DEFAULT_WORK = REPO / "bench-out" / "acted"

VTUBERS = ("aqua-button", "kanata-button", "miko-button", "mio-button", "new-pekobutton")
# the three game characters with the most clips join the VTubers in the 8-voice episode
GAME3 = ("bluearchive_a/koyuki", "bluearchive_a/natsu", "bluearchive_a/hiyori")


@dataclass(frozen=True)
class ActedSpec:
    """One acted pseudo-episode: which ASS turn structure, which voices, which SNR."""

    name: str
    ass_parts: tuple[str, ...]  # substrings that pick one file under anime_subtitles_named/ass
    voices: tuple[str, ...]  # "<source>" (every speaker of it) or "<source>/<speaker>"
    snr_db: float
    seed: int = 0


def _specs() -> tuple[ActedSpec, ...]:
    bases = (
        # 22 game characters on an episode with 30 named characters (Durarara!! 03)
        ("game22", ("Durarara", "Durarara - 03("), ("bluearchive_a",)),
        # 5 VTubers on the five main characters of Toradora! 13 (all have >= 30 lines)
        ("vtuber5", ("ToraDora_-_13_",), VTUBERS),
        # 8 voices: 5 VTubers + 3 game characters on Toradora! 14 (8 characters >= 11 lines)
        ("mixed8", ("ToraDora_-_14_",), VTUBERS + GAME3),
    )
    return tuple(
        ActedSpec(f"{name}_snr{snr:g}", parts, voices, float(snr))
        for name, parts, voices in bases
        for snr in (15, 5)
    )


SPECS = _specs()

MORE_SPECS = (
    ActedSpec("game22ab_snr10", ("Angel Beats", "_-_03_"), ("bluearchive_a",), 10.0, seed=1),
    ActedSpec("game22dd_snr10", ("Durarara", "Durarara - 23("), ("bluearchive_a",), 10.0, seed=2),
    ActedSpec("mixed8drr_snr10", ("Durarara", "Durarara - 05v2("), VTUBERS + GAME3, 10.0, seed=1),
    ActedSpec("mixed8tt_snr10", ("ToraDora_-_03_",), VTUBERS + GAME3, 10.0, seed=2),
    ActedSpec("vtuber5gg_snr10", ("Gakkou", "- 03 ["), VTUBERS, 10.0, seed=1),
    ActedSpec("vtuber5tt_snr10", ("ToraDora_-_17_",), VTUBERS, 10.0, seed=2),
    ActedSpec("game22ab5_snr10", ("Angel Beats", "_-_05v2_"), ("bluearchive_a",), 10.0, seed=3),
    ActedSpec("game22ab14_snr10", ("Angel Beats", "_-_14_"), ("bluearchive_a",), 10.0, seed=4),
    ActedSpec("mixed8tt23_snr10", ("ToraDora_-_23_",), VTUBERS + GAME3, 10.0, seed=3),
    ActedSpec("mixed8gg11_snr10", ("Gakkou", "- 11 ["), VTUBERS + GAME3, 10.0, seed=4),
    ActedSpec("vtuber5gg8_snr10", ("Gakkou", "- 08 ["), VTUBERS, 10.0, seed=3),
    ActedSpec("vtuber5tt13s_snr10", ("ToraDora_-_13_",), VTUBERS, 10.0, seed=4),
)
"""Twelve more acted episodes (``bench_acted.py --more``): the same voices on other turn
structures (Angel Beats!, Gakkou Gurashi!, other episodes of Durarara!! and Toradora!) with other
clip draws, at 10 dB. On six episodes a change to the review queue could not be told from luck:
one episode's cost moves by 5 operations per 100 lines when a single answer changes."""


def acted_voices(data: Path, wanted: tuple[str, ...]) -> dict[str, list[Path]]:
    """Speaker id ("source/speaker") -> its clips, from acted_voices/manifest.csv."""
    root = data / "acted_voices"
    out: dict[str, list[Path]] = {}
    with (root / "manifest.csv").open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            vid = f"{row['source']}/{row['speaker']}"
            if row["source"] in wanted or vid in wanted:
                out.setdefault(vid, []).append(root / row["clip"])
    missing = [w for w in wanted if not any(v == w or v.startswith(w + "/") for v in out)]
    if missing:
        raise FileNotFoundError(f"{root}: no clips for {missing}")
    return {k: sorted(v) for k, v in sorted(out.items())}


def find_ass(data: Path, parts: tuple[str, ...]) -> Path:
    root = data / "anime_subtitles_named" / "ass"
    hits = sorted({p for p in root.rglob("*.ass") if all(s in str(p) for s in parts)})
    if len(hits) != 1:
        raise FileNotFoundError(f"{root}: {len(hits)} ASS files match {parts}")
    return hits[0]


def _trim(x: np.ndarray) -> np.ndarray:
    """The clip from its first to its last active 20 ms frame (60 ms kept around)."""
    act = np.flatnonzero(active_frames(x))
    if act.size == 0:
        return x
    a = max(0, act[0] - 3) * 320
    b = min(len(x), (act[-1] + 4) * 320)
    return x[a:b]


def cast_and_lay(
    turns: list[Turn], clips: dict[str, list[Path]], seed: int
) -> list[tuple[Turn, str, Path]]:
    """Characters by line count take voices by clip count; each kept line gets an unused clip.

    Returns (turn in original timing, voice, clip) in original order; the caller re-times."""
    rng = np.random.default_rng(seed)
    counts = Counter(t.speaker for t in turns)
    chars = sorted(counts, key=lambda c: (-counts[c], c))[: len(clips)]
    voices = sorted(clips, key=lambda v: (-len(clips[v]), v))
    # among voices with equal clip counts, a seeded order
    voices = sorted(voices, key=lambda v: (-len(clips[v]), float(rng.random())))
    cast = dict(zip(chars, voices, strict=False))
    kept: list[tuple[Turn, str, Path]] = []
    by_char: dict[str, list[int]] = {}
    for i, t in enumerate(turns):
        if t.speaker in cast:
            by_char.setdefault(t.speaker, []).append(i)
    keep_idx: dict[int, Path] = {}
    for c, idx in by_char.items():
        pool = list(rng.permutation(clips[cast[c]]))
        chosen = sorted(rng.choice(idx, size=min(len(idx), len(pool)), replace=False).tolist())
        for i, clip in zip(chosen, pool, strict=False):
            keep_idx[i] = Path(clip)
    for i in sorted(keep_idx):
        kept.append((turns[i], cast[turns[i].speaker], keep_idx[i]))
    return kept


def render(spec: ActedSpec, data: Path, out_dir: Path) -> tuple[Path, Path, Path, int]:
    """Write ``ep01.wav``, ``ep01.srt`` (no names), ``ep01.ass`` and the truth rows."""
    rng = np.random.default_rng(spec.seed)
    clips = acted_voices(data, spec.voices)
    turns = turns_from_ass(find_ass(data, spec.ass_parts))
    kept = cast_and_lay(turns, clips, spec.seed)
    audio_of = {clip: _trim(_load_audio(clip)) for _, _, clip in kept}
    placed: list[tuple[Turn, str, Path]] = []
    cursor = 1.0
    prev: Turn | None = None
    for t, voice, clip in kept:
        dur = len(audio_of[clip]) / SAMPLE_RATE
        if prev is None:
            start = cursor
        else:
            gap = t.start - prev.end
            if gap < 0 and t.speaker != prev.speaker:
                start = max(placed[-1][0].start + 0.3, cursor - min(0.5, -gap))
            else:
                start = cursor + float(np.clip(gap, 0.1, 4.0))
        start = round(start, 2)
        end = round(start + dur, 2)
        placed.append((Turn(start, end, t.speaker, t.text), voice, clip))
        cursor = max(cursor, end)
        prev = t
    n = int(round((cursor + 2.0) * SAMPLE_RATE))
    speech = np.zeros(n, np.float32)
    active = np.zeros(n, bool)
    for t, _voice, clip in placed:
        x = audio_of[clip]
        act = active_frames(x)
        frames = x[: act.size * 320].reshape(-1, 320)[act] if act.any() else x
        x = x * (0.05 / (float(np.sqrt(np.mean(frames**2))) + 1e-9))
        x = _fade(x * 10 ** (rng.uniform(-3, 3) / 20)).astype(np.float32)
        a = int(round(t.start * SAMPLE_RATE))
        b = min(a + len(x), n)
        speech[a:b] += x[: b - a]
        active[a:b] = True
    bg = background(n, rng, music=True)
    p_speech = float(np.mean(speech[active] ** 2))
    mix = speech + bg * np.sqrt(
        p_speech / ((float(np.mean(bg**2)) + 1e-12) * 10 ** (spec.snr_db / 10))
    )
    mix = (mix * min(1.0, 0.98 / float(np.max(np.abs(mix))))).astype(np.float32)
    out_dir.mkdir(parents=True, exist_ok=True)
    media, srt, ass = (out_dir / f"ep01{ext}" for ext in (".wav", ".srt", ".ass"))
    _write_media(mix, media, video=False)
    turns_out = [t for t, _, _ in placed]
    _write_subs(turns_out, srt, with_names=False)
    _write_subs(turns_out, ass, with_names=True)
    truth = out_dir.parent / "truth.csv"
    with truth.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["idx", "start", "end", "speaker", "voice", "clip", "episode"])
        order = sorted(range(len(placed)), key=lambda i: (placed[i][0].start, placed[i][0].end))
        for k, i in enumerate(order):
            t, voice, clip = placed[i]
            rel = clip.relative_to(data / "acted_voices").as_posix()
            w.writerow([k, f"{t.start:.2f}", f"{t.end:.2f}", t.speaker, voice, rel, "ep01"])
    return media, srt, truth, len(placed)


def _claim(root: Path) -> bool:
    """Mark ``root`` as being built by this process; False when another live process is on it
    (two builders can then share the list without colliding)."""
    root.mkdir(parents=True, exist_ok=True)
    marker = root / "BUILDING"
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        try:
            os.kill(int(marker.read_text().strip() or 0), 0)
            return False
        except (ValueError, ProcessLookupError, PermissionError):
            marker.write_text(str(os.getpid()))  # its builder died: take over
            return True
    with os.fdopen(fd, "w") as fh:
        fh.write(str(os.getpid()))
    return True


def build(
    work: Path = DEFAULT_WORK,
    data: Path = DATA,
    specs: tuple[ActedSpec, ...] = SPECS,
    voice: str = "campplus",
) -> list[Path]:
    """Render, add and embed every acted episode not yet cached; returns their folders."""
    from pipelines.stages.ingest import add_episode
    from pipelines.stages.run import embed_episode, voice_embedder
    from pipelines.store.workspace import Workspace

    work.mkdir(parents=True, exist_ok=True)
    embedder = None
    roots = []
    for spec in specs:
        root = work / spec.name
        roots.append(root)
        if (root / "DONE").is_file() or not _claim(root):
            continue
        t0 = time.perf_counter()
        for sub in ("media", "ws"):
            if (root / sub).exists():
                shutil.rmtree(root / sub)
        media, srt, _truth, n = render(spec, data, root / "media")
        embedder = embedder or voice_embedder(voice)
        ws = Workspace.init(root / "ws")
        added = add_episode(ws, media, srt)
        embed_episode(ws, added.episode.id, embedder)
        ws.set_meta("voice_backend", voice)
        ws.set_meta("voice_model", embedder.name)
        ws.close()
        (root / "DONE").write_text(f"acted:{spec.name.rsplit('_snr', 1)[0]}\n", encoding="utf-8")
        (root / "BUILDING").unlink(missing_ok=True)
        log.info("built %s: %d lines in %.0f s", spec.name, n, time.perf_counter() - t0)
    return roots


def cached(work: Path = DEFAULT_WORK) -> list[Path]:
    """Acted episodes already built under ``work`` (no building)."""
    return sorted(p.parent for p in Path(work).glob("*/DONE"))
