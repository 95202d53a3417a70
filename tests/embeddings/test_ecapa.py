"""ECAPA voice backends (anime char/va, speechbrain VoxCeleb): loading, features, parity, errors.

No real weights are reachable here, so every loading test saves a random-weight network exactly
as the published file is saved (``torch.save`` of the module's state dict: ``backbone.``-prefixed
for the anime model, bare ECAPA keys for speechbrain's ``embedding_model.ckpt``) and loads it
through the backend's real path. Parity tests compare with speechbrain's own modules, imported
from its wheel at test time (see conftest.py).
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from embeddings import sbfbank
from embeddings.base import Embedder
from embeddings.ecapa import (
    ANIME_HUB,
    ANIME_SCALE,
    ECAPA_HUB,
    AnimeEmbedder,
    EcapaEmbedder,
    load_anime_net,
)
from embeddings.ecapa_tdnn import AnimeSpeakerNet, EcapaTDNN
from embeddings.errors import BackendUnavailable
from embeddings.fbank import cmn
from embeddings.voice import load_voice_embedder

VOXCELEB = Path(__file__).resolve().parents[3] / "shared/data/voxceleb_an4_tiny"
# GroupNorm(32) needs channel counts divisible by 32 (Res2Net splits 128 into 4 x 32)
SMALL = {
    "channels": [128, 128, 128, 128, 384],
    "res2net_scale": 4,
    "attention_channels": 32,
    "se_channels": 32,
    "lin_neurons": 48,
}


def _speech(n: int = 4) -> list[np.ndarray]:
    """Real VoxCeleb clips (16 kHz) when the shared data is here, else a voiced-speech buzz."""
    paths = sorted(VOXCELEB.glob("speechbrain_samples/voxceleb_samples/wav/*/*/*.wav"))
    if len(paths) >= n:
        picks = [paths[i * len(paths) // n] for i in range(n)]  # different speakers
        return [sf.read(p, dtype="float32")[0][: 16000 * 2] for p in picks]
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        t = np.arange(int((1.5 + i) * 16000)) / 16000
        phase = 2 * np.pi * np.cumsum(120 + 30 * i + 10 * np.sin(2 * np.pi * 3 * t)) / 16000
        wave = sum(np.sin(k * phase) / k for k in range(1, 12))
        out.append((0.1 * wave + 0.005 * rng.standard_normal(t.size)).astype(np.float32))
    return out


def _randomise(net: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Weights and norm statistics far from their defaults, so a wrong mapping shows."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, value in net.state_dict().items():
            if value.dtype.is_floating_point:
                if "running_var" in name:
                    value.copy_(torch.rand(value.shape, generator=gen) + 0.5)
                else:
                    value.copy_(torch.randn(value.shape, generator=gen) * 0.2)
    return net.eval()


@pytest.fixture(scope="module")
def anime_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("anime") / "embedding_model.pth"
    torch.save(_randomise(AnimeSpeakerNet(**SMALL)).state_dict(), path)
    return path


@pytest.fixture(scope="module")
def ecapa_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("spkrec-ecapa-voxceleb")
    torch.save(_randomise(EcapaTDNN(**SMALL), 1).state_dict(), folder / "embedding_model.ckpt")
    return folder


# --------------------------------------------------------------------------- architecture
def test_full_size_keys_are_the_published_architecture():
    """Hand-checked against speechbrain's ECAPA_TDNN(80, channels=[1024]*4+[3072]) and the
    anime package's GroupNorm swap: keys, shapes, parameter count (20.77 M)."""
    gn = AnimeSpeakerNet().state_dict()
    bn = EcapaTDNN().state_dict()
    assert all(k.startswith("backbone.") for k in gn)
    assert {k.removeprefix("backbone.") for k in gn} == {
        k for k in bn if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))
    }
    assert gn["backbone.blocks.0.conv.conv.weight"].shape == (1024, 80, 5)
    assert gn["backbone.blocks.2.res2net_block.blocks.6.conv.conv.weight"].shape == (128, 128, 3)
    assert gn["backbone.blocks.3.se_block.conv1.conv.weight"].shape == (128, 1024, 1)
    assert gn["backbone.mfa.conv.conv.weight"].shape == (3072, 3072, 1)
    assert gn["backbone.asp.tdnn.conv.conv.weight"].shape == (128, 9216, 1)
    assert gn["backbone.asp_bn.norm.weight"].shape == (6144,)
    assert gn["backbone.fc.conv.weight"].shape == (192, 6144, 1)
    assert "blocks.1.norm.norm.running_var" not in bn  # SE-Res2Net blocks have no own norm
    assert bn["blocks.1.tdnn1.norm.norm.running_var"].shape == (1024,)
    assert len(gn) == 138 and len(bn) == 231  # 31 norms: BatchNorm adds 3 buffers each
    assert sum(p.numel() for p in AnimeSpeakerNet().parameters()) == 20_767_552


