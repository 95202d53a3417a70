"""Live-action faces (YuNet + SFace), the per-line summary and the style guess."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from embeddings.errors import BackendUnavailable
from embeddings.faces import Face, FaceBackend, detect_and_embed, guess_style, summarise_line

pytest.importorskip("cv2", reason="castlist[faces] not installed")

REPO = Path(__file__).resolve().parents[2]
PHOTOS = REPO / "tests" / "data" / "faces"
SHARED = REPO.parent / "shared" / "data" / "faces_identities"


def _load(path: Path, max_side: int | None = None) -> np.ndarray:
    """Read a photo as RGB; ``max_side`` lets JPEG decode at a reduced scale (much faster)."""
    from PIL import Image

    image = Image.open(path)
    if max_side is not None:
        image.draft("RGB", (max_side, max_side))
    return np.asarray(image.convert("RGB"))


@pytest.fixture(scope="module")
def live():
    from embeddings.faces_live import YuNetSFace

    return YuNetSFace()


@pytest.fixture(scope="module")
def photos():
    return {name: _load(PHOTOS / f"{name}.jpg") for name in ("img44", "img46", "img5")}


@pytest.fixture(scope="module")
def photo_faces(live, photos):
    return dict(zip(photos, live(list(photos.values())), strict=True))


def test_protocol_and_name(live):
    assert isinstance(live, FaceBackend)
    assert live.dim == 128
    assert "yunet" in live.name and "sface" in live.name


def test_one_face_per_photo_with_unit_vectors(photos, photo_faces):
    for name, faces in photo_faces.items():
        assert len(faces) == 1, name
        face = faces[0]
        x, y, w, h = face.box
        height, width = photos[name].shape[:2]
        assert x >= 0 and y >= 0 and x + w <= width + 2 and y + h <= height + 2
        assert w > 0.2 * width  # portrait photos: the face is large
        assert face.vector.dtype == np.float32 and face.vector.shape == (128,)
        assert abs(np.linalg.norm(face.vector) - 1) < 1e-4
        # eyes, nose and mouth corners fall inside the box
        lm = face.landmarks
        assert lm.shape == (5, 2)
        assert np.all((lm[:, 0] >= x) & (lm[:, 0] <= x + w) & (lm[:, 1] >= y) & (lm[:, 1] <= y + h))


def test_same_person_closer_than_different(photo_faces):
    v = {k: f[0].vector for k, f in photo_faces.items()}
    same = float(v["img44"] @ v["img46"])
    different = max(float(v["img44"] @ v["img5"]), float(v["img46"] @ v["img5"]))
    assert same > 0.5
    assert same - different > 0.2


def test_boxes_are_in_caller_pixels_whatever_the_detector_size(photos, photo_faces):
    from embeddings.faces_live import YuNetSFace

    small = YuNetSFace(max_side=240)(  # the detector sees a quarter-size image
        [photos["img44"]]
    )[0]
    assert len(small) == 1
    big = np.array(photo_faces["img44"][0].box, dtype=float)
    assert np.allclose(np.array(small[0].box, dtype=float), big, atol=0.12 * big[2])


def test_blank_image_has_no_face_and_bad_input_is_refused(live):
    assert live([np.full((240, 320, 3), 128, np.uint8)]) == [[]]
    with pytest.raises(ValueError, match="RGB"):
        detect_and_embed(live, [np.zeros((10, 10), np.uint8)])
    with pytest.raises(ValueError, match="uint8"):
        detect_and_embed(live, [np.zeros((10, 10, 3), np.float32)])


def test_missing_model_files_name_the_fix(tmp_path):
    from embeddings.faces_live import YuNetSFace

    with pytest.raises(BackendUnavailable, match=r"castlist\[faces\]") as info:
        YuNetSFace(model_dir=tmp_path)
    assert str(tmp_path) in str(info.value)


# ------------------------------------------------------------------------------ line summary


def _face(vector, size=100, score=0.9) -> Face:
    v = np.asarray(vector, dtype=np.float32)
    return Face((10, 10, size, size), score, v / np.linalg.norm(v))


def test_summary_of_one_consistent_face():
    rng = np.random.default_rng(0)
    base = rng.normal(size=16)
    frames = [[_face(base + 0.1 * rng.normal(size=16))] for _ in range(3)]
    summary = summarise_line(frames, frame_heights=400)
    assert summary.on_screen and summary.n_faces == 1
    assert summary.main_size == pytest.approx(0.25)
    assert summary.consistency > 0.9
    assert summary.vector @ (base / np.linalg.norm(base)) > 0.95


def test_summary_rejects_changing_faces_two_shots_and_tiny_faces():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=16), rng.normal(size=16)
    changing = summarise_line([[_face(a)], [_face(b)], [_face(a)]], 400)
    assert not changing.on_screen and changing.vector is None
    two_shot = summarise_line([[_face(a), _face(b, size=95)]] * 3, 400)
    assert not two_shot.on_screen and two_shot.n_faces == 2
    tiny = summarise_line([[_face(a, size=10)]] * 3, 400)
    assert not tiny.on_screen
    empty = summarise_line([[], [], []], 400)
    assert empty.n_faces == 0 and not empty.on_screen and empty.vector is None


def test_summary_on_real_photos(photo_faces, photos):
    f = photo_faces
    same = summarise_line(
        [f["img44"], f["img46"]], [photos["img44"].shape[0], photos["img46"].shape[0]]
    )
    assert same.on_screen and same.vector is not None
    other = summarise_line(
        [f["img44"], f["img5"]], [photos["img44"].shape[0], photos["img5"].shape[0]]
    )
    assert not other.on_screen


def test_style_of_real_photos_is_live(live, photos):
    from embeddings.faces_anime import AnimeFaceColour

    guess = guess_style(list(photos.values()), live, AnimeFaceColour(max_side=640))
    assert guess.style == "live" and guess.live_hits == 3 and guess.anime_hits == 0


# ------------------------------------------------------------------------------ shared data


@pytest.mark.shared
@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data not present")
def test_identities_on_shared_photos(live):
    rows = list(csv.DictReader((SHARED / "identity_clusters_from_pair_labels.csv").open()))
    folder = SHARED / "tests" / "unit" / "dataset"
    vectors, labels = [], []
    for row in rows:
        faces = live([_load(folder / row["file"], max_side=1000)])[0]
        if faces:
            vectors.append(max(faces, key=lambda f: f.area).vector)
            labels.append(row["identity_cluster"])
    assert len(vectors) / len(rows) >= 0.95  # detection rate
    v, lab = np.stack(vectors), np.array(labels)
    sims = v @ v.T
    same = lab[:, None] == lab[None, :]
    off = ~np.eye(len(lab), dtype=bool)
    assert sims[same & off].mean() - sims[~same].mean() > 0.4
    np.fill_diagonal(sims, -np.inf)
    assert (lab[sims.argmax(axis=1)] == lab).mean() >= 0.9  # nearest-neighbour identity


# ------------------------------------------------------------------------------ insightface


def test_insightface_pack_missing_names_the_folder(tmp_path):
    from embeddings.insight import InsightFace

    with pytest.raises(BackendUnavailable, match="buffalo_l") as info:
        InsightFace(tmp_path)
    assert str(tmp_path / "models" / "buffalo_l") in str(info.value)


def test_insightface_library_missing_names_the_extra(tmp_path, monkeypatch):
    import sys

    from embeddings.insight import InsightFace

    pack = tmp_path / "models" / "buffalo_l"
    pack.mkdir(parents=True)
    (pack / "det_10g.onnx").write_bytes(b"")
    monkeypatch.setitem(sys.modules, "insightface", None)
    monkeypatch.setitem(sys.modules, "insightface.app", None)
    with pytest.raises(BackendUnavailable, match=r"castlist\[insightface\]"):
        InsightFace(tmp_path)


def test_backend_registry_names_every_backend():
    from embeddings.faces import FACE_BACKENDS, face_backend

    with pytest.raises(ValueError, match="anime, insightface, live"):
        face_backend("nope")
    assert set(FACE_BACKENDS) == {"live", "anime", "insightface"}


@pytest.mark.parametrize("module", ["embeddings.faces_live", "embeddings.faces_anime"])
def test_backends_import_without_the_summary_module(module):
    """No import cycle: a backend needs only face_types, never embeddings.faces."""
    import subprocess
    import sys

    code = f"import sys, {module}; assert 'embeddings.faces' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
