"""Audio clips cut on demand from a real (tiny) media file, cached in the workspace, and
played on the group cards."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
from streamlit.testing.v1 import AppTest

from pipelines.records import SubtitleEvent
from pipelines.stages.run import regroup
from pipelines.store.workspace import Workspace
from tests.ui.conftest import APP, MODEL
from ui.clips import clip_path, shown_thumb

SR = 16000


def _tiny_workspace(tmp_path: Path) -> Path:
    """Six lines of tones at two pitches (two 'voices') in a real 14 s wav."""
    t = np.arange(14 * SR) / SR
    audio = np.zeros_like(t)
    events = []
    for i in range(6):
        start, end = 2.0 * i + 0.5, 2.0 * i + 1.7
        span = (t >= start) & (t < end)
        audio[span] = 0.3 * np.sin(2 * np.pi * (220 if i % 2 else 440) * t[span])
        events.append(SubtitleEvent(start, end, f"line {i}"))
    media = tmp_path / "ep01.wav"
    sf.write(media, audio.astype(np.float32), SR)
    subs = tmp_path / "ep01.srt"
    subs.write_text("x")
    ws = Workspace.init(tmp_path / "ws")
    ep, _ = ws.add_episode(media, subs, 14.0, "audio", events, {})
    X = np.array([[1.0, 0.0] if i % 2 else [0.0, 1.0] for i in range(6)], dtype=np.float32)
    ws.vectors.save(ep.id, "voice", MODEL, X + 0.01 * np.arange(6)[:, None])
    ws.set_meta("voice_model", MODEL)
    regroup(ws)
    ws.close()
    return tmp_path / "ws"


def test_clip_is_cut_once_and_cached(tmp_path: Path) -> None:
    root = _tiny_workspace(tmp_path)
    with Workspace.open(root) as ws:
        line = ws.lines()[2]
        path = clip_path(ws, line.id)
        assert path.parent == ws.cache_dir / "clips"
        assert ws.audio_path(line.episode_id).is_file()  # episode audio extracted once
        data, sr = sf.read(path)
        assert sr == SR
        assert abs(len(data) / sr - (line.end - line.start + 0.2)) < 0.02
        # the tone of line 2 (440 Hz) is what the clip holds
        spectrum = np.abs(np.fft.rfft(data))
        assert abs(np.argmax(spectrum) * sr / len(data) - 440) < 5
        mtime = path.stat().st_mtime_ns
        assert clip_path(ws, line.id).stat().st_mtime_ns == mtime
        assert shown_thumb(ws, line.id) is None
        (ws.cache_dir / "thumbs").mkdir(parents=True)
        (ws.cache_dir / "thumbs" / f"{line.id}.jpg").write_bytes(b"\xff\xd8")
        assert shown_thumb(ws, line.id) is not None


def test_cards_play_clips(tmp_path: Path) -> None:
    root = _tiny_workspace(tmp_path)
    at = AppTest.from_file(APP, default_timeout=30)
    at.session_state["workspace"] = str(root)
    at.session_state["page"] = "Groups"
    at.run()
    assert not at.exception
    audio = at.get("audio")
    assert len(audio) >= 2
    clips = sorted(p.name for p in (root / "cache" / "clips").glob("*.wav"))
    assert len(clips) == len(audio)