@pytest.mark.slow
def test_keys_match_speechbrain_and_the_anime_swap(speechbrain_ref):
    theirs = speechbrain_ref.ECAPA_TDNN(80, channels=[1024, 1024, 1024, 1024, 3072])
    assert set(theirs.state_dict()) == set(EcapaTDNN().state_dict())
    speechbrain_ref.swap_bn_to_gn(theirs, num_groups=32)
    wrapped = torch.nn.Module()
    wrapped.backbone = theirs
    ours = AnimeSpeakerNet().state_dict()
    assert {k: v.shape for k, v in wrapped.state_dict().items()} == {
        k: v.shape for k, v in ours.items()
    }


# --------------------------------------------------------------------------- parity
@pytest.mark.slow
def test_fbank_matches_speechbrain(speechbrain_ref):
    waves = torch.from_numpy(np.stack([w[:24000] for w in _speech(3)]))
    theirs = speechbrain_ref.Fbank(n_mels=80)
    for scale in (1.0, ANIME_SCALE):
        expected = theirs(waves * scale)
        ours = sbfbank.fbank(waves * scale)
        assert ours.shape == expected.shape == (3, sbfbank.num_frames(24000), 80)
        assert torch.allclose(ours, expected, atol=1e-4)
    silent = torch.zeros(1, 8000)  # the 1e-10 floor and the 80 dB clip
    assert torch.allclose(sbfbank.fbank(silent), theirs(silent), atol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("norm", ["batch", "group"])
def test_network_matches_speechbrain(speechbrain_ref, norm):
    theirs = speechbrain_ref.ECAPA_TDNN(80, **SMALL)
    if norm == "group":
        speechbrain_ref.swap_bn_to_gn(theirs, num_groups=32)
    _randomise(theirs, seed=3)
    ours = EcapaTDNN(norm=norm, **SMALL).eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    feats = torch.randn(3, 137, 80) * 3
    with torch.inference_mode():
        expected, got = theirs(feats), ours(feats)
    assert got.shape == expected.shape == (3, 1, 48)
    assert torch.allclose(got, expected, atol=1e-4)


@pytest.mark.slow
def test_anime_backend_matches_the_package_forward(speechbrain_ref, anime_file):
    """AnimeSpeakerEmbedding.forward: x * 32768 -> speechbrain Fbank -> backbone."""
    backbone = speechbrain_ref.ECAPA_TDNN(80, **SMALL)
    speechbrain_ref.swap_bn_to_gn(backbone, num_groups=32)
    package = torch.nn.Module()
    package.backbone = backbone
    package.load_state_dict(torch.load(anime_file, weights_only=True), strict=True)
    package.eval()
    fbank = speechbrain_ref.Fbank(n_mels=80)
    emb = AnimeEmbedder(weights=anime_file, config=SMALL, min_seconds=0.0)
    for wave in _speech(2):
        x = torch.from_numpy(wave)[None]
        with torch.inference_mode():
            expected = backbone(fbank(x * 32768.0))[0, 0]
            exact = emb.model(sbfbank.fbank(emb.scale(x[0]))[None])[0, 0]
        assert torch.allclose(exact, expected, atol=1e-4 * expected.abs().max())
        # the backend repeat-pads up to 5% for exact batching: the vector barely moves
        cos = torch.nn.functional.cosine_similarity(expected, torch.from_numpy(emb([wave])[0]), 0)
        assert cos > 0.99


@pytest.mark.slow
def test_ecapa_backend_matches_speechbrains_encode_batch(speechbrain_ref, ecapa_dir):
    """EncoderClassifier.encode_batch: Fbank -> sentence mean norm -> embedding_model."""
    net = speechbrain_ref.ECAPA_TDNN(80, **SMALL)
    net.load_state_dict(torch.load(ecapa_dir / "embedding_model.ckpt", weights_only=True))
    net.eval()
    fbank = speechbrain_ref.Fbank(n_mels=80)
    mean_norm = speechbrain_ref.InputNormalization(norm_type="sentence", std_norm=False)
    emb = EcapaEmbedder(weights=ecapa_dir, config=SMALL, min_seconds=0.0)
    for wave in _speech(2):
        x = torch.from_numpy(wave)[None]
        with torch.inference_mode():
            expected = net(mean_norm(fbank(x), torch.ones(1)))[0, 0]
            exact = emb.model(cmn(sbfbank.fbank(x[0]))[None])[0, 0]
        assert torch.allclose(exact, expected, atol=1e-4 * expected.abs().max())
        cos = torch.nn.functional.cosine_similarity(expected, torch.from_numpy(emb([wave])[0]), 0)
        assert cos > 0.99


# --------------------------------------------------------------------------- loading + embedding
def test_anime_file_loads_strictly_and_embeds_real_audio(anime_file):
    emb = load_voice_embedder("anime", weights=anime_file, config=SMALL)
    assert isinstance(emb, AnimeEmbedder) and isinstance(emb, Embedder)
    assert emb.variant == "char" and emb.dim == 48 and emb.name.startswith("anime-char-")
    saved = torch.load(anime_file, weights_only=True)
    loaded = emb.model.state_dict()
    assert set(loaded) == set(saved) and all(torch.equal(loaded[k], v) for k, v in saved.items())
    waves = _speech(4)
    calls = []
    out = emb(waves, progress=lambda done, total: calls.append((done, total)))
    assert out.shape == (4, 48) and out.dtype == np.float32 and np.isfinite(out).all()
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    assert calls[-1] == (4, 4)
    assert np.array_equal(emb(waves), out)  # deterministic
    alone = np.stack([emb([w])[0] for w in waves])
    assert np.abs(alone - out).max() < 1e-4  # independent of batch mates
    assert float(out[0] @ out[1]) < 0.9999  # different clips, different vectors
    unit = waves[0] / np.abs(waves[0]).max()  # peaks at exactly 1
    loud = emb([unit * 4.0])[0]  # peaks above 1 are scaled back, as the package does
    assert float(loud @ emb([unit])[0]) > 0.9999


def test_anime_variants_env_var_and_unprefixed_file(anime_file, tmp_path, monkeypatch):
    monkeypatch.setenv(ANIME_HUB["va"].env, str(anime_file.parent))  # a folder holding the file
    emb = load_voice_embedder("anime-va", config=SMALL)
    assert emb.variant == "va" and emb.name.startswith("anime-va-")
    bare = tmp_path / "bare.pth"  # saved from the bare ECAPA (no "backbone." prefix)
    state = torch.load(anime_file, weights_only=True)
    torch.save({k.removeprefix("backbone."): v for k, v in state.items()}, bare)
    assert set(load_anime_net(bare, **SMALL).state_dict()) == set(state)
    other = tmp_path / "other.pth"
    torch.save(_randomise(AnimeSpeakerNet(**SMALL), seed=9).state_dict(), other)
    assert AnimeEmbedder(weights=other, config=SMALL).name != emb.name  # vectors never mix


def test_ecapa_dir_loads_strictly_and_embeds(ecapa_dir, monkeypatch):
    monkeypatch.setenv(ECAPA_HUB.env, str(ecapa_dir))
    emb = load_voice_embedder("ecapa", config=SMALL, batch_size=2)
    assert isinstance(emb, EcapaEmbedder) and emb.dim == 48
    assert emb.name.startswith("ecapa-voxceleb-")
    saved = torch.load(ecapa_dir / "embedding_model.ckpt", weights_only=True)
    assert any(k.endswith("running_var") for k in saved)
    loaded = emb.model.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in saved.items())
    out = emb(_speech(3))
    assert out.shape == (3, 48) and np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)


