"""The long-term spectrum of a line: the shape of its voice's timbre, without a network.

A speaker network trained on read speech (CAM++) hears two screaming teenage girls as one
voice; the average spectral envelope of each line still differs (brightness, formant region,
how much the level swings per band). On the acted benchmark, fusing it beside CAM++
(``--voice campplus+spectrum:0.5``) raised leave-one-out 1-NN from 0.46 to 0.50 (read speech:
0.953 either way), but names from hand labels gained only 0.01-0.02 and read-speech grouping
and names lost about 0.01, so it is an option, not the default; see docs/benchmarks_acted.md.

Per line: Kaldi log-mel fbank (80 bins, the one CAM++ reads), the loudest half of its frames
(speech, not the pauses under it), then their mean with the overall level removed (a shout and
a whisper of one voice keep their shape) and their standard deviation per bin. A fixed
reference, the same numbers over LibriSpeech test-other speech, is subtracted so the vector
points away from "average speech" rather than all lines pointing one way; the grouping's
per-episode centring removes what an episode's mix adds. No weights, no download: it runs
wherever torch does.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from functools import cache
from importlib import resources

import numpy as np
import torch

from embeddings.base import SAMPLE_RATE, ProgressHook
from embeddings.fbank import FRAME_LENGTH, fbank
from embeddings.windowed import as_mono_float, resample
from grouping.vectors import normalize_rows

REFERENCE = "speech_spectrum_v1.json"
INT16_SCALE = 32768.0
LOUDEST = 0.5
"""Share of a line's frames (by energy) its spectrum is read from: the speech, not the pauses
and music between words."""


@cache
def reference() -> np.ndarray:
    """The (160,) spectrum of average read speech (``benchmarks/fit_spectrum_reference.py``)."""
    raw = resources.files("embeddings.data").joinpath(REFERENCE).read_text(encoding="utf-8")
    return np.asarray(json.loads(raw)["mean"], dtype=np.float32)


def line_spectrum(wave: np.ndarray, loudest: float = LOUDEST) -> np.ndarray:
    """``[mean log-mel - its level, std log-mel]`` (160,) of one 16 kHz mono line."""
    if wave.shape[0] < FRAME_LENGTH:  # shorter than one frame: the sound itself, cycled
        wave = np.tile(wave, math.ceil(FRAME_LENGTH / wave.shape[0]))
    # at 16-bit sample scale the log floor sits far below any recorded sound, so a quiet take
    # of a line has the shape of a loud one
    feats = fbank(torch.from_numpy(np.ascontiguousarray(wave)) * INT16_SCALE).numpy()
    energy = feats.mean(axis=1)
    feats = feats[energy >= np.quantile(energy, 1.0 - loudest)]
    mean = feats.mean(axis=0)
    return np.concatenate([mean - mean.mean(), feats.std(axis=0)]).astype(np.float32)


class LongTermSpectrum:
    """Voice "embedder": mono waveforms -> unit 160-d long-term spectrum shapes.

    Accepts (and ignores) the device and threading options the network backends take, so it
    fuses with them through :func:`embeddings.voice.load_voice_embedder` unchanged.
    """

    name = "spectrum-logmel80-v1"
    dim = 160

    def __init__(self, **_options: object) -> None:
        self._reference = reference()

    def __call__(
        self,
        waves: Sequence[np.ndarray],
        sample_rate: int = SAMPLE_RATE,
        progress: ProgressHook | None = None,
    ) -> np.ndarray:
        out = np.zeros((len(waves), self.dim), dtype=np.float32)
        for i, wave in enumerate(waves):
            mono = resample(as_mono_float(wave, i), sample_rate)
            out[i] = line_spectrum(mono) - self._reference
            if progress is not None and (i + 1) % 256 == 0:
                progress(i + 1, len(waves))
        if progress is not None:
            progress(len(waves), len(waves))
        return normalize_rows(out).astype(np.float32, copy=False)
