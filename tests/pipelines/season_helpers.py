"""A small real-speech season (the demo's LibriSpeech voices) in a workspace, and the
comparison the Ray tests make: same line -> group assignment, same vectors."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from benchmarks.pseudo_seasons import build_demo_season
from pipelines.stages.ingest import add_episode
from pipelines.store.workspace import Workspace


def season_workspace(
    root: Path, n_episodes: int = 3, n_lines: int = 30, duration_s: float = 70.0
) -> Path:
    """A fresh workspace of ``n_episodes`` pseudo-episodes, subtitles without names (so the
    groups come from the voices, not from name hints); nothing embedded yet."""
    episodes = build_demo_season(root / "media", n_episodes, n_lines, duration_s)
    ws_dir = root / "ws"
    with Workspace.init(ws_dir) as ws:
        for episode in episodes:
            add_episode(ws, episode.media, episode.srt)
    return ws_dir


def copy_workspace(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def assert_same_result(a: Path, b: Path) -> None:
    """Every line in the same group and character, every voice vector equal (to float noise:
    a worker may run with another thread count)."""
    with Workspace.open(a) as wa, Workspace.open(b) as wb:
        model = wa.get_meta("voice_model")
        assert model and model == wb.get_meta("voice_model")
        fa, fb = wa.lines_frame(), wb.lines_frame()
        assert list(fa["id"]) == list(fb["id"])
        assert fa["group_id"].notna().sum() > 0
        assert list(fa["group_id"]) == list(fb["group_id"])
        assert list(fa["character_id"]) == list(fb["character_id"])
        for episode in wa.episodes():
            x = wa.vectors.load(episode.id, "voice", model)
            y = wb.vectors.load(episode.id, "voice", model)
            assert x is not None and y is not None
            np.testing.assert_allclose(x, y, atol=1e-5)
