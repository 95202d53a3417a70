"""speechbrain ECAPA-TDNN voice embeddings, the design card's optional voice backend.

speechbrain is imported only when this backend is built: it needs a torchaudio that pairs with
the installed torch, which the CPU torch used offline here does not have, so the default
backend is CAM++ and this one is the ``castlist[ecapa]`` extra. Weights come from a local model
directory (``hyperparams.yaml`` + ``embedding_model.ckpt``, speechbrain's own layout) or, on a
machine that is online, a hub name such as ``speechbrain/spkrec-ecapa-voxceleb``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from embeddings.base import ProgressHook, l2_normalise
from embeddings.campplus import as_mono_float, resample, torch_threads
from embeddings.errors import BackendUnavailable

log = logging.getLogger(__name__)

SOURCE_ENV = "CASTLIST_ECAPA_DIR"
SAMPLE_RATE = 16000


def _encoder_classifier() -> Any:
    """speechbrain's EncoderClassifier, or BackendUnavailable saying how to get it."""
    try:
        try:
            from speechbrain.inference.speaker import EncoderClassifier
        except ModuleNotFoundError as exc:
            if not (exc.name or "").startswith("speechbrain.inference"):
                raise
            from speechbrain.pretrained import EncoderClassifier  # speechbrain < 1.0
    except Exception as exc:  # missing, or torchaudio/torch mismatch breaking its import
        raise BackendUnavailable(
            "the ECAPA voice backend needs speechbrain (with a torchaudio matching torch): "
            f"pip install 'castlist[ecapa]' ({type(exc).__name__}: {exc})"
        ) from exc
    return EncoderClassifier


class EcapaEmbedder:
    """Voice embedder: mono waveforms -> L2-normalised speechbrain ECAPA vectors.

    ``source`` is a local model directory (or ``$CASTLIST_ECAPA_DIR``) or a hub name. Lines
    are batched by similar length with speechbrain's relative lengths, so padding is masked out
    of its statistics; lines shorter than ``min_seconds`` are repeat-padded, like CAM++.
    """

    def __init__(
        self,
        source: str | os.PathLike[str] | None = None,
        savedir: str | os.PathLike[str] | None = None,
        device: str = "cpu",
        batch_size: int = 32,
        min_seconds: float = 1.0,
        num_threads: int | None = None,
    ) -> None:
        self.source = source
        self.savedir = savedir
        self.device = device
        self.batch_size = batch_size
        self.min_seconds = min_seconds
        self.num_threads = num_threads
        self.model = self._load()
        with torch.inference_mode():
            probe = self.model.encode_batch(torch.zeros(1, SAMPLE_RATE))
        self.dim = int(probe.shape[-1])
        tag = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(str(self._source)).name) or "model"
        self.name = f"ecapa-{tag}-v1"

    def _load(self) -> Any:
        encoder_classifier = _encoder_classifier()
        source = self.source if self.source is not None else os.environ.get(SOURCE_ENV)
        if source is None:
            raise BackendUnavailable(
                f"the ECAPA backend needs a model: pass source= (a local speechbrain model dir "
                f"or hub name) or set {SOURCE_ENV}"
            )
        self._source = source
        kwargs: dict[str, Any] = {"run_opts": {"device": self.device}}
        local = Path(source).expanduser()
        if local.is_dir():
            if not (local / "hyperparams.yaml").is_file():
                raise BackendUnavailable(
                    f"{local} has no hyperparams.yaml (not a speechbrain model)"
                )
            source = str(local.resolve())
            kwargs["overrides"] = {"pretrained_path": source}
        elif local.is_absolute() or str(source).startswith((".", "~")) or local.exists():
            raise BackendUnavailable(f"ECAPA model directory not found: {local}")
        key = hashlib.sha1(str(source).encode()).hexdigest()[:12]
        savedir = self.savedir or Path(tempfile.gettempdir()) / "castlist-ecapa" / key
        try:
            model = encoder_classifier.from_hparams(source=source, savedir=str(savedir), **kwargs)
        except Exception as exc:
            raise BackendUnavailable(
                f"could not load the ECAPA model from {source}: {exc}"
            ) from exc
        model.eval()
        log.info("loaded ECAPA model from %s", source)
        return model

    def __call__(
        self,
        waves: Sequence[np.ndarray],
        sample_rate: int = SAMPLE_RATE,
        progress: ProgressHook | None = None,
    ) -> np.ndarray:
        total = len(waves)
        out = np.zeros((total, self.dim), dtype=np.float32)
        prepared = []
        min_len = max(1, round(self.min_seconds * SAMPLE_RATE))
        for i, wave in enumerate(waves):
            wave = resample(as_mono_float(wave, i), sample_rate)
            if wave.size < min_len:
                wave = np.resize(wave, min_len)  # cycle the speech itself
            prepared.append(wave)
        order = np.argsort([w.size for w in prepared], kind="stable")
        with torch_threads(self.num_threads), torch.inference_mode():
            for start in range(0, total, self.batch_size):
                idx = order[start : start + self.batch_size]
                longest = max(prepared[i].size for i in idx)
                batch = torch.zeros(len(idx), longest)
                for row, i in enumerate(idx):
                    batch[row, : prepared[i].size] = torch.from_numpy(prepared[i])
                lens = torch.tensor([prepared[i].size / longest for i in idx])
                emb = self.model.encode_batch(batch, lens)
                out[idx] = emb.reshape(len(idx), -1).float().cpu().numpy()
                if progress is not None:
                    progress(min(start + self.batch_size, total), total)
        return l2_normalise(out)
