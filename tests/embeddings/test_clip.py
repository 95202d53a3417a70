"""open_clip backend: real loading code, exercised with a tiny random-weight model.

No CLIP weights exist offline, so the test writes a small model in open_clip's own formats (a
plain state-dict checkpoint for a named config, and a hub-style folder) and checks that the
embedder loads those weights rather than a fresh random init.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from embeddings.errors import BackendUnavailable

TINY = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 16, "head_width": 16},
    "text_cfg": {"context_length": 16, "vocab_size": 1000, "width": 32, "heads": 2, "layers": 1},
}


@pytest.fixture(scope="module")
def open_clip():
    return pytest.importorskip("open_clip", reason="open_clip (castlist[clip]) not importable")


@pytest.fixture(scope="module")
def tiny(open_clip, tmp_path_factory):
    """A tiny config registered by name, its random weights saved as a checkpoint, and a
    hub-style folder holding the same model."""
    import torch

    root = tmp_path_factory.mktemp("clip")
    (root / "configs").mkdir()
    (root / "configs" / "castlist-tiny.json").write_text(json.dumps(TINY))
    open_clip.add_model_config(root / "configs")
    torch.manual_seed(0)
    model = open_clip.create_model("castlist-tiny")
    ckpt = root / "castlist_tiny.bin"
    torch.save(model.state_dict(), ckpt)
    folder = root / "hub"
    folder.mkdir()
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": TINY}))
    torch.save(model.state_dict(), folder / "open_clip_pytorch_model.bin")
    return model, ckpt, folder


def _images(n: int = 3) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 255, (48 + 8 * i, 40, 3), dtype=np.uint8) for i in range(n)]


def _reference(model, embedder, images):
    import torch
    from PIL import Image

    batch = torch.stack([embedder._preprocess(Image.fromarray(im)) for im in images])
    with torch.inference_mode():
        feats = torch.nn.functional.normalize(model.encode_image(batch), dim=-1)
    return feats.numpy()


@pytest.mark.parametrize("source", ["checkpoint", "local-dir"])
def test_loads_saved_weights(tiny, source):
    from embeddings.clip import ClipEmbedder

    model, ckpt, folder = tiny
    if source == "checkpoint":
        embedder = ClipEmbedder("castlist-tiny", pretrained=ckpt)
        assert ckpt.name in embedder.name
    else:
        embedder = ClipEmbedder(f"local-dir:{folder}")
    images = _images()
    vectors = embedder(images)
    assert embedder.dim == 32
    assert vectors.shape == (3, 32) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # the saved weights were loaded: same vectors as the model that wrote them
    np.testing.assert_allclose(vectors, _reference(model, embedder, images), atol=1e-5)
    crops = embedder.crops(images[0], [(5, 5, 20, 20), (0, 0, 10, 10)])
    assert crops.shape == (2, 32)


def test_missing_weights_name_the_path(open_clip, tmp_path):
    from embeddings.clip import ClipEmbedder

    with pytest.raises(BackendUnavailable, match="not found"):
        ClipEmbedder("ViT-B-32", pretrained=tmp_path / "nope.bin")
    with pytest.raises(BackendUnavailable, match="open_clip_config.json"):
        ClipEmbedder(f"local-dir:{tmp_path}")


def test_unimportable_open_clip_names_the_extra(monkeypatch):
    import sys

    from embeddings import clip

    monkeypatch.setitem(sys.modules, "open_clip", None)  # import raises ImportError
    with pytest.raises(BackendUnavailable, match=r"castlist\[clip\]"):
        clip.ClipEmbedder("ViT-B-32")
