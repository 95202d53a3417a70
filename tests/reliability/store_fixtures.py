"""A small grouped workspace (synthetic lines and voice vectors, no media, no model) that the
store, doctor and lock tests break in different ways."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipelines.records import SubtitleEvent
from pipelines.stages.run import regroup
from pipelines.store.workspace import Workspace

MODEL = "test-voice-v1"
N_LINES = 24


def make_workspace(root: Path, n_episodes: int = 2, seed: int = 0) -> Path:
    """A workspace whose voice stage is marked done, grouped once; returns its folder."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, 16))
    media_dir = root.parent / f"{root.name}-media"
    media_dir.mkdir(parents=True, exist_ok=True)
    with Workspace.init(root) as ws:
        for n in range(n_episodes):
            media = media_dir / f"ep{n + 1:02d}.wav"
            subs = media_dir / f"ep{n + 1:02d}.srt"
            media.write_bytes(b"x")
            subs.write_text(f"episode {n}")
            events = [SubtitleEvent(2.0 * i, 2.0 * i + 1.5, f"line {i}") for i in range(N_LINES)]
            ep, _ = ws.add_episode(media, subs, 2.0 * N_LINES + 5, "audio", events, {})
            speakers = np.arange(N_LINES) % 3
            X = centres[speakers] + 0.05 * rng.normal(size=(N_LINES, 16))
            ws.vectors.save(ep.id, "voice", MODEL, X.astype(np.float32))
            ws.vectors.save(ep.id, "linefeat", "v1", np.zeros((N_LINES, 3), np.float32))
            ws.mark_stage(ep.id, "voice", MODEL)
        ws.set_meta("voice_model", MODEL)
        ws.set_meta("voice_backend", "test")
        regroup(ws)
    return root


def voice_file(root: Path, episode: str = "ep01") -> Path:
    with Workspace.open(root) as ws:
        return ws.vectors.path(episode, "voice", MODEL)


def first_group(root: Path) -> str:
    with Workspace.open(root) as ws:
        return ws.lines()[0].group or ""
