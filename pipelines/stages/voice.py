"""The voice stage: cut each speech line out of the episode's audio and embed it.

Vectors are stored per episode, one row per line (zeros for non-speech lines, which are never
grouped), keyed by the embedder's name so a changed model never mixes with old vectors. The
stage is marked done only after its file is written, so a killed run redoes at most one episode.
"""

from __future__ import annotations

import logging

import numpy as np

from embeddings.base import Embedder
from pipelines.io.audio import episode_audio
from pipelines.io.media import SAMPLE_RATE, load_audio
from pipelines.io.vectorfiles import LINE_FEATURES, LINEFEAT
from pipelines.records import Progress
from pipelines.store.workspace import Workspace

log = logging.getLogger(__name__)


def ensure_audio(ws: Workspace, episode_id: str) -> np.ndarray:
    return load_audio(episode_audio(ws, episode_id))


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


def embed_episode(
    ws: Workspace, episode_id: str, embedder: Embedder, progress: Progress | None = None
) -> np.ndarray:
    """Embed one episode's speech lines (resumable: skipped when already stored)."""
    stored = ws.vectors.load(episode_id, "voice", embedder.name)
    if stored is not None and ws.stage_done(episode_id, "voice", embedder.name):
        return stored
    audio = ensure_audio(ws, episode_id)
    lines = ws.lines(episode_id)
    speech = [ln for ln in lines if not ln.skip_reason]
    segments = [
        audio[
            int(ln.start * SAMPLE_RATE) : max(
                int(ln.end * SAMPLE_RATE), int(ln.start * SAMPLE_RATE) + 1
            )
        ]
        for ln in speech
    ]
    hook = (lambda done, total: progress(f"voice {episode_id}", done, total)) if progress else None
    vectors = np.zeros((len(lines), embedder.dim), dtype=np.float32)
    feats = np.zeros((len(lines), len(LINE_FEATURES)), dtype=np.float32)
    if speech:
        emb = embedder(segments, progress=hook)
        rows = [ln.idx for ln in speech]
        vectors[rows] = emb
        feats[rows] = [
            (ln.duration, *line_features(seg)) for ln, seg in zip(speech, segments, strict=False)
        ]
    ws.vectors.save(episode_id, "voice", embedder.name, vectors)
    ws.vectors.save(episode_id, *LINEFEAT, feats)
    ws.mark_stage(episode_id, "voice", embedder.name)
    log.info("embedded %d lines of %s with %s", len(speech), episode_id, embedder.name)
    return vectors
