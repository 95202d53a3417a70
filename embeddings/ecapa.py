"""ECAPA-TDNN voice backends in plain torch: speechbrain's VoxCeleb model and the anime model.

Both run without speechbrain or torchaudio (see :mod:`embeddings.ecapa_tdnn` and
:mod:`embeddings.sbfbank`) and load their published weights files strictly:

- ``ecapa``: speechbrain/spkrec-ecapa-voxceleb. Its ``EncoderClassifier.encode_batch`` (the
  default ``normalize=False``) uses ``embedding_model.ckpt`` only: Fbank(80) -> per-utterance
  mean normalisation (``InputNormalization(norm_type="sentence", std_norm=False)``) -> ECAPA.
  ``mean_var_norm_emb.ckpt`` and ``classifier.ckpt`` are not needed.
- ``anime`` / ``anime-va``: the ``anime_speaker_embedding`` package's ECAPA with GroupNorm
  (``char`` and ``va`` variants), one ``embedding_model.pth`` each. Its forward pass scales a
  waveform peaking above 1 down to 1, multiplies by 32768 (its training did), then Fbank(80)
  straight into the network, without mean normalisation.

Weights come from ``weights=`` (the CLI's ``--voice-weights``), an environment variable, or the
Hugging Face hub on first use (cached); see :mod:`embeddings.weights`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from embeddings.ecapa_tdnn import AnimeSpeakerNet, EcapaTDNN
from embeddings.errors import BackendUnavailable
from embeddings.fbank import cmn
from embeddings.sbfbank import fbank
from embeddings.weights import HubFile, file_tag, resolve_weights
from embeddings.windowed import WindowedEmbedder

log = logging.getLogger(__name__)

ECAPA_HUB = HubFile(
    "speechbrain/spkrec-ecapa-voxceleb", "embedding_model.ckpt", "CASTLIST_ECAPA_DIR"
)
ANIME_HUB = {
    "char": HubFile(
        "litagin/anime_speaker_embedding_ecapa_tdnn_groupnorm",
        "embedding_model.pth",
        "CASTLIST_ANIME_WEIGHTS",
    ),
    "va": HubFile(
        "litagin/anime_speaker_embedding_by_va_ecapa_tdnn_groupnorm",
        "embedding_model.pth",
        "CASTLIST_ANIME_VA_WEIGHTS",
    ),
}
ANIME_SCALE = 32768.0
BACKBONE = "backbone."


def _read_state(path: Path, what: str) -> Mapping[str, torch.Tensor]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        reason = (str(exc).splitlines() or [""])[0][:300]
        raise BackendUnavailable(f"{path} is not a readable {what} weights file: {reason}") from exc
    if not isinstance(state, Mapping) or not all(
        isinstance(v, torch.Tensor) for v in state.values()
    ):
        raise BackendUnavailable(f"{path} is not a {what} state dict (a mapping of tensors)")
    return state


def _load_strict(net: nn.Module, state: Mapping[str, torch.Tensor], path: Path, what: str) -> None:
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        reason = " ".join(str(exc).split())[:300]
        raise BackendUnavailable(f"{path} does not fit the {what} network: {reason}") from exc


def load_ecapa_net(path: Path, **config: Any) -> EcapaTDNN:
    """speechbrain's ``embedding_model.ckpt`` (a plain ``torch.save`` of the state dict)."""
    net = EcapaTDNN(norm="batch", **config)
    _load_strict(net, _read_state(path, "ECAPA"), path, "ECAPA")
    return net.eval()


def load_anime_net(path: Path, **config: Any) -> AnimeSpeakerNet:
    """The anime model's ``embedding_model.pth``: the ``AnimeSpeakerEmbedding`` module's state dict.

    Its keys carry the ``backbone.`` prefix; a file saved from the bare ECAPA (no prefix) is
    accepted too. Keys outside the backbone (a training head, say) are ignored with a note,
    which is what the package's own ``strict=False`` load does; every backbone key must match.
    """
    state = dict(_read_state(path, "anime ECAPA"))
    if not any(k.startswith(BACKBONE) for k in state):
        state = {BACKBONE + k: v for k, v in state.items()}
    extra = sorted(k for k in state if not k.startswith(BACKBONE))
    if extra:
        log.warning("%s: ignoring %d keys outside the backbone (%s...)", path, len(extra), extra[0])
        state = {k: v for k, v in state.items() if k.startswith(BACKBONE)}
    net = AnimeSpeakerNet(**config)
    _load_strict(net, state, path, "anime ECAPA-GroupNorm")
    return net.eval()


class _EcapaBase(WindowedEmbedder):
    min_window_frames = 8  # reflect padding of the dilated convolutions needs > 4 frames
    max_batch_frames = 6400  # 64 s of audio: the 9216-channel pooling input stays ~0.25 GB

    def _finish(self, net: nn.Module) -> None:
        self.model = net.to(self.device)
        self.dim = int(self._backbone().fc.conv.out_channels)

    def _backbone(self) -> EcapaTDNN:
        return self.model

    def features(self, waves: list[torch.Tensor]) -> list[torch.Tensor]:
        return [fbank(self.scale(w).unsqueeze(0))[0] for w in waves]

    def scale(self, wave: torch.Tensor) -> torch.Tensor:
        return wave

    def embed(self, batch: torch.Tensor) -> torch.Tensor:
        return self.model(batch).reshape(batch.shape[0], -1)


class EcapaEmbedder(_EcapaBase):
    """speechbrain's spkrec-ecapa-voxceleb: waveforms -> L2-normalised 192-d vectors."""

    def __init__(
        self,
        weights: str | os.PathLike[str] | None = None,
        device: str = "cpu",
        batch_size: int = 16,
        min_seconds: float = 1.0,
        max_seconds: float = 20.0,
        num_threads: int | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(device, batch_size, min_seconds, max_seconds, num_threads)
        self.weights_path = resolve_weights(ECAPA_HUB, weights)
        self._finish(load_ecapa_net(self.weights_path, **dict(config or {})))
        self.name = f"ecapa-voxceleb-{file_tag(self.weights_path)}"
        log.info("loaded ECAPA (VoxCeleb) weights from %s", self.weights_path)

    def normalise(self, feats: torch.Tensor) -> torch.Tensor:
        return cmn(feats)  # speechbrain's sentence-level mean normalisation


class AnimeEmbedder(_EcapaBase):
    """The anime/visual-novel ECAPA-GroupNorm (``variant`` ``"char"`` or ``"va"``), 192-d."""

    def __init__(
        self,
        variant: str = "char",
        weights: str | os.PathLike[str] | None = None,
        device: str = "cpu",
        batch_size: int = 16,
        min_seconds: float = 1.0,
        max_seconds: float = 20.0,
        num_threads: int | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        if variant not in ANIME_HUB:
            raise ValueError(f"anime variant must be one of {sorted(ANIME_HUB)}, not {variant!r}")
        super().__init__(device, batch_size, min_seconds, max_seconds, num_threads)
        self.variant = variant
        self.weights_path = resolve_weights(ANIME_HUB[variant], weights)
        self._finish(load_anime_net(self.weights_path, **dict(config or {})))
        self.name = f"anime-{variant}-{file_tag(self.weights_path)}"
        log.info("loaded anime ECAPA (%s) weights from %s", variant, self.weights_path)

    def _backbone(self) -> EcapaTDNN:
        return self.model.backbone

    def scale(self, wave: torch.Tensor) -> torch.Tensor:
        peak = float(wave.abs().max()) if wave.numel() else 0.0
        if peak > 1.0:
            wave = wave / peak
        return wave * ANIME_SCALE
