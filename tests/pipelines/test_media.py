"""Media I/O on real files made with ffmpeg: probe, errors, audio extraction and clips."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from pipelines.errors import MediaError
from pipelines.io import media
from pipelines.io.media import cut, extract_audio, load_audio, probe, require_audio, write_clip

pytestmark = pytest.mark.skipif(
    shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None, reason="needs ffmpeg"
)

DURATION = 3.0


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True, capture_output=True)


SINE = ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=44100:duration={DURATION}"]
VIDEO = ["-f", "lavfi", "-i", f"testsrc=size=96x64:rate=10:duration={DURATION}"]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("media")
    f = {
        "mkv": d / "episode 01.mkv",
        "mp4": d / "clip.mp4",
        "silent": d / "no_audio.mkv",
        "mp3": d / "song.mp3",
    }
    _ffmpeg(*SINE, *VIDEO, "-c:v", "mpeg4", "-c:a", "aac", "-shortest", str(f["mkv"]))
    _ffmpeg(*SINE, *VIDEO, "-c:v", "mpeg4", "-c:a", "aac", "-shortest", str(f["mp4"]))
    _ffmpeg(*VIDEO, "-c:v", "mpeg4", str(f["silent"]))
    _ffmpeg(*SINE, "-c:a", "libmp3lame", str(f["mp3"]))
    data = f["mkv"].read_bytes()
    f["truncated"] = d / "truncated.mkv"
    f["truncated"].write_bytes(data[: len(data) // 2])
    f["truncated_mp4"] = d / "truncated.mp4"
    f["truncated_mp4"].write_bytes(f["mp4"].read_bytes()[:2000])
    f["garbage"] = d / "garbage.mkv"
    f["garbage"].write_bytes(np.random.default_rng(0).integers(0, 256, 5000, np.uint8).tobytes())
    return f


def test_probe_mkv(files: dict[str, Path]) -> None:
    info = probe(files["mkv"])
    assert info.path == files["mkv"]
    assert info.has_audio and info.has_video
    assert info.audio_codec == "aac" and info.video_codec == "mpeg4"
    assert (info.width, info.height) == (96, 64)
    assert info.fps == pytest.approx(10.0)
    assert info.duration == pytest.approx(DURATION, abs=0.1)
    assert info.n_audio_streams == 1


def test_probe_mp4_and_mp3(files: dict[str, Path]) -> None:
    mp4 = probe(files["mp4"])
    assert mp4.has_audio and mp4.has_video and mp4.duration == pytest.approx(DURATION, abs=0.1)
    mp3 = probe(files["mp3"])
    assert mp3.has_audio and not mp3.has_video
    assert mp3.audio_codec == "mp3" and mp3.width is None and mp3.fps is None
    assert mp3.duration == pytest.approx(DURATION, abs=0.1)


def test_no_audio_stream(files: dict[str, Path], tmp_path: Path) -> None:
    info = probe(files["silent"])
    assert info.has_video and not info.has_audio
    with pytest.raises(MediaError, match="no_audio.mkv has no audio stream"):
        require_audio(info)
    with pytest.raises(MediaError, match="no audio stream"):
        extract_audio(files["silent"], tmp_path / "x.wav")
    assert not list(tmp_path.iterdir()), "nothing may be left behind"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="not found.*nope.mkv"):
        probe(tmp_path / "nope.mkv")
    with pytest.raises(MediaError, match="not a file"):
        probe(tmp_path)


@pytest.mark.parametrize("key", ["garbage", "truncated_mp4"])
def test_corrupt_file(files: dict[str, Path], key: str) -> None:
    with pytest.raises(MediaError) as err:
        probe(files[key])
    msg = str(err.value)
    assert files[key].name in msg
    assert "corrupt or not a media file (ffprobe said:" in msg


def test_truncated_mkv_is_an_error(files: dict[str, Path], tmp_path: Path) -> None:
    """Half an mkv still has its header and duration: it must not pass as a short episode."""
    with pytest.raises(MediaError, match="truncated.mkv.*truncated"):
        probe(files["truncated"])
    with pytest.raises(MediaError, match="truncated.mkv"):
        extract_audio(files["truncated"], tmp_path / "t.wav")
    assert not list(tmp_path.iterdir())


def test_truncated_audio_caught_at_extraction(
    files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a truncation ffprobe does not notice is still caught by the decoded length
    monkeypatch.setattr(media, "_check_tail", lambda *a: None)
    out = tmp_path / "t.wav"
    with pytest.raises(MediaError, match=r"truncated.mkv.*audio stops at"):
        extract_audio(files["truncated"], out)
    assert not list(tmp_path.iterdir())


def test_ffmpeg_not_installed(files: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(MediaError, match="apt-get install ffmpeg"):
        probe(files["mkv"])


@pytest.mark.parametrize("key", ["mkv", "mp3"])
def test_extract_audio(files: dict[str, Path], tmp_path: Path, key: str) -> None:
    out = tmp_path / "sub" / "audio.wav"
    assert extract_audio(files[key], out) == out
    info = sf.info(str(out))
    assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
    assert info.duration == pytest.approx(DURATION, abs=0.1)
    assert [p.name for p in out.parent.iterdir()] == ["audio.wav"], "no temp file left"
    audio = load_audio(out)
    assert audio.dtype == np.float32 and audio.ndim == 1
    # the 440 Hz sine survives: its spectrum peaks at 440 Hz
    spec = np.abs(np.fft.rfft(audio[1000:17000]))
    assert np.fft.rfftfreq(16000, 1 / 16000)[spec.argmax()] == pytest.approx(440, abs=2)


def test_extract_audio_failure_keeps_old_output(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "audio.wav"
    out.write_bytes(b"previous")
    with pytest.raises(MediaError, match="garbage.mkv"):
        extract_audio(files["garbage"], out)
    assert out.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["audio.wav"]


def test_extract_audio_bad_stream_index(files: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="audio stream 3 does not exist"):
        extract_audio(files["mkv"], tmp_path / "a.wav", audio_stream=3)


def test_load_audio_checks_rate_and_mixes_channels(tmp_path: Path) -> None:
    stereo = np.stack([np.full(800, 0.5), np.full(800, -0.1)], axis=1)
    sf.write(str(tmp_path / "s.wav"), stereo, 8000, "PCM_16")
    with pytest.raises(MediaError, match="8000 Hz, expected 16000"):
        load_audio(tmp_path / "s.wav")
    mono = load_audio(tmp_path / "s.wav", sample_rate=None)
    assert mono.shape == (800,) and mono.dtype == np.float32
    assert np.allclose(mono, 0.2, atol=1e-3)
    with pytest.raises(MediaError, match="not found"):
        load_audio(tmp_path / "missing.wav")


def test_cut() -> None:
    audio = np.arange(100, dtype=np.float32)
    assert cut(audio, 10, 1.0, 2.0).tolist() == list(range(10, 20))
    assert cut(audio, 10, -1.0, 0.5).tolist() == list(range(5))
    assert cut(audio, 10, 9.5, 20.0).tolist() == list(range(95, 100))
    assert len(cut(audio, 10, 3.0, 2.0)) == 0
    assert len(cut(audio, 10, 50.0, 60.0)) == 0


def test_write_clip_from_media_and_wav(files: dict[str, Path], tmp_path: Path) -> None:
    from_mkv = write_clip(files["mkv"], tmp_path / "a.wav", 0.5, 1.75)
    info = sf.info(str(from_mkv))
    assert (info.samplerate, info.channels) == (16000, 1)
    assert info.duration == pytest.approx(1.25, abs=0.03)
    # the fast path for 16 kHz wavs cuts the same samples as cut()
    wav = extract_audio(files["mkv"], tmp_path / "full.wav")
    clip = write_clip(wav, tmp_path / "b.wav", 0.5, 1.75)
    got = load_audio(clip)
    want = cut(load_audio(wav), 16000, 0.5, 1.75)
    assert len(got) == len(want) == 20000
    assert np.allclose(got, want, atol=1e-4)
    with pytest.raises(MediaError, match="empty clip"):
        write_clip(wav, tmp_path / "c.wav", 2.0, 2.0)
    leftovers = [p for p in os.listdir(tmp_path) if p.startswith(".castlist-") or "partial" in p]
    assert not leftovers
