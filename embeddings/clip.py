"""Frame and face-crop vectors with open_clip (optional extra ``castlist[clip]``).

No CLIP weights ship in a wheel, so this backend only runs with weights the user has: a
checkpoint file (``ClipEmbedder("ViT-B-32", pretrained="/models/vit_b_32.bin")``), a folder as
the hub stores it (``ClipEmbedder("local-dir:/models/clip")`` holding ``open_clip_config.json``
and the weights), or a pretrained tag when the machine is online. open_clip needs torchvision,
which must be the build that pairs with the installed torch (torch 2.14.1 + torchvision 0.29.1).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from embeddings.errors import BackendUnavailable

log = logging.getLogger(__name__)

EXTRA = "castlist[clip]"
LOCAL_DIR = "local-dir:"


def _import_open_clip():
    try:
        import open_clip
    except ImportError as exc:  # torchvision missing or built for another torch lands here too
        raise BackendUnavailable(
            f"open_clip cannot be imported ({exc}); install {EXTRA} together with the "
            "torchvision build that pairs with your torch (e.g. torch==2.14.1 torchvision==0.29.1)"
        ) from exc
    return open_clip


class ClipEmbedder:
    """Image -> L2-normalised CLIP image vector, for whole frames or face crops.

    ``name`` records the architecture and the weights (file name or tag), so vectors from other
    weights are never mixed with these. ``batch_size`` bounds memory on long lists of frames.
    """

    def __init__(
        self,
        model_name: str = "ViT-B-32",
        pretrained: str | Path | None = None,
        *,
        device: str = "cpu",
        batch_size: int = 32,
    ) -> None:
        self.model_name = model_name
        self.pretrained = pretrained
        self.device = device
        self.batch_size = batch_size

        local_dir = model_name[len(LOCAL_DIR) :] if model_name.startswith(LOCAL_DIR) else None
        if local_dir is not None and not (Path(local_dir) / "open_clip_config.json").is_file():
            raise BackendUnavailable(
                f"no open_clip_config.json in {local_dir}; download the model folder there "
                "(config and weights, as on the hub) or pass a checkpoint file as pretrained="
            )
        weights = None
        if pretrained is not None and Path(pretrained).suffix:
            weights = Path(pretrained)
            if not weights.is_file():
                raise BackendUnavailable(
                    f"CLIP weights not found: {weights}; pass pretrained= an existing open_clip "
                    "checkpoint file (or a pretrained tag on a machine that reaches the hub)"
                )

        open_clip = _import_open_clip()
        import torch

        self._torch = torch
        try:
            model, _, preprocess = open_clip.create_model_and_transforms(
                model_name,
                pretrained=None
                if local_dir is not None
                else (str(pretrained) if pretrained else None),
                device=device,
            )
        except (RuntimeError, OSError, ValueError, KeyError) as exc:
            raise BackendUnavailable(
                f"cannot load open_clip model {model_name!r} with weights {pretrained!r}: {exc}"
            ) from exc
        if pretrained is None and local_dir is None:
            log.warning("open_clip %s has random weights: pass pretrained=", model_name)
        model.eval()
        self._model = model
        self._preprocess = preprocess
        self.dim = int(_output_dim(model))
        source = (
            Path(local_dir).name
            if local_dir is not None
            else (Path(pretrained).name if pretrained else "random")
        )
        arch = "local" if local_dir is not None else model_name
        self.name = f"open_clip-{open_clip.__version__}-{arch}-{source}"

    def __call__(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Embed RGB uint8 images (H, W, 3) into an (n, dim) float32 array of unit vectors."""
        from PIL import Image

        torch = self._torch
        out = np.zeros((len(images), self.dim), dtype=np.float32)
        for start in range(0, len(images), self.batch_size):
            chunk = images[start : start + self.batch_size]
            batch = torch.stack([self._preprocess(Image.fromarray(im)) for im in chunk])
            with torch.inference_mode():
                feats = self._model.encode_image(batch.to(self.device)).float()
            feats = torch.nn.functional.normalize(feats, dim=-1)
            out[start : start + len(chunk)] = feats.cpu().numpy()
        return out

    def crops(self, image: np.ndarray, boxes: Sequence[tuple[int, int, int, int]]) -> np.ndarray:
        """Embed face crops of one image (boxes x, y, w, h), widened to take in hair and outline."""
        height, width = image.shape[:2]
        pieces = []
        for x, y, w, h in boxes:
            pad = 0.35
            x0, y0 = max(0, int(x - pad * w)), max(0, int(y - pad * h))
            x1, y1 = min(width, int(x + (1 + pad) * w)), min(height, int(y + (1 + pad) * h))
            pieces.append(np.ascontiguousarray(image[y0:y1, x0:x1]))
        return self(pieces) if pieces else np.zeros((0, self.dim), dtype=np.float32)


def _output_dim(model) -> int:
    visual = getattr(model, "visual", None)
    dim = getattr(visual, "output_dim", None)
    if dim:
        return dim
    proj = getattr(model, "text_projection", None)
    if proj is not None:
        return proj.shape[-1]
    raise BackendUnavailable("cannot tell the vector size of this open_clip model")
