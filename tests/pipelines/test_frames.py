"""Frame extraction: one ffmpeg pass, the right frame for each time, clear errors."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from pipelines.errors import MediaError
from pipelines.io.frames import extract_frames, frame_difference, iter_frames, line_times

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not on PATH")

FPS = 25
N_FRAMES = 100
STEP = 2  # frame n is a flat grey of value STEP * n (ffv1 is lossless, so it reads back exactly)


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True)


@pytest.fixture(scope="module")
def ramp(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("media") / "ramp.mkv"
    src = f"nullsrc=s=96x64:r={FPS}:d={N_FRAMES / FPS},format=gray,geq=lum='N*{STEP}'"
    _ffmpeg("-f", "lavfi", "-i", src, "-c:v", "ffv1", str(path))
    return path


def _index(frame: np.ndarray) -> int:
    return int(round(frame.mean() / STEP))


def test_frames_are_the_nearest_to_each_time(ramp):
    rng = np.random.default_rng(0)
    # avoid times exactly between two frames, where "nearest" is a tie
    n = rng.integers(0, N_FRAMES, 500)  # hundreds of times, as in an episode
    times = (n + rng.uniform(-0.4, 0.4, n.size)).clip(0, N_FRAMES - 1) / FPS
    frames = extract_frames(ramp, times.tolist(), width=None)
    assert len(frames) == len(times)
    assert all(f.shape == (64, 96, 3) and f.dtype == np.uint8 for f in frames)
    expected = np.clip(np.round(times * FPS), 0, N_FRAMES - 1).astype(int)
    assert [_index(f) for f in frames] == expected.tolist()


def test_late_times_repeats_and_last_frame(ramp):
    times = [3.92, 3.0, 3.0, 3.04, 3.96, 3.99]  # unsorted, repeated, near the end
    frames = extract_frames(ramp, times, width=None)
    assert [_index(f) for f in frames] == [98, 75, 75, 76, 99, 99]


def test_one_ffmpeg_decode_per_file(ramp, monkeypatch):
    calls = []
    real = subprocess.Popen

    def counting(cmd, *args, **kwargs):
        calls.append(cmd)
        return real(cmd, *args, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", counting)
    served = list(iter_frames(ramp, [t / 10 for t in range(35)], width=None))
    assert len([c for c in calls if Path(c[0]).name.startswith("ffmpeg")]) == 1
    assert sorted(i for indices, _ in served for i in indices) == list(range(35))


def test_width_keeps_aspect_and_out_dir_writes_jpegs(ramp, tmp_path):
    frames = extract_frames(ramp, [0.5, 1.0], out_dir=tmp_path / "thumbs", width=48)
    assert frames[0].shape == (32, 48, 3)
    assert sorted(p.name for p in (tmp_path / "thumbs").iterdir()) == ["00000.jpg", "00001.jpg"]


def test_errors_name_the_file(ramp, tmp_path):
    missing = tmp_path / "missing.mkv"
    with pytest.raises(MediaError, match="missing.mkv"):
        extract_frames(missing, [0.0])
    corrupt = tmp_path / "corrupt.mkv"
    corrupt.write_bytes(np.random.default_rng(0).integers(0, 255, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(MediaError, match="corrupt.mkv"):
        extract_frames(corrupt, [0.0])
    audio = tmp_path / "audio.wav"
    _ffmpeg("-f", "lavfi", "-i", "sine=d=1", str(audio))
    with pytest.raises(MediaError, match="no video"):
        extract_frames(audio, [0.5])
    with pytest.raises(MediaError, match=r"ramp.mkv.*only 4.000 s"):
        extract_frames(ramp, [1.0, 60.0])
    assert extract_frames(ramp, []) == []


def test_line_times_and_cut_score(ramp):
    assert line_times(10.0, 12.0) == (10.5, 11.0, 11.5)
    same_shot = extract_frames(ramp, [1.0, 1.04, 1.08], width=None)
    assert frame_difference(same_shot) < 0.05
    cut = extract_frames(ramp, [0.0, 3.8], width=None)
    assert frame_difference(cut) > 0.5
    assert frame_difference(cut[:1]) == 0.0
