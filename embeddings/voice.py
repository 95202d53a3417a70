"""Voice embedder registry: one name picks a backend, so configs and the CLI stay declarative.

Names: ``campplus`` (the offline default), ``ecapa`` (speechbrain VoxCeleb), ``anime`` (the
anime/visual-novel model, ``char`` variant), ``anime-va`` and ``spectrum`` (a line's long-term
spectrum, no network: a timbre cue to fuse beside a speaker model); ``a+b`` (optionally ``a:2+b``)
fuses several (:mod:`embeddings.fusion`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from embeddings.base import Embedder


def _campplus(**kwargs: Any) -> Embedder:
    from embeddings.campplus import CamPlusPlus

    return CamPlusPlus(**kwargs)


def _ecapa(**kwargs: Any) -> Embedder:
    from embeddings.ecapa import EcapaEmbedder

    return EcapaEmbedder(**kwargs)


def _spectrum(**kwargs: Any) -> Embedder:
    from embeddings.spectrum import LongTermSpectrum

    return LongTermSpectrum(**kwargs)


def _anime(variant: str) -> Callable[..., Embedder]:
    def build(**kwargs: Any) -> Embedder:
        from embeddings.ecapa import AnimeEmbedder

        return AnimeEmbedder(variant=variant, **kwargs)

    return build


VOICE_BACKENDS: dict[str, Callable[..., Embedder]] = {
    "campplus": _campplus,
    "ecapa": _ecapa,
    "anime": _anime("char"),
    "anime-char": _anime("char"),
    "anime-va": _anime("va"),
    "spectrum": _spectrum,
}

Weights = str | os.PathLike[str] | Mapping[str, str | os.PathLike[str]] | None


def load_voice_embedder(name: str = "campplus", weights: Weights = None, **kwargs: Any) -> Embedder:
    """Build the voice backend called ``name``; ``weights`` is a local weights file (for a
    fusion: a mapping from part name to file), other keyword arguments go to every backend's
    constructor (device, batch size, threads...).
    """
    if "+" in name:
        from embeddings.fusion import FusedEmbedder, parse_fusion

        parts = parse_fusion(name)
        if weights is not None and not isinstance(weights, Mapping):
            raise ValueError(f"{name!r} fuses several models: give weights as NAME=PATH per model")
        given = dict(weights or {})
        unknown = set(given) - {part for part, _ in parts}
        if unknown:
            raise ValueError(f"weights given for {sorted(unknown)}, which {name!r} does not use")
        return FusedEmbedder([(_single(part, given.get(part), kwargs), w) for part, w in parts])
    if isinstance(weights, Mapping):
        unknown = set(weights) - {name}
        if unknown:
            raise ValueError(f"weights given for {sorted(unknown)}, which {name!r} does not use")
        weights = weights.get(name)
    return _single(name, weights, kwargs)


def _single(name: str, weights: Any, kwargs: dict[str, Any]) -> Embedder:
    try:
        factory = VOICE_BACKENDS[name]
    except KeyError:
        known = ", ".join(sorted(VOICE_BACKENDS))
        raise ValueError(
            f"unknown voice backend {name!r}; known: {known} (or several joined with '+')"
        ) from None
    if weights is not None:
        kwargs = {**kwargs, "weights": weights}
    return factory(**kwargs)
