"""The long-term spectrum backend: level-free timbre vectors, fusable beside CAM++."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import lfilter, resample_poly

from embeddings.base import Embedder
from embeddings.spectrum import LongTermSpectrum, line_spectrum, reference
from embeddings.voice import load_voice_embedder

SR = 16000


def _voice(f0: float, formant: float, seconds: float, seed: int) -> np.ndarray:
    """A buzzy vowel: a glottal pulse train at ``f0`` through one resonance at ``formant``,
    with a little noise, so two "voices" differ in pitch and timbre, not in level."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    pulses = np.zeros(n)
    pulses[:: int(SR / (f0 * rng.uniform(0.95, 1.05)))] = 1.0
    r, theta = 0.97, 2 * np.pi * formant / SR
    wave = lfilter([1.0], [1.0, -2 * r * np.cos(theta), r * r], pulses)
    wave += 0.01 * rng.standard_normal(n)
    return (0.3 * wave / np.abs(wave).max()).astype(np.float32)


def test_reference_is_the_shipped_160_numbers():
    ref = reference()
    assert ref.shape == (160,) and np.isfinite(ref).all()
    assert abs(float(ref[:80].mean())) < 1e-3  # the mean half carries no level


def test_vectors_are_unit_rows_that_do_not_depend_on_the_batch():
    emb = LongTermSpectrum()
    waves = [_voice(220, 900, 1.0, s) for s in range(3)]
    together = emb(waves)
    alone = np.vstack([emb([w]) for w in waves])
    assert isinstance(emb, Embedder) and together.shape == (3, 160)
    assert together.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(together, alone, atol=1e-6)


def test_a_quiet_take_of_a_line_keeps_its_shape():
    wave = _voice(300, 1200, 1.5, 0)
    loud, quiet = line_spectrum(wave), line_spectrum(wave * 0.1)  # 20 dB apart
    np.testing.assert_allclose(loud, quiet, atol=1e-3)


def test_lines_of_one_voice_sit_closer_than_lines_of_another():
    emb = LongTermSpectrum()
    a = emb([_voice(220, 700, 1.2, s) for s in range(4)])
    b = emb([_voice(420, 2200, 1.2, s + 10) for s in range(4)])
    within = min((a @ a.T)[np.triu_indices(4, 1)].min(), (b @ b.T)[np.triu_indices(4, 1)].min())
    assert within > (a @ b.T).max()


def test_a_line_shorter_than_one_frame_still_gets_a_vector():
    out = LongTermSpectrum()([_voice(250, 1000, 0.01, 0)])  # 160 samples < one 400-sample frame
    assert out.shape == (1, 160) and np.isfinite(out).all()


def test_other_sample_rates_are_resampled_and_bad_input_is_named():
    emb = LongTermSpectrum()
    wave = _voice(250, 1000, 1.0, 0)
    at_48k = resample_poly(wave, 3, 1).astype(np.float32)
    assert float(emb([wave])[0] @ emb([at_48k], sample_rate=48000)[0]) > 0.99
    with pytest.raises(ValueError, match="waveform 0"):
        emb([np.zeros((2, 100), dtype=np.float32)])


@pytest.mark.slow
def test_it_fuses_beside_campplus_under_its_own_name():
    fused = load_voice_embedder("campplus+spectrum:0.5", device="cpu")
    assert fused.name == "fuse-campplus-zh_en-v1x1+spectrum-logmel80-v1x0.5"
    out = fused([_voice(220, 700, 1.2, 0), _voice(420, 2200, 1.2, 1)])
    assert out.shape == (2, 192 + 160)
    # the spectrum part carries 0.5**2 / 1.25 = 20% of the squared norm
    np.testing.assert_allclose((out[:, 192:] ** 2).sum(1), 0.2, atol=1e-5)
