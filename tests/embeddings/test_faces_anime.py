"""Anime faces: animeface really detects drawn faces, and the colour descriptor separates
characters. The detection checks need ../shared/data/anime_character_images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmarks.bench_faces import CENTRES, inside, jittered_descriptors, separation
from embeddings.errors import BackendUnavailable

pytest.importorskip("animeface", reason="animeface not installed")

REPO = Path(__file__).resolve().parents[2]
ANIME = REPO.parent / "shared" / "data" / "anime_character_images"
needs_shared = pytest.mark.skipif(not ANIME.is_dir(), reason="../shared/data not present")


@pytest.fixture(scope="module")
def anime_backend():
    from embeddings.faces_anime import AnimeFaceColour

    return AnimeFaceColour()


@pytest.fixture(scope="module")
def pictures():
    from PIL import Image

    return {p.stem: np.asarray(Image.open(p).convert("RGB")) for p in sorted(ANIME.glob("*.jpg"))}


@pytest.fixture(scope="module")
def found(anime_backend, pictures):
    return dict(zip(pictures, anime_backend(list(pictures.values())), strict=True))


def test_refuses_pillow_12(monkeypatch):
    import PIL

    from embeddings.faces_anime import AnimeFaceColour

    monkeypatch.setattr(PIL, "__version__", "12.0.0")
    with pytest.raises(BackendUnavailable, match="Pillow<12"):
        AnimeFaceColour()


def test_descriptor_is_unit_and_sized(anime_backend):
    from embeddings.faces_anime import describe, palette_histogram

    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (120, 100, 3), dtype=np.uint8)
    v = describe(image, (30, 40, 40, 40))
    assert v.shape == (anime_backend.dim,) and v.dtype == np.float32
    assert abs(np.linalg.norm(v) - 1) < 1e-5
    # greys go to grey bins whatever their (meaningless) hue; saturated red to a hue bin
    grey = palette_histogram(np.array([[120, 121, 119]] * 5))
    red = palette_histogram(np.array([[220, 20, 20]] * 5))
    assert grey.argmax() >= 48 and red.argmax() < 48 and grey.argmax() != red.argmax()


def test_no_drawn_face_in_blank_image(anime_backend):
    assert anime_backend([np.full((300, 400, 3), 200, np.uint8)]) == [[]]


@pytest.mark.shared
@needs_shared
def test_detects_real_anime_faces(found, pictures):
    hits = 0
    for name, centres in CENTRES.items():
        boxes = [f.box for f in found[name]]
        hits += any(inside(c, b) for c in centres for b in boxes)
        for face in found[name]:
            assert face.vector.shape == (156,)
            assert face.landmarks.shape == (4, 2)  # eye centres, nose, chin
    assert hits >= 4, {k: [f.box for f in v] for k, v in found.items()}


@pytest.mark.shared
@needs_shared
def test_descriptor_separates_characters(found, pictures):
    """Jitter each true face's box, size and brightness as consecutive frames would, and check
    that every descriptor's nearest neighbour is the same character."""
    v, lab = jittered_descriptors(pictures, found, per_face=5)
    sep = separation(v, lab)
    assert len(set(lab)) >= 5
    assert sep["gap"] > 0.2
    assert sep["nn_accuracy"] >= 0.9


@pytest.mark.shared
@needs_shared
def test_style_of_anime_pictures_is_anime(found, pictures):
    from embeddings.faces import guess_style
    from embeddings.faces_live import YuNetSFace

    class Known:  # reuse the detections above: animeface takes seconds per picture
        def detect(self, images):
            return [[f.box for f in found[name]] for name in pictures]

    guess = guess_style(list(pictures.values()), YuNetSFace(), Known())
    assert guess.style == "anime"
