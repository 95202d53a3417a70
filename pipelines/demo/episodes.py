"""Pseudo-episodes: realistic stand-ins for speaker-labelled anime episodes.

No public episode with speaker-labelled subtitles and media exists offline, so benchmarks and the
demo build one: a turn structure (synthetic here; the benchmarks read real ones from named ASS
files in benchmarks/pseudo_seasons.py), one real voice per character placed at each line's time,
a music/noise bed at a chosen SNR, subtitles with and without names, and the ground truth.
Everything is deterministic given the seed.

Only the *timings and names* of real ASS files are used; their texts never leave the machine
(synthetic turns carry made-up texts), so the demo can ship.
"""

from __future__ import annotations

import csv
import json
import logging
import shutil
import subprocess
import tempfile
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import pysubs2
import soundfile as sf
from scipy.signal import lfilter, resample_poly

from pipelines.errors import InputError, MediaError
from pipelines.io.media import SAMPLE_RATE, file_arg

log = logging.getLogger(__name__)

_FRAME = 320  # 20 ms at 16 kHz


# ----------------------------------------------------------------------------- turns


@dataclass(frozen=True)
class Turn:
    """One subtitle line of a pseudo-episode: who speaks, when (seconds), and what."""

    start: float
    end: float
    speaker: str
    text: str = ""

    @property
    def duration(self) -> float:
        return self.end - self.start


_MAIN_NAMES = (
    "Haruka", "Sota", "Mei", "Daichi", "Yui", "Kenta", "Aoi", "Ren", "Hina", "Takumi",
    "Sakura", "Kaito",
)  # fmt: skip
_MINOR_NAMES = ("Shopkeeper", "Teacher", "Passerby", "Announcer", "Old man", "Girl", "Guard")
_PHRASES = (
    "Wait for me!", "What are you doing here?", "I told you already.", "No way.",
    "Are you serious?", "Let's go.", "Hey!", "Huh?", "That's not what I meant.",
    "We don't have much time.", "I'll handle it.", "Thank you, really.", "Why me?",
    "Look over there!", "It's fine, don't worry.", "I knew it.", "You're late again.",
    "Just this once.", "Where did everyone go?", "Come on, hurry up!", "Right.", "Eh?",
    "I never said that.", "Leave it to me.", "So that's how it is.", "Is it really okay?",
)  # fmt: skip


def _speaker_sequence(
    rng: np.random.Generator, mains: list[str], weights: np.ndarray, n_main_lines: int
) -> tuple[list[str], set[int]]:
    """Who speaks each main line: scenes of a few characters who alternate, with bursts (the
    same character goes on); every main character speaks at least twice. Returns the speakers
    and the line indices where scenes start."""
    n_main = len(mains)
    speakers: list[str] = []
    scene_starts: set[int] = set()
    while len(speakers) < n_main_lines:
        k = int(rng.integers(2, min(4, n_main) + 1))
        cast = list(rng.choice(mains, size=k, replace=False, p=weights / weights.sum()))
        scene_starts.add(len(speakers))
        prev = None
        for _ in range(int(rng.integers(6, 18))):
            if prev is not None and rng.random() < 0.2:
                who = prev  # burst: the same character goes on
            else:
                options = [c for c in cast if c != prev]
                p = np.array([weights[mains.index(c)] for c in options])
                who = str(rng.choice(options, p=p / p.sum()))
            speakers.append(who)
            prev = who
    speakers = speakers[:n_main_lines]
    for c in mains:  # every main character speaks at least twice
        if speakers.count(c) < 2:
            for _ in range(2 - speakers.count(c)):
                speakers[int(rng.integers(len(speakers)))] = c
    return speakers, scene_starts


