"""A music bed taken out from under the lines, learned from the gaps between them.

Anime dialogue sits on a music and effects bed that the subtitle timing tells apart from the
voices: between two lines nobody speaks, so what plays there is the bed. For each line, the
mean power spectrum of the gaps within ``CONTEXT_S`` seconds around it is its bed's estimate,
and a Wiener-style gain (``1 - ALPHA * bed / line``, never under ``FLOOR``) keeps what rises
above it. No weights: it is the built-in ``castlist run --separate gaps``.

Measured (docs/benchmarks_acted.md, "Music taken out"): on the acted pseudo-episodes CAM++
leave-one-out 1-NN on episode-centred vectors 0.461 -> 0.476, names from 1 / 3 / 5 hand labels
per voice +0.01 / +0.03 / +0.02; on the LibriSpeech ones names -0.006 / -0.002. So it is an
option (``--separate gaps``), not the default.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import istft, stft

__all__ = ["suppress_bed"]

ALPHA = 1.0
"""How much of the bed's estimated power is taken off each bin (over-subtraction above 1)."""
FLOOR = 0.1
"""The least share of a bin's power kept: a bin the bed fills entirely is turned down, not off
(at 0.3 the 5 dB episodes gained about half as much; 1.5 / 0.1 cost the 15 dB ones)."""
CONTEXT_S = 8.0
"""Seconds of the episode before and after a line in which its gaps are looked for."""
MIN_GAP_FRAMES = 10
"""Fewer gap frames than this (~0.1 s) around a line: its bed is the quietest fifth of the
frames around it instead."""
N_FFT = 512


def suppress_bed(
    audio: np.ndarray, sample_rate: int, starts, ends, *, alpha: float = ALPHA, floor: float = FLOOR
) -> np.ndarray:
    """``audio`` with each line (``starts``/``ends`` in seconds) filtered against the bed of
    the gaps around it; samples outside every line are left as they are."""
    audio = np.asarray(audio, dtype=np.float32)
    starts = np.asarray(starts, dtype=np.float64)
    ends = np.asarray(ends, dtype=np.float64)
    out = audio.copy()
    if audio.size < N_FFT or starts.size == 0:
        return out
    hop = N_FFT // 4
    busy = np.zeros(audio.size, bool)
    for a, b in zip(starts, ends, strict=True):
        busy[max(0, int(a * sample_rate)) : max(0, int(b * sample_rate))] = True
    _, times, Z = stft(audio, sample_rate, nperseg=N_FFT, noverlap=N_FFT - hop)
    power = np.abs(Z) ** 2
    frame_busy = busy[np.minimum((times * sample_rate).astype(np.int64), audio.size - 1)]
    context = int(CONTEXT_S * sample_rate / hop)
    for a, b in zip(starts, ends, strict=True):
        first, last = max(0, int(a * sample_rate)), min(audio.size, int(b * sample_rate))
        if last - first < hop:
            continue
        i0, i1 = first // hop, min(power.shape[1], last // hop + 1)
        lo, hi = max(0, i0 - context), min(power.shape[1], i1 + context)
        gap = np.flatnonzero(~frame_busy[lo:hi]) + lo
        if gap.size >= MIN_GAP_FRAMES:
            bed = power[:, gap].mean(axis=1)
        else:
            bed = np.quantile(power[:, lo:hi], 0.2, axis=1)
        span = Z[:, i0:i1]
        gain = np.maximum(1.0 - alpha * bed[:, None] / np.maximum(np.abs(span) ** 2, 1e-12), floor)
        _, clean = istft(span * np.sqrt(gain), sample_rate, nperseg=N_FFT, noverlap=N_FFT - hop)
        start = i0 * hop
        piece = clean[max(0, first - start) : max(0, first - start) + (last - first)]
        out[first : first + piece.size] = piece.astype(np.float32)
    return out
