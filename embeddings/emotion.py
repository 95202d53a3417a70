"""Optional emotion models: speech emotion (waveform -> class probabilities) and text emotion
(line text -> class probabilities), for the downstream feature stage.

Same shape of protocol as :class:`embeddings.base.Embedder` (``name``, ``dim``, ``__call__``,
progress through a hook) plus ``labels``, the class names in column order. Rows are
probabilities (softmax), not unit vectors: a downstream model reads "how angry", not a
direction.

Weights are a Hugging Face ``transformers`` model: a local folder written by
``save_pretrained`` (config.json + model.safetensors + the feature extractor or tokenizer
files), or a hub id where the machine is online. Any audio- or sequence-classification
architecture ``transformers`` knows loads (e.g. wav2vec2/HuBERT SER models, emotion RoBERTa).
``transformers`` is imported only here, lazily: ``pip install 'castlist[emotion]'``.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from embeddings.base import ProgressHook
from embeddings.errors import BackendUnavailable

log = logging.getLogger(__name__)

EXTRA = "castlist[emotion]"
Kind = Literal["speech", "text"]
SAMPLE_RATE = 16000
BATCH = 8


@runtime_checkable
class EmotionModel(Protocol):
    """Items (16 kHz waveforms or texts) -> ``(len(items), dim)`` float32 probabilities."""

    name: str
    dim: int
    labels: tuple[str, ...]

    def __call__(
        self, items: Sequence[Any], /, progress: ProgressHook | None = None
    ) -> np.ndarray: ...


def _transformers() -> Any:
    try:
        import transformers
    except ImportError as exc:
        raise BackendUnavailable(
            f"emotion models need the transformers package: pip install '{EXTRA}'"
        ) from exc
    return transformers


def _model_name(kind: str, source: str) -> str:
    """``<kind>-emotion-<hash>-<folder or repo>``: the hash covers the config and weights of
    a local folder, so retrained weights in the same folder never mix with old rows. The hash
    comes first: vector file names keep only the first 40 characters of a model name."""
    path = Path(source)
    tag = path.name if path.is_dir() else source.replace("/", "_")
    digest = hashlib.sha256(source.encode())
    if path.is_dir():
        digest = hashlib.sha256()
        for f in sorted(path.iterdir()):
            if f.is_file() and f.suffix in (".json", ".safetensors", ".bin", ".txt"):
                digest.update(f.name.encode())
                digest.update(f.read_bytes())
    return f"{kind}-emotion-{digest.hexdigest()[:8]}-{tag}"


class _HFClassifier:
    """A transformers classifier with its preprocessor, batched, on CPU, in eval mode."""

    def __init__(self, kind: Kind, source: str | Path) -> None:
        tf = _transformers()
        source = str(source)
        local = Path(source).is_dir()
        auto_model = (
            tf.AutoModelForAudioClassification
            if kind == "speech"
            else tf.AutoModelForSequenceClassification
        )
        auto_pre = tf.AutoFeatureExtractor if kind == "speech" else tf.AutoTokenizer
        try:
            self.pre = auto_pre.from_pretrained(source, local_files_only=local)
            self.model = auto_model.from_pretrained(source, local_files_only=local).eval()
        except (OSError, ValueError) as exc:
            where = "folder" if local else "hub model (is this machine online?)"
            raise BackendUnavailable(
                f"cannot load the {kind} emotion model from {source!r} ({where}): {exc}; give a "
                "local folder written by transformers' save_pretrained"
            ) from exc
        id2label = self.model.config.id2label
        self.labels = tuple(str(id2label[i]) for i in range(len(id2label)))
        self.dim = len(self.labels)
        self.kind = kind
        self.name = _model_name(kind, source)

    def _inputs(self, batch: Sequence[Any]) -> Any:
        if self.kind == "speech":
            waves = [np.asarray(w, dtype=np.float32) for w in batch]
            # a line shorter than the model's receptive field would fail: pad to 0.5 s
            waves = [np.pad(w, (0, max(0, SAMPLE_RATE // 2 - w.size))) for w in waves]
            return self.pre(waves, sampling_rate=SAMPLE_RATE, return_tensors="pt", padding=True)
        texts = [str(t) for t in batch]
        return self.pre(texts, return_tensors="pt", padding=True, truncation=True)

    def __call__(self, items: Sequence[Any], /, progress: ProgressHook | None = None) -> np.ndarray:
        import torch

        out = np.zeros((len(items), self.dim), dtype=np.float32)
        with torch.inference_mode():
            for i in range(0, len(items), BATCH):
                batch = items[i : i + BATCH]
                logits = self.model(**self._inputs(batch)).logits
                out[i : i + len(batch)] = torch.softmax(logits.float(), dim=-1).numpy()
                if progress:
                    progress(min(i + BATCH, len(items)), len(items))
        return out


def load_emotion(kind: Kind, source: str | Path) -> EmotionModel:
    """The ``kind`` ("speech" or "text") emotion model from a local folder or a hub id."""
    if kind not in ("speech", "text"):
        raise ValueError(f"emotion kind must be 'speech' or 'text', got {kind!r}")
    model = _HFClassifier(kind, source)
    log.info("loaded %s (%d classes: %s)", model.name, model.dim, ", ".join(model.labels))
    return model
