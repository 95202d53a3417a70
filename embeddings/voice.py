"""Voice embedder registry: one name picks a backend, so configs and the CLI stay declarative."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from embeddings.base import Embedder


def _campplus(**kwargs: Any) -> Embedder:
    from embeddings.campplus import CamPlusPlus

    return CamPlusPlus(**kwargs)


def _ecapa(**kwargs: Any) -> Embedder:
    from embeddings.ecapa import EcapaEmbedder

    return EcapaEmbedder(**kwargs)


VOICE_BACKENDS: dict[str, Callable[..., Embedder]] = {"campplus": _campplus, "ecapa": _ecapa}


def load_voice_embedder(name: str = "campplus", **kwargs: Any) -> Embedder:
    """Build the voice backend called ``name`` (``"campplus"``, the offline default, or
    ``"ecapa"``); keyword arguments go to its constructor (weights path, device, batch size...).
    """
    try:
        factory = VOICE_BACKENDS[name]
    except KeyError:
        known = ", ".join(sorted(VOICE_BACKENDS))
        raise ValueError(f"unknown voice backend {name!r}; known: {known}") from None
    return factory(**kwargs)
