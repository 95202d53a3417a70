"""The one protocol every embedding backend follows, so pipelines can swap models freely."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

#: The one sample rate of castlist's audio: the audio stage extracts at it, every voice model
#: reads it (the published speaker models were trained on 16 kHz speech).
SAMPLE_RATE = 16000

#: Called by backends as ``progress(done, total)`` after each batch; never print from a model.
ProgressHook = Callable[[int, int], None]


@runtime_checkable
class Embedder(Protocol):
    """Turns a sequence of items (waveforms, images, ...) into L2-normalised float32 rows.

    ``name`` carries the model and its version (e.g. ``"campplus-zh_en-v1"``): stored vectors are
    keyed by it, so vectors from a changed model never mix with old ones.
    """

    name: str
    dim: int

    def __call__(
        self, items: Sequence[Any], /, *, progress: ProgressHook | None = None
    ) -> np.ndarray:
        """Return an ``(len(items), dim)`` float32 array with unit-norm rows, calling
        ``progress(done, total)`` after each batch when given (the voice stage shows it)."""
        ...