def test_short_and_long_lines(anime_file):
    emb = AnimeEmbedder(weights=anime_file, config=SMALL, min_seconds=0.0, max_seconds=1.0)
    wave = _speech(1)[0]
    out = emb([wave[:50], wave[:1600], wave])  # 3 ms, 0.1 s, several 1 s windows
    assert out.shape == (3, 48) and np.isfinite(out).all()
    emb.max_batch_frames = 120  # one window per batch: memory bound, same vectors
    assert np.abs(emb([wave[:50], wave[:1600], wave]) - out).max() < 1e-5
    with pytest.raises(ValueError, match="empty"):
        emb([np.zeros(0, dtype=np.float32)])


@pytest.mark.slow
def test_full_size_anime_file_through_the_registry(tmp_path):
    path = tmp_path / "embedding_model.pth"
    torch.save(AnimeSpeakerNet().state_dict(), path)  # the published size, default init
    emb = load_voice_embedder("anime", weights=path, num_threads=1)
    assert emb.dim == 192
    out = emb(_speech(2))
    assert out.shape == (2, 192) and np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)


# --------------------------------------------------------------------------- errors
def test_wrong_files_name_the_problem(tmp_path):
    junk = tmp_path / "embedding_model.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(BackendUnavailable, match="not a readable"):
        AnimeEmbedder(weights=junk)
    torch.save(EcapaTDNN(**SMALL).state_dict(), junk)  # BatchNorm file where GroupNorm is due
    with pytest.raises(BackendUnavailable, match="does not fit the anime ECAPA-GroupNorm"):
        AnimeEmbedder(weights=junk, config=SMALL)
    torch.save({"model": {"w": torch.zeros(1)}}, junk)
    with pytest.raises(BackendUnavailable, match="not a anime ECAPA state dict|not a readable"):
        AnimeEmbedder(weights=junk)


