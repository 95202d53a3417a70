"""Fusion of voice models: per-model unit vectors, weighted and concatenated.

With unit-norm parts ``v_i`` and weights ``w_i`` scaled so that ``sum(w_i**2) == 1``, the fused
vector is unit-norm and the cosine of two fused vectors is ``sum(w_i**2 * cos_i)``: a weighted
average of each model's cosine, so models that fail in different ways (CAM++ on acted voices,
the anime model on read speech) can outvote each other. The fused vectors are stored under
their own model name, which lists the parts and weights.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from embeddings.base import SAMPLE_RATE, Embedder, ProgressHook
from grouping.vectors import normalize_rows


def parse_fusion(spec: str) -> list[tuple[str, float]]:
    """``"campplus+anime:2"`` -> ``[("campplus", 1.0), ("anime", 2.0)]`` (weights default to 1)."""
    parts = []
    for item in spec.split("+"):
        name, _, weight = item.strip().partition(":")
        try:
            w = float(weight) if weight else 1.0
        except ValueError:
            raise ValueError(
                f"{item!r} in {spec!r}: the weight after ':' must be a number"
            ) from None
        if not name or not math.isfinite(w) or w <= 0:
            raise ValueError(f"{item!r} in {spec!r}: write NAME or NAME:WEIGHT with WEIGHT > 0")
        parts.append((name, w))
    if len(parts) < 2:
        raise ValueError(f"{spec!r}: a fusion joins two or more models with '+'")
    if len({name for name, _ in parts}) != len(parts):
        raise ValueError(f"{spec!r} names a model twice")
    return parts


class FusedEmbedder:
    """Concatenation of several voice embedders' unit vectors, each scaled by its weight."""

    def __init__(self, parts: Sequence[tuple[Embedder, float]]) -> None:
        if len(parts) < 2:
            raise ValueError("a fusion needs two or more embedders")
        total = math.sqrt(sum(w * w for _, w in parts))
        self.parts = [(emb, w / total) for emb, w in parts]
        self.dim = sum(emb.dim for emb, _ in parts)
        raw = [w for _, w in parts]
        equal = all(math.isclose(w, raw[0]) for w in raw)
        self.name = "fuse-" + "+".join(
            emb.name if equal else f"{emb.name}x{w:g}" for emb, w in parts
        )

    def __call__(
        self,
        waves: Sequence[np.ndarray],
        sample_rate: int = SAMPLE_RATE,
        progress: ProgressHook | None = None,
    ) -> np.ndarray:
        total, n = len(waves), len(self.parts)
        blocks = []
        for k, (emb, weight) in enumerate(self.parts):

            def hook(done: int, _total: int, k: int = k) -> None:
                if progress is not None:
                    progress((k * total + done) // n, total)

            vectors = emb(waves, sample_rate=sample_rate, progress=hook)  # type: ignore[call-arg]
            blocks.append(normalize_rows(vectors) * np.float32(weight))
        if progress is not None:
            progress(total, total)
        return np.concatenate(blocks, axis=1).astype(np.float32, copy=False)
