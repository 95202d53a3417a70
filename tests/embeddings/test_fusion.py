"""Fusion of voice models: weighted concatenation of unit vectors, names, the registry syntax."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from embeddings.base import Embedder
from embeddings.ecapa_tdnn import AnimeSpeakerNet
from embeddings.fusion import FusedEmbedder, parse_fusion
from embeddings.voice import load_voice_embedder
from grouping.vectors import normalize_rows


class _Fixed:
    """A stand-in embedder: a fixed random projection of simple waveform statistics."""

    def __init__(self, name: str, dim: int, seed: int) -> None:
        self.name, self.dim = name, dim
        self.proj = np.random.default_rng(seed).standard_normal((4, dim))
        self.calls = 0

    def __call__(self, waves, sample_rate=16000, progress=None):
        self.calls += 1
        stats = np.array([[w.mean(), w.std(), np.abs(w).max(), w.size / 1e4] for w in waves])
        if progress is not None:
            progress(len(waves), len(waves))
        return 3.0 * (stats @ self.proj)  # deliberately not unit-norm


def _waves(n: int = 5) -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    return [rng.standard_normal(8000 + 1000 * i).astype(np.float32) * (i + 1) for i in range(n)]


def test_fused_cosine_is_the_weighted_mean_of_part_cosines():
    a, b = _Fixed("a-v1", 6, 0), _Fixed("b-v2", 4, 1)
    fused = FusedEmbedder([(a, 1.0), (b, 2.0)])
    assert isinstance(fused, Embedder) and fused.dim == 10
    assert fused.name == "fuse-a-v1x1+b-v2x2"
    waves = _waves()
    calls = []
    out = fused(waves, progress=lambda done, total: calls.append((done, total)))
    assert out.shape == (5, 10) and out.dtype == np.float32
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    va, vb = normalize_rows(a(waves)), normalize_rows(b(waves))
    expected = (1 * (va @ va.T) + 4 * (vb @ vb.T)) / 5
    assert np.allclose(out @ out.T, expected, atol=1e-5)
    assert calls[-1] == (5, 5) and all(t == 5 for _, t in calls)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


def test_equal_weights_keep_plain_names_and_order_matters():
    a, b = _Fixed("a-v1", 3, 0), _Fixed("b-v1", 3, 1)
    assert FusedEmbedder([(a, 1.0), (b, 1.0)]).name == "fuse-a-v1+b-v1"
    assert FusedEmbedder([(b, 1.0), (a, 1.0)]).name == "fuse-b-v1+a-v1"
    with pytest.raises(ValueError, match="two or more"):
        FusedEmbedder([(a, 1.0)])


def test_parse_fusion():
    assert parse_fusion("campplus+anime") == [("campplus", 1.0), ("anime", 1.0)]
    assert parse_fusion("campplus:0.5 + anime-va:2") == [("campplus", 0.5), ("anime-va", 2.0)]
    for bad, why in [
        ("campplus", "two or more"),
        ("campplus+campplus", "twice"),
        ("campplus:x+anime", "number"),
        ("campplus:0+anime", "WEIGHT > 0"),
        ("+anime", "NAME"),
    ]:
        with pytest.raises(ValueError, match=why):
            parse_fusion(bad)


def test_registry_builds_a_fusion_with_per_model_weights(tmp_path, monkeypatch):
    import embeddings.voice as voice

    small = {"channels": [128, 128, 128, 128, 384], "res2net_scale": 4,
             "attention_channels": 32, "se_channels": 32, "lin_neurons": 16}  # fmt: skip
    path = tmp_path / "embedding_model.pth"
    torch.save(AnimeSpeakerNet(**small).state_dict(), path)
    monkeypatch.setitem(voice.VOICE_BACKENDS, "fixed", lambda **kw: _Fixed("fixed-v1", 8, 2))
    fused = load_voice_embedder("fixed+anime:3", weights={"anime": path}, config=small)
    assert fused.dim == 8 + 16 and fused.name.startswith("fuse-fixed-v1x1+anime-char-")
    assert fused.name.endswith("x3")
    out = fused(_waves(2))
    assert out.shape == (2, 24) and np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    with pytest.raises(ValueError, match="NAME=PATH"):
        load_voice_embedder("fixed+anime", weights=str(path))
    with pytest.raises(ValueError, match="does not use"):
        load_voice_embedder("fixed+anime", weights={"ecapa": path})
    with pytest.raises(ValueError, match="unknown voice backend 'nope'"):
        load_voice_embedder("fixed+nope")