def synthetic_turns(
    n_lines: int = 80,
    n_main: int = 6,
    n_minor: int = 2,
    seed: int = 0,
    duration_s: float = 190.0,
) -> list[Turn]:
    """A procedurally generated turn structure that looks like an anime episode's.

    Scenes of 2-4 main characters who mostly alternate, with bursts (same speaker again),
    short interjections (0.5-1.5 s), typical lines (1.5-4 s), occasional overlaps, scene
    breaks, a Zipf-like share of lines per character and ``n_minor`` one-off characters with
    one or two lines each. Times are stretched or squeezed to fill ``duration_s``.
    """
    if n_main < 2 or n_main > len(_MAIN_NAMES) or n_minor > len(_MINOR_NAMES):
        raise InputError(f"n_main must be 2..{len(_MAIN_NAMES)}, n_minor <= {len(_MINOR_NAMES)}")
    n_minor_lines = sum(1 + (i % 2) for i in range(n_minor))
    if n_lines < n_main + n_minor_lines:
        raise InputError("n_lines too small for that many characters")
    rng = np.random.default_rng(seed)
    mains = list(_MAIN_NAMES[:n_main])
    weights = 1.0 / np.arange(1, n_main + 1) ** 0.8

    speakers, scene_starts = _speaker_sequence(rng, mains, weights, n_lines - n_minor_lines)
    for i, name in enumerate(_MINOR_NAMES[:n_minor]):
        pos = int(rng.integers(1, len(speakers)))
        speakers[pos:pos] = [name] * (1 + (i % 2))

    # how long, and the gaps between lines (shapes measured on the real named ASS files:
    # median line 2.1 s, a quarter under 1.5 s; a quarter of gaps ~0, median gap 0.26 s)
    short = rng.random(n_lines) < 0.26
    durs = np.where(short, rng.uniform(0.5, 1.5, n_lines), rng.uniform(1.5, 3.5, n_lines))
    durs = np.where(rng.random(n_lines) < 0.08, rng.uniform(3.5, 4.0, n_lines), durs)
    gaps = np.where(rng.random(n_lines) < 0.25, 0.05, rng.exponential(0.5, n_lines) + 0.1)
    gaps[0] = 1.0
    for s in scene_starts:
        if 0 < s < n_lines:
            gaps[s] = rng.uniform(2.0, 5.0)
    spk = np.array(speakers)
    overlap = (rng.random(n_lines) < 0.03) & (np.arange(n_lines) > 0)
    overlap[1:] &= spk[1:] != spk[:-1]  # only someone else cuts in
    tail = 1.5
    min_gaps = 0.15 * n_lines
    budget = duration_s - tail - min_gaps
    for _ in range(5):  # too many lines for the time: shorten them (not below 0.5 s)
        if durs.sum() > budget:
            durs = np.maximum(0.5, durs * budget / durs.sum())
    free = max(duration_s - tail - durs.sum(), min_gaps)
    gaps *= free / gaps[~overlap].sum()
    turns: list[Turn] = []
    t = 0.0
    for i in range(n_lines):
        if overlap[i] and turns:
            start = max(turns[-1].start + 0.3, turns[-1].end - rng.uniform(0.2, 0.6))
        else:
            start = t + gaps[i]
        end = start + durs[i]
        t = max(t, end)
        text = str(rng.choice(_PHRASES))
        turns.append(Turn(round(start, 2), round(end, 2), speakers[i], text))
    return turns


# ----------------------------------------------------------------------------- voices


