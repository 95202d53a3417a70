"""A tiny real workspace for the downstream tests: a wav episode with two tone "voices"
(150 Hz and 300 Hz harmonic tones, so pitch is known), real subtitles added through the
normal ingest path, planted voice vectors, and labels of every source."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from pipelines.records import AMBIENT
from pipelines.stages.ingest import add_episode
from pipelines.store.workspace import Workspace

SR = 16000
MODEL = "test-voice-v1"
F0 = {"Aki": 150.0, "Ben": 300.0}
# (speaker, text, source, confidence) per line; lines are 1.5 s long, 2 s apart
LINES = [
    ("Aki", "こんにちは", "human", 1.0),
    ("Ben", "Hello there", "propagated", 0.9),
    ("Aki", "ありがとう", "propagated", 0.8),
    ("Ben", "Good night", "propagated", 0.3),  # below --min-confidence 0.5
    ("Aki", "きょうは", "cluster", 0.7),  # a machine cluster label: not selected by default
    ("Ben", "See you", "human", 1.0),
    (AMBIENT, "crowd noise", "human", 1.0),
    ("Aki", "ちょっと待って", "propagated", 0.95),
]


def _tone(f0: float, n: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(n) / SR
    wave = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in (1, 2, 3))
    return (0.2 * wave + 0.003 * rng.normal(size=n)).astype(np.float32)


def _srt_time(s: float) -> str:
    ms = int(round(s * 1000))
    return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"


def build_tiny_ws(root: Path, name: str = "tinyseason") -> Workspace:
    """The workspace at ``root/name`` (its folder name is the season name)."""
    rng = np.random.default_rng(0)
    media = root / "media"
    media.mkdir(parents=True, exist_ok=True)
    audio = 0.001 * rng.normal(size=SR * (2 * len(LINES) + 1)).astype(np.float32)
    srt = []
    for i, (who, text, _, _) in enumerate(LINES):
        start, end = 2.0 * i + 0.25, 2.0 * i + 1.75
        f0 = F0.get(who, 220.0)
        audio[int(start * SR) : int(end * SR)] = _tone(f0, int(end * SR) - int(start * SR), rng)
        srt.append(f"{i + 1}\n{_srt_time(start)} --> {_srt_time(end)}\n{text}\n")
    sf.write(media / "ep01.wav", audio, SR)
    (media / "ep01.srt").write_text("\n".join(srt), encoding="utf-8")
    ws = Workspace.init(root / name)
    added = add_episode(ws, media / "ep01.wav", media / "ep01.srt")
    ep = added.episode.id
    # planted voice vectors: one direction per speaker plus a little noise
    centre = {"Aki": np.eye(16)[0], "Ben": np.eye(16)[1], AMBIENT: np.eye(16)[2]}
    X = np.stack([centre[w] + 0.1 * rng.normal(size=16) for w, *_ in LINES]).astype(np.float32)
    ws.vectors.save(ep, "voice", MODEL, X)
    ws.mark_stage(ep, "voice", MODEL)
    ws.set_meta("voice_model", MODEL)
    lines = ws.lines(ep)
    groups = [(ln.id, f"{ep}-g{i % 2}", f"C{i % 2:03d}", 1.0) for i, ln in enumerate(lines)]
    machine = [
        (ln.id, who, src, conf)
        for ln, (who, _, src, conf) in zip(lines, LINES, strict=True)
        if src != "human"
    ]
    ws.write_machine_results(groups, machine)
    for ln, (who, _, src, _) in zip(lines, LINES, strict=True):
        if src == "human":
            ws.name_lines([ln.id], who)
    return ws
