"""Fixtures for the browser's tests: a small synthetic workspace (planted voices, no media)
grouped by the real season stage, and an AppTest of ui/app.py opened on it."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from pipelines.records import SubtitleEvent
from pipelines.stages.run import regroup
from pipelines.store.workspace import Workspace

APP = str(Path(__file__).resolve().parents[2] / "ui" / "app.py")
MODEL = "test-voice-v1"
TEXTS = ("hello there", "where is it", "run now", "I knew it", "not again", "look out")


def _episode(rng: np.random.Generator, speakers: list[int], dim: int = 32):
    centres = np.random.default_rng(1234).normal(size=(20, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    X = centres[speakers] + 0.3 * rng.normal(size=(len(speakers), dim)) / np.sqrt(dim)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    events = [
        SubtitleEvent(2.0 * i, 2.0 * i + 1.6, f"{TEXTS[s % len(TEXTS)]} {i}")
        for i, s in enumerate(speakers)
    ]
    return events, X.astype(np.float32)


def _tones(path: Path, events: list[SubtitleEvent], speakers: list[int], sr: int = 16000) -> None:
    """A real wav in which each line is a short tone whose pitch depends on its speaker."""
    import soundfile as sf

    t = np.arange(int((events[-1].end + 5) * sr)) / sr
    audio = np.zeros_like(t, dtype=np.float32)
    for ev, s in zip(events, speakers, strict=True):
        span = (t >= ev.start) & (t < ev.end)
        audio[span] = 0.2 * np.sin(2 * np.pi * (220 + 110 * s) * t[span])
    sf.write(path, audio, sr)


def build_workspace(
    root: Path, episodes: list[list[int]], seed: int = 0, audio: bool = False
) -> Path:
    """Planted voices grouped by the real season stage; ``audio``: real wav media to play."""
    ws = Workspace.init(root / "ws")
    rng = np.random.default_rng(seed)
    for n, speakers in enumerate(episodes):
        media = root / f"ep{n + 1:02d}.{'wav' if audio else 'mkv'}"
        subs = root / f"ep{n + 1:02d}.srt"
        subs.write_text(f"episode {n}")
        events, X = _episode(rng, speakers)
        if audio:
            _tones(media, events, speakers)
        else:
            media.write_bytes(b"x")
        ep, _ = ws.add_episode(media, subs, 2.0 * len(speakers) + 5, "video", events, {})
        ws.vectors.save(ep.id, "voice", MODEL, X)
    ws.set_meta("voice_model", MODEL)
    regroup(ws)
    ws.close()
    return root / "ws"


SPEAKERS = [[0, 1, 2] * 8, [1, 0, 2, 2] * 5]


@pytest.fixture(scope="session")
def template_ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_workspace(tmp_path_factory.mktemp("uiws"), SPEAKERS)


@pytest.fixture
def ws_path(template_ws: Path, tmp_path: Path) -> Path:
    """A fresh copy of the template workspace for each test (cheaper than regrouping anew)."""
    dst = tmp_path / "ws"
    shutil.copytree(template_ws, dst)
    return dst


def open_app(ws: Path, page: str = "Overview", timeout: float = 30, **state: object) -> AppTest:
    """The app on workspace ``ws`` at ``page``, rendered, with ``state`` in its session."""
    at = AppTest.from_file(APP, default_timeout=timeout)
    at.session_state["workspace"] = str(ws)
    at.session_state["page"] = page
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.fixture
def app(ws_path: Path):
    """Open the app on ``ws_path``; call with a page name, get the rendered AppTest back."""

    def start(page: str = "Overview", **state: object) -> AppTest:
        return open_app(ws_path, page, **state)

    return start


def open_ws(path: Path) -> Workspace:
    return Workspace.open(path)
