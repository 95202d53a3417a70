"""speechbrain's log-mel filterbank (``speechbrain.lobes.features.Fbank``) in plain torch.

The ECAPA models were trained on these features, which differ from the Kaldi fbank of
:mod:`embeddings.fbank` (CAM++): a centred STFT (zero padding of half a window each side,
periodic Hamming window, 400-point FFT, no pre-emphasis or DC removal), triangular filters
on the 2595*log10 mel scale from 0 Hz to Nyquist, 10*log10 power with a 1e-10 floor, and
every value clipped to at most 80 dB below the utterance's loudest bin. Reproduced from
speechbrain's ``processing/features.py`` (STFT, spectral_magnitude, Filterbank,
_amplitude_to_DB; Apache-2.0) with its defaults, because importing speechbrain needs
torchaudio. The tests compare against speechbrain's own module where it can be loaded.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch

from embeddings.base import SAMPLE_RATE

N_FFT = 400  # 25 ms window
HOP = 160  # 10 ms
AMIN = 1e-10
TOP_DB = 80.0


def num_frames(num_samples: int) -> int:
    """Frames of a centred STFT: one per hop, plus one."""
    return 1 + num_samples // HOP


def _to_mel(hz: float) -> float:
    return 2595 * math.log10(1 + hz / 700)


@lru_cache(maxsize=4)
def mel_matrix(n_mels: int = 80, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
    """speechbrain's triangular filters, ``(N_FFT // 2 + 1, n_mels)``.

    Each triangle is centred on a mel-spaced frequency with both slopes as wide as the gap to
    the centre below (speechbrain's ``band``), computed in float32 as speechbrain does.
    """
    mel = torch.linspace(_to_mel(0), _to_mel(sample_rate // 2), n_mels + 2)
    hz = 700 * (10 ** (mel / 2595) - 1)
    band = (hz[1:] - hz[:-1])[:-1]
    central = hz[1:-1]
    freqs = torch.linspace(0, sample_rate // 2, N_FFT // 2 + 1)
    slope = (freqs.unsqueeze(0) - central.unsqueeze(1)) / band.unsqueeze(1)
    tri = torch.max(torch.zeros(1), torch.min(slope + 1.0, -slope + 1.0))
    return tri.transpose(0, 1).contiguous()


@lru_cache(maxsize=1)
def _window() -> torch.Tensor:
    return torch.hamming_window(N_FFT)


def fbank(wave: torch.Tensor, n_mels: int = 80) -> torch.Tensor:
    """Log-mel features of equal-length waveforms ``(batch, samples)`` -> ``(batch, frames, n_mels)``.

    The 80 dB floor is taken per waveform over all its frames, so a waveform's features depend
    only on itself (and on its length: pad waveforms before, not after).
    """
    squeeze = wave.dim() == 1
    wave = wave.to(torch.float32).reshape(-1, wave.shape[-1])
    spec = torch.stft(
        wave, N_FFT, HOP, N_FFT, _window(), center=True, pad_mode="constant",
        normalized=False, onesided=True, return_complex=True,
    )  # fmt: skip
    power = torch.view_as_real(spec).pow(2).sum(-1).transpose(1, 2)  # (batch, frames, bins)
    db = 10 * torch.log10(torch.clamp(power @ mel_matrix(n_mels), min=AMIN))
    floor = db.amax(dim=(-2, -1)) - TOP_DB
    db = torch.max(db, floor.view(-1, 1, 1))
    return db[0] if squeeze else db
