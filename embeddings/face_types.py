"""What every face backend shares: the face record, the backend protocol and the input checks.

A module of its own so the backends (faces_live, faces_anime, insight) and the per-line logic in
:mod:`embeddings.faces` both import it, and neither imports the other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from grouping.vectors import normalize_rows

Box = tuple[int, int, int, int]


@dataclass(frozen=True, eq=False)
class Face:
    """One detected face in one image.

    ``box`` is (x, y, w, h) in pixels of the image given to the backend; ``vector`` is float32
    and L2-normalised so a dot product is a cosine. ``landmarks`` is a (k, 2) float32 array in
    the same pixels when the detector gives them (YuNet: eyes, nose, mouth corners). ``eq`` is
    off because arrays have no single truth value.
    """

    box: Box
    score: float
    vector: np.ndarray
    landmarks: np.ndarray | None = None

    @property
    def area(self) -> int:
        return int(self.box[2]) * int(self.box[3])


@runtime_checkable
class FaceBackend(Protocol):
    """What every face backend offers.

    ``name`` carries the model version, because stored vectors are keyed by it and a changed
    model must never mix with old vectors; ``dim`` is the length of ``Face.vector``.
    """

    name: str
    dim: int

    def __call__(self, images: Sequence[np.ndarray]) -> list[list[Face]]:
        """Detect and embed the faces of RGB uint8 images (H, W, 3); one list per image."""
        ...


def detect_and_embed(backend: FaceBackend, images: Sequence[np.ndarray]) -> list[list[Face]]:
    """Run ``backend`` on ``images`` after checking they are what every backend expects."""
    for i, image in enumerate(images):
        check_rgb(image, what=f"image {i}")
    return backend(images)


def check_rgb(image: np.ndarray, what: str = "image") -> None:
    """Fail early and clearly on a grey, RGBA or float image instead of deep inside OpenCV."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise ValueError(f"{what}: expected a uint8 numpy array, got {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"{what}: expected shape (H, W, 3) RGB, got {image.shape}")


def l2_normalise(vector: np.ndarray) -> np.ndarray:
    """A flat float32 unit vector (detectors hand back (1, d) rows; zero stays zero)."""
    return normalize_rows(np.ravel(vector))
