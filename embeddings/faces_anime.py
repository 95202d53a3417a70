"""Anime faces offline: the ``animeface`` detector plus a colour descriptor of the face.

Drawn characters are told apart first by design colours: hair, eyes, skin tone and what frames
the face. The descriptor is three colour histograms (hair band, eyes, whole face crop) on a
fixed 52-bin palette (12 hues x 2 saturations x 2 values + 4 greys), square-rooted so a dot
product is a Hellinger-style similarity, each block L2-normalised and weighted. It is cheap and
needs no weights; CLIP on the crop (:mod:`embeddings.clip`) is the stronger optional backend.

animeface's model is compiled into its wheel, but with Pillow >= 12 it silently finds nothing
(the image data it reads changed), so the backend refuses to start there.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Sequence

import numpy as np

from embeddings.errors import BackendUnavailable
from embeddings.face_types import Box, Face, check_rgb, l2_normalise

log = logging.getLogger(__name__)

EXTRA = "castlist[faces]"
N_HUES = 12
N_GREYS = 4
N_BINS = N_HUES * 4 + N_GREYS
BLOCK_WEIGHTS = {"hair": 1.0, "eyes": 0.8, "face": 0.6}


def _check_pillow() -> None:
    import PIL

    major = int(PIL.__version__.split(".")[0])
    if major >= 12:
        raise BackendUnavailable(
            f"animeface finds no faces with Pillow {PIL.__version__} (>= 12); "
            f"install {EXTRA} or run: pip install 'Pillow<12'"
        )


def palette_histogram(pixels: np.ndarray) -> np.ndarray:
    """Histogram of RGB uint8 pixels (N, 3) on the fixed palette, as a probability vector.

    Pixels with little saturation go to grey bins by value only: their hue is noise, and black,
    white and silver hair must not scatter across hues.
    """
    pixels = np.asarray(pixels, dtype=np.float32).reshape(-1, 3) / 255.0
    hist = np.zeros(N_BINS, dtype=np.float32)
    if len(pixels) == 0:
        return hist
    cmax = pixels.max(axis=1)
    cmin = pixels.min(axis=1)
    delta = cmax - cmin
    sat = np.where(cmax > 0, delta / np.maximum(cmax, 1e-6), 0.0)
    r, g, b = pixels.T
    safe = np.maximum(delta, 1e-6)
    hue = (
        np.select(
            [cmax == r, cmax == g],
            [((g - b) / safe) % 6.0, (b - r) / safe + 2.0],
            (r - g) / safe + 4.0,
        )
        / 6.0
    )  # in [0, 1)
    grey = (sat < 0.2) | (cmax < 0.15)
    grey_bin = N_HUES * 4 + np.minimum((cmax * N_GREYS).astype(int), N_GREYS - 1)
    hue_bin = np.minimum((hue * N_HUES).astype(int), N_HUES - 1)
    colour_bin = hue_bin * 4 + (sat >= 0.55).astype(int) * 2 + (cmax >= 0.6).astype(int)
    bins = np.where(grey, grey_bin, colour_bin)
    np.add.at(hist, bins, 1.0)
    return hist / hist.sum()


def _region(image: np.ndarray, x: float, y: float, w: float, h: float) -> np.ndarray:
    height, width = image.shape[:2]
    x0, y0 = max(0, int(round(x))), max(0, int(round(y)))
    x1, y1 = min(width, int(round(x + w))), min(height, int(round(y + h)))
    if x1 <= x0 or y1 <= y0:
        return np.zeros((0, 3), dtype=np.uint8)
    return image[y0:y1, x0:x1].reshape(-1, 3)


def describe(
    image: np.ndarray,
    box: Box,
    eye_boxes: Sequence[Box] = (),
    skin: tuple[int, int, int] | None = None,
) -> np.ndarray:
    """The colour descriptor of one drawn face (float32, L2-normalised, ``3 * N_BINS`` long).

    Hair: the band above the face box plus its top quarter (animeface's box starts around the
    eyebrows, so hair lies above and at the sides), minus pixels close to ``skin``. Eyes: the
    eye boxes when the detector gives them, else the box's eye band. Face: the whole box.
    """
    x, y, w, h = box
    hair = np.concatenate(
        [
            _region(image, x - 0.15 * w, y - 0.45 * h, 1.3 * w, 0.45 * h),
            _region(image, x, y, w, 0.25 * h),
        ]
    )
    if skin is not None and len(hair):
        distance = np.abs(hair.astype(np.int16) - np.asarray(skin, dtype=np.int16)).sum(axis=1)
        not_skin = hair[distance > 60]
        if len(not_skin) >= 0.2 * len(hair):
            hair = not_skin
    if eye_boxes:
        eyes = np.concatenate([_region(image, *b) for b in eye_boxes])
    else:
        eyes = _region(image, x + 0.1 * w, y + 0.3 * h, 0.8 * w, 0.25 * h)
    face = _region(image, x, y, w, h)
    blocks = []
    for key, pixels in (("hair", hair), ("eyes", eyes), ("face", face)):
        block = l2_normalise(np.sqrt(palette_histogram(pixels)))
        blocks.append(BLOCK_WEIGHTS[key] * block)
    return l2_normalise(np.concatenate(blocks))


class AnimeFaceColour:
    """Detect drawn faces with animeface and describe them by colour (156-d).

    ``max_side`` bounds the image animeface sees (its time grows with pixels: ~0.8 s for a
    1280-wide frame, ~1.3 s at 1920 on one core). animeface misses small faces: measured on the
    development pictures it found the true face in 2/5 at 640 px wide, 4/5 at 960 and 5/5 at
    1280 and native size, so give it frames at least 1280 wide.
    """

    dim = 3 * N_BINS
    name = "animeface2-colour52-v1"

    def __init__(self, *, min_score: float = 0.5, max_side: int = 1920) -> None:
        self.min_score = min_score
        self.max_side = max_side
        if importlib.util.find_spec("animeface") is None:
            raise BackendUnavailable(f"the anime face detector is missing; install {EXTRA}")
        _check_pillow()
        import animeface

        self._animeface = animeface

    def _raw_detect(self, image: np.ndarray):
        from PIL import Image

        check_rgb(image)
        height, width = image.shape[:2]
        scale = min(1.0, self.max_side / max(height, width))
        pil = Image.fromarray(image)
        if scale < 1.0:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            pil = pil.resize(size, Image.BILINEAR)
        found = [f for f in self._animeface.detect(pil) if f.likelihood >= self.min_score]
        return found, scale

    @staticmethod
    def _box(b, scale: float) -> Box:
        return (
            round(b.x / scale),
            round(b.y / scale),
            round(b.width / scale),
            round(b.height / scale),
        )

    def detect(self, images: Sequence[np.ndarray]) -> list[list[Box]]:
        """Boxes only, used to guess a show's style."""
        out = []
        for image in images:
            found, scale = self._raw_detect(image)
            out.append([self._box(f.face.pos, scale) for f in found])
        return out

    def __call__(self, images: Sequence[np.ndarray]) -> list[list[Face]]:
        out: list[list[Face]] = []
        for image in images:
            found, scale = self._raw_detect(image)
            faces = []
            for f in found:
                box = self._box(f.face.pos, scale)
                eyes = [self._box(f.left_eye.pos, scale), self._box(f.right_eye.pos, scale)]
                skin = (f.skin.color.r, f.skin.color.g, f.skin.color.b)
                centres = [(ex + ew / 2, ey + eh / 2) for ex, ey, ew, eh in eyes]
                centres.append((f.nose.pos.x / scale, f.nose.pos.y / scale))
                centres.append((f.chin.pos.x / scale, f.chin.pos.y / scale))
                faces.append(
                    Face(
                        box=box,
                        score=float(f.likelihood),
                        vector=describe(image, box, eyes, skin),
                        landmarks=np.asarray(centres, dtype=np.float32),
                    )
                )
            out.append(faces)
        return out

    detect_and_embed = __call__