def test_missing_local_file_names_file_url_flag_and_variable(tmp_path):
    missing = tmp_path / "nowhere.pth"
    with pytest.raises(BackendUnavailable) as info:
        AnimeEmbedder(weights=missing)
    msg = str(info.value)
    assert str(missing) in msg and "embedding_model.pth" in msg
    assert "https://huggingface.co/litagin/anime_speaker_embedding_ecapa_tdnn_groupnorm" in msg
    assert "--voice-weights" in msg and "CASTLIST_ANIME_WEIGHTS" in msg


def _unreachable_hub(monkeypatch) -> list[dict]:
    calls: list[dict] = []

    def download(**kwargs):
        calls.append(kwargs)
        raise OSError("[Errno -2] Name or service not known")

    fake = types.ModuleType("huggingface_hub")
    fake.hf_hub_download = download
    monkeypatch.setitem(sys.modules, "huggingface_hub", fake)
    for variable in (ANIME_HUB["char"].env, ANIME_HUB["va"].env, ECAPA_HUB.env):
        monkeypatch.delenv(variable, raising=False)
    return calls


@pytest.mark.parametrize(
    ("voice", "repo", "filename", "variable"),
    [
        ("anime", "litagin/anime_speaker_embedding_ecapa_tdnn_groupnorm",
         "embedding_model.pth", "CASTLIST_ANIME_WEIGHTS"),
        ("anime-va", "litagin/anime_speaker_embedding_by_va_ecapa_tdnn_groupnorm",
         "embedding_model.pth", "CASTLIST_ANIME_VA_WEIGHTS"),
        ("ecapa", "speechbrain/spkrec-ecapa-voxceleb", "embedding_model.ckpt",
         "CASTLIST_ECAPA_DIR"),
    ],
)  # fmt: skip
def test_unreachable_hub_is_a_model_error_that_says_what_to_fetch(
    monkeypatch, voice, repo, filename, variable
):
    from pipelines.errors import ModelError
    from pipelines.stages.run import voice_embedder

    calls = _unreachable_hub(monkeypatch)
    with pytest.raises(ModelError) as info:
        voice_embedder(voice)
    assert calls == [{"repo_id": repo, "filename": filename, "revision": "main"}]
    msg = str(info.value)
    assert f"https://huggingface.co/{repo}/resolve/main/{filename}" in msg
    assert f"--voice-weights /path/to/{filename}" in msg and f"{variable}=" in msg
    assert "Name or service not known" in msg and "\n" not in msg


def test_without_huggingface_hub_the_error_names_the_extra(monkeypatch):
    _unreachable_hub(monkeypatch)
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # import fails
    with pytest.raises(BackendUnavailable, match=r"castlist\[hub\].*--voice-weights"):
        AnimeEmbedder()
