"""A tiny random-weight UVR MDX-Net vocal model in audio-separator's on-disk format.

    python benchmarks/tiny_separator.py /tmp/sep-models
    castlist run WS --separate /tmp/sep-models/UVR-MDX-NET-Voc_FT.onnx

No real separation weights can be downloaded offline, so this writes what audio-separator loads
(an ONNX file with the input shape of an MDX model, plus the UVR index files it reads before
loading one) to run ``castlist run --separate`` end to end. Its "vocals" are the mix slightly
changed: it proves the stage works, not that music is removed. The tests use it too.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np

MODEL = "UVR-MDX-NET-Voc_FT.onnx"
DIM_F, DIM_T_SET, N_FFT = 64, 8, 2048  # input [batch, 4, 64, 256]


def make_mdx_model_dir(folder: Path, seed: int = 0) -> Path:
    """A UVR MDX-Net model (1x1 convolution, random weights) and the index files
    audio-separator reads before it loads one; returns the model file."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    w = (np.eye(4) + 0.05 * rng.normal(size=(4, 4))).astype(np.float32).reshape(4, 4, 1, 1)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["input", "w"], ["output"])],
        "tiny_mdx",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 4, DIM_F, 2**DIM_T_SET])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 4, DIM_F, 2**DIM_T_SET])],
        [numpy_helper.from_array(w, "w")],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = folder / MODEL
    onnx.save(model, str(path))
    md5 = hashlib.md5(path.read_bytes()).hexdigest()
    lists = ("vr_download_list", "mdx_download_vip_list", "mdx23c_download_list")
    lists += ("mdx23c_download_vip_list", "roformer_download_list", "demucs_download_list")
    checks = {k: {} for k in lists} | {"mdx_download_list": {"UVR-MDX-NET Voc FT": MODEL}}
    (folder / "download_checks.json").write_text(json.dumps(checks))
    (folder / "vr_model_data.json").write_text("{}")
    params = {"compensate": 1.0, "mdx_dim_f_set": DIM_F, "mdx_dim_t_set": DIM_T_SET}
    params |= {"mdx_n_fft_scale_set": N_FFT, "primary_stem": "Vocals"}
    (folder / "mdx_model_data.json").write_text(json.dumps({md5: params}))
    return path


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("folder", help="where to write the model and its index files")
    args = ap.parse_args(argv)
    print(make_mdx_model_dir(Path(args.folder)))


if __name__ == "__main__":
    main()
