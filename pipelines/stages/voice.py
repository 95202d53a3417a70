"""The voice stage: cut each speech line out of an episode's waveform and embed it.

A function from plain inputs to arrays: the lines (their times and skip reasons), the path of
the episode's 16 kHz wav, an embedder and an optional progress hook give one vector per line
(zeros for non-speech lines, which are never grouped) and the per-line features the confidence
model reads. It knows nothing of the workspace: :func:`pipelines.stages.run.embed_episode` reads
its inputs from there and stores what it returns, and a distributed backend can ship one
episode's call to a worker as one unit of work.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from embeddings.base import Embedder, ProgressHook
from pipelines.io.media import SAMPLE_RATE, load_audio
from pipelines.io.vectorfiles import LINE_FEATURES

log = logging.getLogger(__name__)


class VoiceVectors(NamedTuple):
    """What the voice stage returns for one episode, one row per line in line order."""

    vectors: np.ndarray
    """(n_lines, embedder.dim) float32; zero rows for non-speech lines."""
    features: np.ndarray
    """(n_lines, len(LINE_FEATURES)) float32: duration, loudness, active share."""


def line_features(segment: np.ndarray) -> tuple[float, float]:
    """Loudness and the share of 20 ms frames within 30 dB of the line's loudest frame."""
    if segment.size == 0:
        return -120.0, 0.0
    rms_db = 10 * np.log10(np.mean(segment.astype(np.float64) ** 2) + 1e-12)
    hop = SAMPLE_RATE // 50
    n = max(1, segment.size // hop)
    frames = segment[: n * hop].reshape(n, -1) if segment.size >= hop else segment[None, :]
    frame_db = 10 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-12)
    active = float(np.mean(frame_db > frame_db.max() - 30))
    return float(rms_db), active


def _segment(audio: np.ndarray, start: float, end: float) -> np.ndarray:
    """The samples of one line; never empty, so every embedder gets something to read."""
    first = int(start * SAMPLE_RATE)
    return audio[first : max(int(end * SAMPLE_RATE), first + 1)]


def embed_lines(
    lines: pd.DataFrame,
    audio: str | Path | np.ndarray,
    embedder: Embedder,
    progress: ProgressHook | None = None,
) -> VoiceVectors:
    """Embed the speech lines of one episode.

    ``lines`` has one row per line in line order with ``start`` and ``end`` (seconds) and,
    optionally, ``skip_reason`` (non-empty: not speech, left as a zero row); ``audio`` is the
    episode's 16 kHz mono wav (or its samples). ``progress(done, total)`` is handed to the
    embedder.
    """
    missing = {"start", "end"} - set(lines.columns)
    if missing:
        raise ValueError(f"lines need columns {sorted(missing)}")
    samples = audio if isinstance(audio, np.ndarray) else load_audio(audio)
    skip = lines["skip_reason"].fillna("") if "skip_reason" in lines else pd.Series("", lines.index)
    speech = np.flatnonzero((skip == "").to_numpy())
    starts = lines["start"].to_numpy(dtype=float)
    ends = lines["end"].to_numpy(dtype=float)
    segments = [_segment(samples, starts[i], ends[i]) for i in speech]
    vectors = np.zeros((len(lines), embedder.dim), dtype=np.float32)
    features = np.zeros((len(lines), len(LINE_FEATURES)), dtype=np.float32)
    if segments:
        vectors[speech] = embedder(segments, progress=progress)
        features[speech] = [
            (ends[i] - starts[i], *line_features(seg))
            for i, seg in zip(speech, segments, strict=True)
        ]
    log.info("embedded %d of %d lines with %s", len(segments), len(lines), embedder.name)
    return VoiceVectors(vectors, features)
