"""Optional emotion models: tiny random-weight transformers models saved in the real on-disk
format (save_pretrained folders) load through the same code path as real ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("transformers")

from embeddings.emotion import EmotionModel, load_emotion
from embeddings.errors import BackendUnavailable

SPEECH_LABELS = ("neutral", "happy", "angry", "sad")
TEXT_LABELS = ("negative", "neutral", "positive")


def tiny_speech_model(folder: Path) -> Path:
    import torch
    from transformers import (
        Wav2Vec2Config,
        Wav2Vec2FeatureExtractor,
        Wav2Vec2ForSequenceClassification,
    )

    cfg = Wav2Vec2Config(
        hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
        conv_dim=(8, 8), conv_stride=(5, 4), conv_kernel=(10, 8), num_conv_pos_embeddings=4,
        num_conv_pos_embedding_groups=2, classifier_proj_size=8,
        id2label=dict(enumerate(SPEECH_LABELS)),
        label2id={n: i for i, n in enumerate(SPEECH_LABELS)},
    )  # fmt: skip
    torch.manual_seed(0)
    Wav2Vec2ForSequenceClassification(cfg).save_pretrained(folder)
    Wav2Vec2FeatureExtractor(sampling_rate=16000).save_pretrained(folder)
    return folder


def tiny_text_model(folder: Path) -> Path:
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *"abcdefghijklmnopqrstuvwxyz"]
    (folder / "vocab.txt").write_text("\n".join(vocab), encoding="utf-8")
    cfg = BertConfig(
        vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, id2label=dict(enumerate(TEXT_LABELS)),
        label2id={n: i for i, n in enumerate(TEXT_LABELS)},
    )  # fmt: skip
    torch.manual_seed(0)
    BertForSequenceClassification(cfg).save_pretrained(folder)
    BertTokenizerFast(vocab_file=str(folder / "vocab.txt")).save_pretrained(folder)
    return folder


def test_speech_emotion_from_a_local_folder(tmp_path: Path):
    model = load_emotion("speech", tiny_speech_model(tmp_path / "ser"))
    assert isinstance(model, EmotionModel)
    assert model.labels == SPEECH_LABELS and model.dim == 4
    rng = np.random.default_rng(0)
    waves = [rng.normal(size=n).astype(np.float32) for n in (16000, 4000, 200)]  # 200: padded
    seen = []
    P = model(waves, progress=lambda done, total: seen.append((done, total)))
    assert P.shape == (3, 4) and P.dtype == np.float32
    np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=1e-5)
    assert seen[-1] == (3, 3)
    # deterministic, and the name changes with the weights
    np.testing.assert_allclose(model(waves), P, rtol=1e-5)
    other = tiny_speech_model(tmp_path / "ser2")
    (other / "config.json").write_text(
        (other / "config.json").read_text().replace('"sad"', '"sorrow"')
    )
    assert load_emotion("speech", other).name != model.name


def test_text_emotion_from_a_local_folder(tmp_path: Path):
    model = load_emotion("text", tiny_text_model(tmp_path / "ter"))
    assert model.labels == TEXT_LABELS
    P = model(["hello there", "こんにちは", ""])
    assert P.shape == (3, 3)
    np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=1e-5)


def test_missing_weights_say_what_to_give(tmp_path: Path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(BackendUnavailable, match="save_pretrained"):
        load_emotion("speech", tmp_path / "empty")
    with pytest.raises(ValueError):
        load_emotion("vision", tmp_path / "empty")  # type: ignore[arg-type]
