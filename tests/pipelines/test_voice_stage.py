"""The voice stage as a function of plain inputs (lines table, wav path, embedder): no workspace
anywhere, which is what a distributed backend ships to a worker as one unit of work."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from embeddings.base import Embedder
from pipelines.io.media import SAMPLE_RATE
from pipelines.io.vectorfiles import LINE_FEATURES
from pipelines.stages.voice import embed_lines

VOICES = Path(__file__).resolve().parents[2] / "pipelines" / "demo" / "data"
A, B = "1998-15444-0000", "3331-159605-0000"  # a woman's and a man's voice


def _episode(tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    """Voice A, a second of silence, voice B; two lines in each voice, and a sign between."""
    a, sr_a = sf.read(VOICES / f"{A}.flac", dtype="float32")
    b, sr_b = sf.read(VOICES / f"{B}.flac", dtype="float32")
    assert sr_a == sr_b == SAMPLE_RATE
    gap = np.zeros(SAMPLE_RATE, np.float32)
    wav = tmp_path / "episode.wav"
    sf.write(wav, np.concatenate([a, gap, b]), SAMPLE_RATE)
    la, lb = len(a) / SAMPLE_RATE, len(b) / SAMPLE_RATE
    b0 = la + 1.0
    lines = pd.DataFrame(
        {
            "start": [0.0, la / 2, la + 0.2, b0, b0 + lb / 2],
            "end": [la / 2, la, la + 0.8, b0 + lb / 2, b0 + lb],
            "skip_reason": ["", "", "sign", "", ""],
        }
    )
    return wav, lines


class _Recorder:
    """Records the segments it is given and returns one-hot rows (where each went)."""

    name, dim = "recorder", 8

    def __init__(self) -> None:
        self.lengths: list[int] = []

    def __call__(self, segments, progress=None):
        self.lengths = [len(s) for s in segments]
        if progress:
            progress(len(segments), len(segments))
        return np.eye(self.dim, dtype=np.float32)[: len(segments)]


def test_each_speech_line_gets_its_own_segment_and_row(tmp_path: Path) -> None:
    wav, lines = _episode(tmp_path)
    rec = _Recorder()
    calls: list[tuple[int, int]] = []
    out = embed_lines(lines, wav, rec, progress=lambda done, total: calls.append((done, total)))
    speech = [0, 1, 3, 4]
    expected = [int(lines.end[i] * SAMPLE_RATE) - int(lines.start[i] * SAMPLE_RATE) for i in speech]
    assert rec.lengths == expected  # the sign line was never cut
    assert out.vectors.shape == (5, rec.dim) and out.features.shape == (5, len(LINE_FEATURES))
    np.testing.assert_array_equal(out.vectors[speech], np.eye(rec.dim)[:4])
    assert not out.vectors[2].any() and not out.features[2].any()
    np.testing.assert_allclose(out.features[speech, 0], (lines.end - lines.start)[speech], 1e-5)
    assert (out.features[speech, 1] > -60).all()  # real speech, not silence
    assert calls == [(4, 4)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["episode.wav"]  # nothing else written


def test_the_real_model_puts_one_voice_together_without_a_workspace(tmp_path: Path) -> None:
    from embeddings.campplus import CamPlusPlus, find_weights
    from embeddings.errors import BackendUnavailable

    try:
        find_weights()
    except BackendUnavailable as exc:
        pytest.skip(str(exc))
    wav, lines = _episode(tmp_path)
    embedder: Embedder = CamPlusPlus()
    X = embed_lines(lines, wav, embedder).vectors
    np.testing.assert_allclose(np.linalg.norm(X[[0, 1, 3, 4]], axis=1), 1.0, atol=1e-4)
    same = min(X[0] @ X[1], X[3] @ X[4])
    other = max(X[0] @ X[3], X[0] @ X[4], X[1] @ X[3], X[1] @ X[4])
    assert same > other + 0.2, (same, other)
    np.testing.assert_array_equal(embed_lines(lines, wav, embedder).vectors, X)  # deterministic


def test_lines_without_times_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="start"):
        embed_lines(pd.DataFrame({"end": [1.0]}), np.zeros(SAMPLE_RATE, np.float32), _Recorder())
