"""--device: auto takes CUDA where this process sees a GPU, cuda without one is a clear error.

This machine has no GPU: the real probes (torch, OpenCV) are checked for what they say here,
the rule itself with the probe answering "a GPU is there"."""

from __future__ import annotations

import pytest

from pipelines.errors import UsageError
from pipelines.stages.devices import (
    check_device,
    choose_device,
    face_device,
    opencv_cuda_devices,
    torch_cuda_available,
)

torch = pytest.importorskip("torch")
needs_no_gpu = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")


@needs_no_gpu
def test_auto_is_the_cpu_here_and_cuda_is_refused_naming_the_fix():
    assert torch_cuda_available() is False
    assert choose_device("auto") == "cpu"
    assert choose_device("cpu") == "cpu"
    with pytest.raises(UsageError, match=r"--device cuda: torch sees no CUDA GPU.*--device auto"):
        choose_device("cuda")
    with pytest.raises(UsageError, match="cuda:1"):
        choose_device("cuda:1")


def test_auto_takes_the_gpu_where_there_is_one():
    def yes() -> bool:
        return True

    def no() -> bool:
        return False

    assert choose_device("auto", cuda_available=yes) == "cuda"
    assert choose_device("AUTO", cuda_available=no) == "cpu"
    assert choose_device("cuda:1", cuda_available=yes) == "cuda:1"
    assert choose_device("cpu", cuda_available=yes) == "cpu"  # asked for the CPU: the CPU


@pytest.mark.parametrize("bad", ["gpu", "cuda:x", "tpu", "cuda:"])
def test_unknown_devices_are_usage_errors(bad):
    with pytest.raises(UsageError, match="auto, cpu, cuda or cuda:N"):
        check_device(bad)


def test_faces_follow_the_voices_only_where_opencv_has_cuda():
    assert face_device("cuda", opencv_gpus=lambda: 1) == "cuda"
    assert face_device("cuda:1", opencv_gpus=lambda: 2) == "cuda:1"
    assert face_device("cuda", opencv_gpus=lambda: 0) == "cpu"  # PyPI's OpenCV
    assert face_device("cuda", opencv_gpus=lambda: 1, style="anime") == "cpu"  # a CPU library
    assert face_device("cpu", opencv_gpus=lambda: 1) == "cpu"


@needs_no_gpu
def test_opencv_from_pypi_has_no_cuda_here():
    pytest.importorskip("cv2")
    assert opencv_cuda_devices() == 0
    assert face_device("cuda") == "cpu"


def test_voice_model_runs_on_the_chosen_device():
    from pipelines.stages.run import voice_embedder

    embedder = voice_embedder("campplus", None, device=choose_device("auto"))
    assert embedder.device == choose_device("auto")
    assert next(embedder.model.parameters()).device.type == choose_device("auto").split(":")[0]


def test_cli_run_refuses_cuda_without_a_gpu_before_touching_the_workspace(tmp_path, capsys):
    from pipelines.cli import main
    from pipelines.store.workspace import Workspace

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    Workspace.init(tmp_path / "ws").close()
    code = main(["run", str(tmp_path / "ws"), "--device", "cuda"])
    assert code != 0
    assert "--device cuda: torch sees no CUDA GPU" in capsys.readouterr().err
