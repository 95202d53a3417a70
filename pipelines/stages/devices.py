"""Which device each model runs on: ``--device auto|cpu|cuda``.

One rule for every place a model runs (the driver, a Ray worker): ``auto`` takes CUDA where
this process can see a GPU and the CPU otherwise, so a mixed cluster needs no per-node
setting; ``cuda`` asked where there is none is an error naming the host and the fix, not a
silent fall back to a run ten times slower. The probes are arguments so the rule is tested on
machines without a GPU; by default they ask torch and OpenCV themselves. (FAISS's GPU choice
lives with the kNN search, :func:`grouping.knn.use_gpu`.)
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable

from pipelines.errors import UsageError

log = logging.getLogger(__name__)

DEVICES = ("auto", "cpu", "cuda")
"""What ``--device`` accepts (``cuda:N`` too, for one GPU of several)."""


def torch_cuda_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def opencv_cuda_devices() -> int:
    """GPUs OpenCV's DNN module can use: 0 for the PyPI wheels, which are built without CUDA."""
    try:
        import cv2

        return int(cv2.cuda.getCudaEnabledDeviceCount())
    except (ImportError, AttributeError, Exception):  # cv2.error where CUDA support is absent
        return 0


def check_device(asked: str) -> str:
    """``asked`` normalised, or a UsageError naming what ``--device`` accepts."""
    value = (asked or "auto").strip().lower()
    if value in DEVICES or (value.startswith("cuda:") and value[5:].isdigit()):
        return value
    raise UsageError(f"--device {asked!r}: choose auto, cpu, cuda or cuda:N")


def choose_device(asked: str = "auto", cuda_available: Callable[[], bool] | None = None) -> str:
    """The torch device for the voice models: ``cpu``, ``cuda`` or ``cuda:N``."""
    value = check_device(asked)
    if value == "cpu":
        return "cpu"
    has_cuda = (cuda_available or torch_cuda_available)()
    if value == "auto":
        return "cuda" if has_cuda else "cpu"
    if not has_cuda:
        raise UsageError(
            f"--device {value}: torch sees no CUDA GPU on {socket.gethostname()} "
            f"({_torch_build()}); use --device auto (CUDA where there is one) or cpu, or install "
            "a CUDA build of torch there"
        )
    return value


def face_device(
    voice_device: str, opencv_gpus: Callable[[], int] | None = None, style: str = "live"
) -> str:
    """Where the live-action face models (OpenCV DNN: YuNet + SFace) run.

    They follow the voice device where OpenCV has CUDA; PyPI's OpenCV wheels have none, so on
    most machines faces stay on the CPU next to voices on the GPU (logged, not an error: the
    face stage is the smaller cost). animeface is a CPU library whatever the device.
    """
    if not voice_device.startswith("cuda") or style != "live":
        return "cpu"
    if (opencv_gpus or opencv_cuda_devices)() > 0:
        return voice_device
    log.info("faces on the CPU: this OpenCV is built without CUDA (voices run on %s)", voice_device)
    return "cpu"


def _torch_build() -> str:
    try:
        import torch

        return f"torch {torch.__version__}, CUDA {torch.version.cuda or 'not built in'}"
    except ImportError:
        return "torch not importable"
