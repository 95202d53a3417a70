"""Shared by the paths/export/UI safety tests: a small grouped workspace with real wav media
(so clips export runs ffmpeg for real) and a listing to prove nothing was written elsewhere."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile as sf

from pipelines.records import SubtitleEvent
from pipelines.stages.run import regroup
from pipelines.store.workspace import Workspace

MODEL = "test-voice-v1"
SR = 16000


def build_ws(root: Path, n_lines: int = 12, dim: int = 16) -> Path:
    """``root/ws``: one audio episode (``root/media/ep01.wav``), planted voices, grouped."""
    media_dir = root / "media"
    media_dir.mkdir(parents=True, exist_ok=True)
    speakers = [i % 3 for i in range(n_lines)]
    events = [SubtitleEvent(2.0 * i, 2.0 * i + 1.5, f"line {i}") for i in range(n_lines)]
    t = np.arange(int((2.0 * n_lines + 2) * SR)) / SR
    audio = (0.1 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    media = media_dir / "ep01.wav"
    sf.write(media, audio, SR)
    subs = media_dir / "ep01.srt"
    subs.write_text("placeholder")
    rng = np.random.default_rng(0)
    centres = np.random.default_rng(1).normal(size=(3, dim))
    X = centres[speakers] + 0.05 * rng.normal(size=(n_lines, dim))
    ws = Workspace.init(root / "ws")
    ep, _ = ws.add_episode(media, subs, len(t) / SR, "audio", events, {})
    ws.vectors.save(ep.id, "voice", MODEL, X.astype(np.float32))
    ws.set_meta("voice_model", MODEL)
    regroup(ws)
    ws.close()
    return root / "ws"


def listing(root: Path, skip: tuple[str, ...] = ()) -> set[str]:
    """Every path under ``root`` (relative), except under the top-level names in ``skip``."""
    out = set()
    for dirpath, dirnames, filenames in os.walk(root):
        rel = Path(dirpath).relative_to(root)
        if rel.parts and rel.parts[0] in skip:
            continue
        dirnames[:] = [d for d in dirnames if rel.parts or d not in skip]
        out.update(str(rel / n) for n in dirnames + filenames if rel.parts or n not in skip)
    return out
