"""A media file whose name starts with ``-`` is a file, never an ffmpeg/ffprobe option
(issue 8, item 4)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from pipelines.cli import main
from pipelines.io.media import extract_audio, probe, write_clip

pytestmark = pytest.mark.skipif(shutil.which("ffprobe") is None, reason="needs ffmpeg")


@pytest.fixture
def dashed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``-i.mkv`` (wav data: ffmpeg goes by content) in the working directory."""
    monkeypatch.chdir(tmp_path)
    t = np.arange(3 * 16000) / 16000
    sf.write(tmp_path / "-i.mkv", (0.1 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 16000,
             format="WAV")  # fmt: skip
    return Path("-i.mkv")  # relative, as a user types it


def test_probe_extract_and_cut_a_dashed_name(dashed: Path, tmp_path: Path) -> None:
    info = probe(dashed)
    assert info.has_audio and info.duration == pytest.approx(3.0, abs=0.05)
    wav = extract_audio(dashed, Path("-out.wav"))
    assert sf.info(str(tmp_path / "-out.wav")).duration == pytest.approx(3.0, abs=0.05)
    clip = write_clip(dashed, Path("-clip.wav"), 0.5, 1.5)  # not a wav: goes through ffmpeg
    assert sf.info(str(clip)).duration == pytest.approx(1.0, abs=0.05)
    assert wav.name == "-out.wav"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["-clip.wav", "-i.mkv", "-out.wav"]


def test_castlist_add_a_dashed_name(dashed: Path, tmp_path: Path, capsys) -> None:
    Path("-i.srt").write_text("1\n00:00:00,500 --> 00:00:01,500\nhello\n")
    assert main(["init", "ws"]) == 0
    code = main(["add", "ws", "--", str(dashed)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "1 speech lines" in out