def _load_audio(path: Path) -> np.ndarray:
    """Mono float32 at 16 kHz; other rates are resampled (librosa-free, scipy polyphase)."""
    try:
        x, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except (OSError, RuntimeError, sf.LibsndfileError) as exc:
        raise MediaError(f"{path}: cannot read audio ({exc})") from exc
    x = x.mean(axis=1)
    if sr != SAMPLE_RATE:
        g = np.gcd(sr, SAMPLE_RATE)
        x = resample_poly(x, SAMPLE_RATE // g, sr // g).astype(np.float32)
    return x


def active_frames(x: np.ndarray, margin_db: float = 35.0) -> np.ndarray:
    """Boolean mask of 20 ms frames holding speech, by energy relative to the loud frames.

    Read speech and meeting audio have a clear floor, so a level threshold is enough here and
    keeps this module free of the VAD model.
    """
    n = len(x) // _FRAME
    if n == 0:
        return np.zeros(0, dtype=bool)
    e = 10 * np.log10((x[: n * _FRAME].reshape(n, _FRAME) ** 2).mean(axis=1) + 1e-12)
    floor = np.percentile(e, 10)
    thr = max(np.percentile(e, 95) - margin_db, floor + 8.0)
    return e > thr


def speech_only(x: np.ndarray, max_pause_s: float = 0.12) -> np.ndarray:
    """Keep the speech, shortening pauses to ``max_pause_s``, so any crop is mostly voiced."""
    act = active_frames(x)
    if not act.any():
        return np.zeros(0, dtype=np.float32)
    max_pause = int(round(max_pause_s * SAMPLE_RATE / _FRAME))
    keep = act.copy()
    run = 0
    for i, a in enumerate(act):  # keep at most max_pause frames of each pause
        run = 0 if a else run + 1
        if not a and run <= max_pause // 2:
            keep[i] = True
    rev_run = 0
    for i in range(len(act) - 1, -1, -1):
        rev_run = 0 if act[i] else rev_run + 1
        if not act[i] and rev_run <= max_pause // 2:
            keep[i] = True
    idx = np.flatnonzero(keep)
    frames = x[: len(act) * _FRAME].reshape(len(act), _FRAME)[idx]
    return frames.reshape(-1).astype(np.float32)


def _ascii(s: str) -> str:
    return unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode()


def _fade(x: np.ndarray, n: int = 240) -> np.ndarray:
    n = min(n, len(x) // 2)
    if n > 0:
        ramp = (0.5 - 0.5 * np.cos(np.linspace(0, np.pi, n))).astype(np.float32)
        x[:n] *= ramp
        x[-n:] *= ramp[::-1]
    return x


class VoicePool:
    """Voices (speaker id -> utterances, 16 kHz mono float32) to cast characters with.

    ``voices`` go to the characters with the most lines; ``extra`` (e.g. AMI meeting speakers)
    give one-off characters voices of their own. Only when both run out is a voice reused.
    """

    def __init__(
        self,
        voices: Mapping[str, Sequence[np.ndarray]],
        extra: Mapping[str, Sequence[np.ndarray]] | None = None,
    ) -> None:
        self.voices = {k: list(v) for k, v in voices.items() if len(v)}
        self.extra = {k: list(v) for k, v in (extra or {}).items() if len(v)}
        overlap = set(self.voices) & set(self.extra)
        if overlap:
            raise InputError(f"voice ids both main and extra: {sorted(overlap)}")
        if not self.voices and not self.extra:
            raise InputError("empty voice pool")
        self._streams: dict[str, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.voices) + len(self.extra)

    @property
    def ids(self) -> list[str]:
        return sorted(self.voices) + sorted(self.extra)

    @classmethod
    def from_folder(cls, root: str | Path, prefix: str = "") -> VoicePool:
        """A folder per speaker holding flac/wav utterances (the LibriSpeech layout)."""
        root = Path(root)
        voices: dict[str, list[np.ndarray]] = {}
        for d in sorted(p for p in root.iterdir() if p.is_dir()):
            files = sorted(f for f in d.rglob("*") if f.suffix.lower() in (".flac", ".wav"))
            if files:
                voices[prefix + d.name] = [_load_audio(f) for f in files]
        if not voices:
            raise InputError(f"{root}: no speaker folders with .flac/.wav files")
        return cls(voices)

    @staticmethod
    def rttm_voices(
        rttm_paths: Iterable[str | Path],
        wav_dir: str | Path | None = None,
        prefix: str = "ami:",
        min_segment_s: float = 0.5,
        min_total_s: float = 2.0,
    ) -> dict[str, list[np.ndarray]]:
        """Single-speaker segments cut from RTTM-annotated recordings (overlaps removed).

        Speakers with under ``min_total_s`` seconds of clean segments are left out: too little
        to voice even one character convincingly.

        The wav of each RTTM ``uri`` is looked up as ``wav_dir/uri.wav`` (default: beside the
        RTTM file); recordings that are missing are skipped.
        """
        segs: dict[str, list[tuple[str, float, float]]] = {}
        wav_of: dict[str, Path] = {}
        for rttm in map(Path, rttm_paths):
            for row in rttm.read_text(encoding="utf-8").splitlines():
                f = row.split()
                if len(f) < 8 or f[0] != "SPEAKER":
                    continue
                uri, t0, dur, spk = f[1], float(f[3]), float(f[4]), f[7]
                segs.setdefault(uri, []).append((spk, t0, t0 + dur))
                wav_of[uri] = Path(wav_dir or rttm.parent) / f"{uri}.wav"
        voices: dict[str, list[np.ndarray]] = {}
        for uri in sorted(segs):
            if not wav_of[uri].exists():  # "trn00" may be stored as "trñ00.wav"
                near = [w for w in wav_of[uri].parent.glob("*.wav") if _ascii(w.stem) == uri]
                wav_of[uri] = near[0] if len(near) == 1 else wav_of[uri]
            if not wav_of[uri].exists():
                log.warning("rttm: %s missing, skipped", wav_of[uri])
                continue
            audio = _load_audio(wav_of[uri])
            rows = sorted(set(segs[uri]), key=lambda r: (r[1], r[2], r[0]))
            for spk, a, b in rows:
                pieces = [(a, b)]
                for other, c, d in rows:  # subtract everyone else's speech
                    if other == spk:
                        continue
                    pieces = [
                        q
                        for p0, p1 in pieces
                        for q in ((p0, min(p1, c)), (max(p0, d), p1))
                        if q[1] - q[0] > 0
                    ]
                for p0, p1 in pieces:
                    if p1 - p0 >= min_segment_s:
                        clip = audio[round(p0 * SAMPLE_RATE) : round(p1 * SAMPLE_RATE)]
                        voices.setdefault(prefix + spk, []).append(clip)
        return {k: v for k, v in voices.items() if sum(map(len, v)) >= min_total_s * SAMPLE_RATE}

    def with_extra(self, extra: Mapping[str, Sequence[np.ndarray]]) -> VoicePool:
        """This pool plus more one-off voices (ids already present are ignored)."""
        more = {k: v for k, v in extra.items() if k not in self.voices and k not in self.extra}
        return VoicePool(self.voices, {**self.extra, **more})

    def assign(self, line_counts: Mapping[str, int], seed: int = 0) -> dict[str, str]:
        """Character -> voice id: frequent characters get main voices (seeded permutation),
        the rest get extra voices; beyond that voices are reused, extra ones first, so the
        rarest characters share and the main cast stays distinct."""
        rng = np.random.default_rng(seed)
        chars = sorted(line_counts, key=lambda c: (-line_counts[c], c))
        main = [str(v) for v in rng.permutation(sorted(self.voices))] if self.voices else []
        extra = [str(v) for v in rng.permutation(sorted(self.extra))] if self.extra else []
        order = main + extra
        reuse = extra + main
        out: dict[str, str] = {}
        for i, c in enumerate(chars):
            out[c] = order[i] if i < len(order) else reuse[(i - len(order)) % len(reuse)]
        if len(chars) > len(order):
            log.info("%d characters, %d voices: some voices reused", len(chars), len(order))
        return out

    def stream(self, voice: str) -> np.ndarray:
        """The voice's utterances with pauses shortened, joined, at a common speech level."""
        if voice not in self._streams:
            utts = self.voices.get(voice) or self.extra.get(voice)
            if utts is None:
                raise InputError(f"unknown voice {voice!r}")
            parts = [_fade(speech_only(u).copy()) for u in utts]
            s = np.concatenate([p for p in parts if len(p)] or [np.zeros(0, np.float32)])
            if len(s) < SAMPLE_RATE // 2:
                raise InputError(f"voice {voice!r} has under 0.5 s of speech")
            s = s * (0.05 / (np.sqrt(np.mean(s**2)) + 1e-9))  # about -26 dBFS
            self._streams[voice] = s.astype(np.float32)
        return self._streams[voice]


_DEMO_PACKAGE = "pipelines.demo.data"


def demo_pool() -> VoicePool:
    """The LibriSpeech voices shipped in the package (see data/ATTRIBUTION.md)."""
    base = resources.files(_DEMO_PACKAGE)
    manifest = json.loads(base.joinpath("manifest.json").read_text(encoding="utf-8"))
    main: dict[str, list[np.ndarray]] = {}
    extra: dict[str, list[np.ndarray]] = {}
    for spk, info in manifest["speakers"].items():
        utts = []
        for item in info["files"]:
            with resources.as_file(base.joinpath(item["file"])) as p:
                utts.append(_load_audio(Path(p)))
        (main if info["role"] == "main" else extra)[f"libri:{spk}"] = utts
    return VoicePool(main, extra)


# ----------------------------------------------------------------------------- background


def pink_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """1/f noise by Paul Kellet's IIR filter (streams; no FFT of the whole episode)."""
    b = [0.049922035, -0.095993537, 0.050612699, -0.004408786]
    a = [1.0, -2.494956002, 2.017265875, -0.522189400]
    y = lfilter(b, a, rng.standard_normal(n + 2000))[2000:]
    return (y / (np.std(y) + 1e-12)).astype(np.float32)


_PROGRESSIONS = ((0, 7, 9, 5), (0, 5, 7, 0), (9, 5, 0, 7), (0, 9, 5, 7), (2, 7, 0, 0))


def _music_loop(rng: np.random.Generator) -> np.ndarray:
    """Four bars of sine-tone pads plus an arpeggio: stands in for an anime BGM cue."""
    bpm = float(rng.uniform(80, 140))
    beat = 60.0 / bpm
    bar = int(4 * beat * SAMPLE_RATE)
    root = 48 + int(rng.integers(0, 12))  # MIDI note of the key
    prog = _PROGRESSIONS[int(rng.integers(len(_PROGRESSIONS)))]
    out = np.zeros(4 * bar, dtype=np.float32)
    t_bar = np.arange(bar) / SAMPLE_RATE
    env_pad = np.minimum(1.0, t_bar / 0.3) * np.minimum(1.0, (t_bar[::-1]) / 0.2)
    step = int(beat / 2 * SAMPLE_RATE)
    t_note = np.arange(step) / SAMPLE_RATE
    env_arp = np.exp(-t_note * 6.0) * np.minimum(1.0, t_note / 0.005)
    for k, deg in enumerate(prog):
        minor = deg in (9, 2, 4)
        chord = [root + deg, root + deg + (3 if minor else 4), root + deg + 7]
        seg = np.zeros(bar)
        for m in chord:
            f = 440.0 * 2 ** ((m - 69) / 12)
            seg += 0.3 * (np.sin(2 * np.pi * f * t_bar) + 0.3 * np.sin(4 * np.pi * f * t_bar))
        seg *= env_pad
        for j in range(bar // step):
            m = chord[j % 3] + 12 + (12 if j % 4 == 3 else 0)
            f = 440.0 * 2 ** ((m - 69) / 12)
            seg[j * step : (j + 1) * step] += 0.5 * env_arp * np.sin(2 * np.pi * f * t_note)
        out[k * bar : (k + 1) * bar] = seg
    return out


def background(n: int, rng: np.random.Generator, music: bool = True) -> np.ndarray:
    """Pink noise, plus (``music``) cues of 15-60 s at varying levels with quiet stretches."""
    bed = 0.3 * pink_noise(n, rng)
    if not music:
        return bed
    track = np.zeros(n, dtype=np.float32)
    pos = 0
    while pos < n:
        length = min(n - pos, int(rng.uniform(15, 60) * SAMPLE_RATE))
        level = float(rng.choice([0.0, 0.5, 1.0], p=[0.2, 0.4, 0.4]))
        if level > 0:
            loop = _music_loop(rng)
            cue = np.tile(loop, length // len(loop) + 1)[:length] * level
            track[pos : pos + length] = _fade(cue.astype(np.float32), int(0.5 * SAMPLE_RATE))
        pos += length
    return track / (np.sqrt(np.mean(track**2)) + 1e-9) + bed


# ----------------------------------------------------------------------------- episodes


@dataclass(frozen=True)
class TruthLine:
    """Ground truth of one line: the character, and the voice that actually speaks it."""

    idx: int
    start: float
    end: float
    speaker: str
    voice: str


@dataclass(frozen=True)
class PseudoEpisode:
    """What :func:`build_episode` wrote, and the truth to score against."""

    name: str
    media: Path
    srt: Path
    ass: Path
    truth_csv: Path
    duration: float
    truth: tuple[TruthLine, ...]
    voices: dict[str, str] = field(default_factory=dict)


DemoEpisode = PseudoEpisode


def _snap(turns: Sequence[Turn]) -> list[Turn]:
    """Centisecond times (what ASS can hold), sorted: audio, subtitles and truth then agree."""
    out = []
    for t in turns:
        start = round(max(0.0, t.start), 2)
        end = round(max(t.end, start + 0.1), 2)
        out.append(Turn(start, end, t.speaker, t.text or "..."))
    out.sort(key=lambda t: (t.start, t.end, t.speaker))
    return out


def _write_subs(turns: Sequence[Turn], path: Path, with_names: bool) -> None:
    subs = pysubs2.SSAFile()
    for t in turns:
        subs.events.append(
            pysubs2.SSAEvent(
                start=int(round(t.start * 1000)),
                end=int(round(t.end * 1000)),
                text=t.text.replace("\n", " "),
                name=t.speaker if with_names else "",
            )
        )
    subs.save(str(path), format_="ass" if path.suffix == ".ass" else "srt", encoding="utf-8")


def _write_media(audio: np.ndarray, path: Path, video: bool) -> None:
    if not video:
        sf.write(str(path), audio, SAMPLE_RATE, subtype="PCM_16")
        return
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise MediaError("ffmpeg not found on PATH: needed to write a video pseudo-episode")
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "a.wav"
        sf.write(str(wav), audio, SAMPLE_RATE, subtype="PCM_16")
        dur = len(audio) / SAMPLE_RATE
        cmd = [
            ffmpeg, "-nostdin", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", f"testsrc2=size=160x90:rate=2:duration={dur:.3f}",
            "-i", file_arg(wav), "-map", "0:v", "-map", "1:a",
            "-c:v", "mpeg4", "-q:v", "10", "-c:a", "flac", "-shortest", file_arg(path),
        ]  # fmt: skip
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            raise MediaError(f"ffmpeg failed writing {path}: {res.stderr.strip()[-500:]}")


def build_episode(
    turns: Sequence[Turn],
    pool: VoicePool,
    out_dir: str | Path,
    name: str,
    seed: int = 0,
    snr_db: float | None = None,
    music: bool = True,
    video: bool = False,
    voices: Mapping[str, str] | None = None,
) -> PseudoEpisode:
    """Render one pseudo-episode into ``out_dir``.

    Each line gets a crop of its character's voice exactly as long as the line, taken from
    speech (pauses shortened), consecutive lines of a character taking consecutive crops so
    they differ. ``snr_db`` None means clean speech; otherwise a bed of pink noise (and, with
    ``music``, synthetic music cues) is mixed in at that speech-to-background ratio. Writes
    ``name.wav`` (or ``name.mkv`` with a small test-pattern video when ``video``),
    ``name.srt`` (no names), ``name.ass`` (names in the Name field) and ``name.truth.csv``.
    ``voices`` fixes the character -> voice map (a season passes one); otherwise
    ``pool.assign`` draws it from ``seed``.
    """
    if not turns:
        raise InputError(f"{name}: no turns to render")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    turns = _snap(turns)
    rng = np.random.default_rng(seed)
    vmap = (
        dict(voices) if voices is not None else pool.assign(Counter(t.speaker for t in turns), seed)
    )
    missing = {t.speaker for t in turns} - set(vmap)
    if missing:
        raise InputError(f"{name}: no voice for {sorted(missing)}")
    duration = round(max(t.end for t in turns) + 2.0, 2)
    n = int(round(duration * SAMPLE_RATE))
    speech = np.zeros(n, dtype=np.float32)
    active = np.zeros(n, dtype=bool)
    cursor: dict[str, int] = {}
    for t in turns:
        s = pool.stream(vmap[t.speaker])
        a, b = int(round(t.start * SAMPLE_RATE)), int(round(t.end * SAMPLE_RATE))
        length = b - a
        pos = cursor.get(t.speaker, int(rng.integers(len(s))))
        idx = (pos + np.arange(length)) % len(s)
        cursor[t.speaker] = (pos + length + int(rng.integers(0, SAMPLE_RATE // 2))) % len(s)
        gain = 10 ** (rng.uniform(-3, 3) / 20)
        speech[a:b] += _fade(s[idx] * gain)
        active[a:b] = True
    mix = speech
    if snr_db is not None:
        bg = background(n, rng, music=music)
        p_speech = float(np.mean(speech[active] ** 2))
        p_bg = float(np.mean(bg**2)) + 1e-12
        mix = speech + bg * np.sqrt(p_speech / (p_bg * 10 ** (snr_db / 10)))
    peak = float(np.max(np.abs(mix)))
    if peak > 0.98:
        mix = mix * (0.98 / peak)
    mix = mix.astype(np.float32)

    media = out_dir / f"{name}.{'mkv' if video else 'wav'}"
    _write_media(mix, media, video)
    srt, ass, truth_csv = (out_dir / f"{name}{ext}" for ext in (".srt", ".ass", ".truth.csv"))
    _write_subs(turns, srt, with_names=False)
    _write_subs(turns, ass, with_names=True)
    truth = tuple(
        TruthLine(i, t.start, t.end, t.speaker, vmap[t.speaker]) for i, t in enumerate(turns)
    )
    with truth_csv.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["idx", "start", "end", "speaker", "voice"])
        for r in truth:
            w.writerow([r.idx, f"{r.start:.2f}", f"{r.end:.2f}", r.speaker, r.voice])
    log.info("pseudo-episode %s: %d lines, %.0f s -> %s", name, len(truth), duration, media)
    used = {c: v for c, v in vmap.items() if c in {t.speaker for t in turns}}
    return PseudoEpisode(name, media, srt, ass, truth_csv, duration, truth, used)


def build_demo(out_dir: str | Path, seed: int = 0) -> DemoEpisode:
    """The built-in demo: ~3 min, 6 characters plus 2 one-offs, 80 lines, music at 15 dB,
    an .mkv with a video stream and subtitles without names. Needs only package data."""
    turns = synthetic_turns(n_lines=80, n_main=6, n_minor=2, seed=seed, duration_s=190.0)
    return build_episode(
        turns, demo_pool(), out_dir, "demo", seed=seed, snr_db=15.0, music=True, video=True
    )
