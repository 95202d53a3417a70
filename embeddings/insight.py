"""insightface's buffalo_l (RetinaFace + ArcFace 512-d): the stronger live-action face backend.

Optional: insightface pulls in opencv-python, which clashes with the opencv-python-headless the
default backend uses, so it lives in its own extra (``castlist[insightface]``) and is imported
only here. The weights are read from a local folder laid out as insightface expects
(``<root>/models/buffalo_l/*.onnx``); nothing is downloaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from embeddings.errors import BackendUnavailable
from embeddings.face_types import Face, check_rgb, l2_normalise

EXTRA = "castlist[insightface]"


class InsightFace:
    """Detect and embed faces with an insightface model pack (default ``buffalo_l``).

    ``root`` is the folder holding ``models/<pack>/``; ``det_size`` is the detector's input.
    """

    dim = 512

    def __init__(
        self,
        root: str | Path,
        pack: str = "buffalo_l",
        *,
        det_size: tuple[int, int] = (640, 640),
        min_score: float = 0.5,
    ) -> None:
        self.root = root
        self.pack = pack
        self.det_size = det_size
        self.min_score = min_score
        folder = Path(root) / "models" / pack
        if not folder.is_dir() or not any(folder.glob("*.onnx")):
            raise BackendUnavailable(
                f"insightface model pack {pack!r} not found: expected ONNX files in {folder} "
                f"(unzip {pack}.zip there; castlist reads the folder from CASTLIST_INSIGHTFACE_DIR)"
            )
        try:
            from insightface.app import FaceAnalysis
        except ImportError as exc:
            raise BackendUnavailable(
                f"insightface cannot be imported ({exc}); install {EXTRA} in an environment "
                "without opencv-python-headless"
            ) from exc
        self.name = f"insightface-{pack}"
        self._app = FaceAnalysis(
            name=pack,
            root=str(root),
            allowed_modules=["detection", "recognition"],
            providers=["CPUExecutionProvider"],
        )
        self._app.prepare(ctx_id=-1, det_size=det_size)

    def __call__(self, images: Sequence[np.ndarray]) -> list[list[Face]]:
        out: list[list[Face]] = []
        for image in images:
            check_rgb(image)
            bgr = np.ascontiguousarray(image[:, :, ::-1])
            faces = []
            for f in self._app.get(bgr):
                if float(f.det_score) < self.min_score:
                    continue
                x1, y1, x2, y2 = (float(v) for v in f.bbox)
                box = (round(x1), round(y1), round(x2 - x1), round(y2 - y1))
                landmarks = None if f.kps is None else np.asarray(f.kps, dtype=np.float32)
                faces.append(Face(box, float(f.det_score), l2_normalise(f.embedding), landmarks))
            out.append(faces)
        return out

    detect_and_embed = __call__
