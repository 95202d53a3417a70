"""Shared batching for frame-level voice models (CAM++, ECAPA): lines -> windows -> batches.

A line's vector must not depend on what it was batched with, so no window is ever zero-padded:
lines shorter than ``min_seconds`` are repeat-padded (the speech itself, cycled) because the
statistics pooling of a very short line is noisy; lines longer than ``max_seconds`` are cut into
equal windows whose unit embeddings are averaged; and every window is repeat-padded up to 5% so
windows of equal length batch exactly. Subclasses say how a waveform becomes features and how
the network turns a batch of equal-length features into vectors.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F

from embeddings.base import SAMPLE_RATE, ProgressHook
from grouping.vectors import normalize_rows

FRAMES_PER_SECOND = 100
BUCKET_RATIO = 1.05  # lines are repeat-padded up to 5% so equal-length ones batch exactly
CHUNK_BATCHES = 8  # lines gathered (x batch_size) before bucketing: fuller batches
CHUNK_FRAMES = 120_000  # at most 20 min of audio per chunk: bounded feature memory


def as_mono_float(wave: np.ndarray, index: int) -> np.ndarray:
    wave = np.asarray(wave)
    if wave.ndim != 1:
        raise ValueError(f"waveform {index} must be 1-D mono samples, got shape {wave.shape}")
    if wave.size == 0:
        raise ValueError(f"waveform {index} is empty")
    if np.issubdtype(wave.dtype, np.integer):
        wave = wave / float(np.iinfo(wave.dtype).max + 1)
    wave = wave.astype(np.float32, copy=False)
    if not np.isfinite(wave).all():
        raise ValueError(f"waveform {index} contains NaN or infinite samples")
    return wave


def resample(wave: np.ndarray, sample_rate: int, target: int = SAMPLE_RATE) -> np.ndarray:
    if sample_rate == target:
        return wave
    from scipy.signal import resample_poly

    g = math.gcd(int(sample_rate), target)
    return resample_poly(wave, target // g, int(sample_rate) // g).astype(np.float32)


def bucket_length(frames: int, min_frames: int) -> int:
    """Length a segment is repeat-padded to: the next step of a 5% geometric grid."""
    frames = max(frames, min_frames, 1)
    step = math.ceil(math.log(frames) / math.log(BUCKET_RATIO) - 1e-9)
    return max(frames, round(BUCKET_RATIO**step))


def tile(feats: torch.Tensor, length: int) -> torch.Tensor:
    """Repeat a (frames, dim) sequence cyclically to ``length`` frames."""
    reps = math.ceil(length / feats.shape[0])
    return feats.repeat(reps, 1)[:length] if reps > 1 else feats[:length]


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    if n is None:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


class WindowedEmbedder:
    """Base voice embedder: mono waveforms -> L2-normalised vectors, batched by window length.

    Subclasses set ``name``, ``dim`` and ``model`` and implement :meth:`features` (prepared
    16 kHz waveforms -> ``(frames, bins)`` tensors at 100 frames/s) and :meth:`embed` (a batch
    ``(n, frames, bins)`` -> ``(n, dim)``); :meth:`normalise` is applied to every window.
    """

    name: str
    dim: int
    #: the shortest window the network accepts (reflect padding needs a few frames)
    min_window_frames = 1
    #: the shortest waveform :meth:`features` accepts, in samples
    min_samples = 1
    #: at most this many frames in one batch (long windows batch fewer): bounded memory
    max_batch_frames: int | None = None

    def __init__(
        self,
        device: str = "cpu",
        batch_size: int = 32,
        min_seconds: float = 1.0,
        max_seconds: float = 20.0,
        num_threads: int | None = None,
    ) -> None:
        if max_seconds <= 0 or min_seconds < 0 or batch_size < 1:
            raise ValueError("need batch_size >= 1, min_seconds >= 0 and max_seconds > 0")
        self.device = device
        self.batch_size = batch_size
        self.min_seconds = min_seconds
        self.max_seconds = max_seconds
        self.num_threads = num_threads

    # ------------------------------------------------------------------ subclass hooks
    def features(self, waves: list[torch.Tensor]) -> list[torch.Tensor]:
        raise NotImplementedError

    def normalise(self, feats: torch.Tensor) -> torch.Tensor:
        return feats

    def embed(self, batch: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    # ------------------------------------------------------------------ the batching
    def __call__(
        self,
        waves: Sequence[np.ndarray],
        sample_rate: int = SAMPLE_RATE,
        progress: ProgressHook | None = None,
    ) -> np.ndarray:
        total = len(waves)
        out = np.zeros((total, self.dim), dtype=np.float32)
        if total == 0:
            return out
        frames = [
            int(np.asarray(w).shape[-1]) * 100 // sample_rate if np.ndim(w) else 0 for w in waves
        ]
        order = [int(i) for i in np.argsort(frames, kind="stable")]  # similar lengths together
        done = 0
        with torch_threads(self.num_threads), torch.inference_mode():
            start = 0
            while start < total:
                stop, budget = start + 1, frames[order[start]]
                while stop < total and stop - start < CHUNK_BATCHES * self.batch_size:
                    budget += frames[order[stop]]
                    if budget > CHUNK_FRAMES:
                        break
                    stop += 1
                chunk = order[start:stop]

                def report(fraction: float, before: int = done, n: int = len(chunk)) -> None:
                    if progress is not None:
                        progress(before + int(n * fraction), total)

                out[chunk] = self._embed_chunk(chunk, waves, sample_rate, report)
                done += len(chunk)
                start = stop
        return out

    def _segments(self, feats: torch.Tensor) -> list[torch.Tensor]:
        """Normalised, repeat-padded windows of one line's features."""
        n = feats.shape[0]
        k = math.ceil(n / max(1, round(self.max_seconds * FRAMES_PER_SECOND)))
        win = math.ceil(n / k)
        starts = np.linspace(0, n - win, k).round().astype(int) if k > 1 else [0]
        min_frames = max(self.min_window_frames, round(self.min_seconds * FRAMES_PER_SECOND))
        return [
            tile(seg, bucket_length(seg.shape[0], min_frames))
            for seg in (self.normalise(feats[s : s + win]) for s in starts)
        ]

    def _embed_chunk(
        self,
        chunk: Sequence[int],
        waves: Sequence[np.ndarray],
        sample_rate: int,
        report: Callable[[float], None],
    ) -> np.ndarray:
        by_length: dict[int, list[tuple[int, torch.Tensor]]] = {}
        for b in range(0, len(chunk), self.batch_size):  # features a batch at a time: bounded
            prepared = []
            for index in chunk[b : b + self.batch_size]:
                wave = resample(as_mono_float(waves[index], index), sample_rate)
                if wave.size < self.min_samples:
                    wave = np.resize(wave, self.min_samples)  # cycle the speech itself
                prepared.append(torch.from_numpy(np.ascontiguousarray(wave)))
            for pos, feats in enumerate(self.features(prepared), start=b):
                for seg in self._segments(feats):
                    by_length.setdefault(seg.shape[0], []).append((pos, seg))
        sums = torch.zeros(len(chunk), self.dim)
        n_segments, n_done = sum(len(g) for g in by_length.values()), 0
        for length, group in by_length.items():
            step = self.batch_size
            if self.max_batch_frames is not None:
                step = max(1, min(step, self.max_batch_frames // length))
            for b in range(0, len(group), step):
                part = group[b : b + step]
                batch = torch.stack([seg for _, seg in part]).to(self.device)
                emb = F.normalize(self.embed(batch).float().cpu(), dim=-1)
                sums.index_add_(0, torch.tensor([pos for pos, _ in part]), emb)
                n_done += len(part)
                report(n_done / n_segments)
        return normalize_rows(sums.numpy())
