"""ECAPA-TDNN in plain torch, with speechbrain's module names so its checkpoints load strictly.

The network follows speechbrain's ``speechbrain/lobes/models/ECAPA_TDNN.py`` (Apache-2.0,
(c) the SpeechBrain authors; Desplanques et al. 2020, https://arxiv.org/abs/2005.07143),
rewritten here because importing speechbrain pulls in torchaudio, which does not pair with every
torch (none pairs with the CPU torch 2.13 used here). Two details matter for equal outputs:
speechbrain's ``Conv1d`` pads "same" with *reflection*, and its ``TDNNBlock`` applies the
activation before the norm (conv -> ReLU -> norm).

``norm="batch"`` is speechbrain's own model (spkrec-ecapa-voxceleb); ``norm="group"`` is the
``anime_speaker_embedding`` model, whose every BatchNorm1d was swapped for ``GroupNorm(32, C)``
in place, so the state-dict keys keep speechbrain's ``....norm.norm.weight`` layout (without the
running statistics). :class:`AnimeSpeakerNet` adds that package's ``backbone.`` prefix.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

GROUPS = 32  # anime_speaker_embedding's swap_bn_to_gn default


class Conv1d(nn.Module):
    """speechbrain's Conv1d with ``skip_transpose=True``: reflect-padded "same" convolution."""

    def __init__(self, c_in: int, c_out: int, kernel: int, dilation: int = 1) -> None:
        super().__init__()
        self.pad = dilation * (kernel - 1) // 2
        self.conv = nn.Conv1d(c_in, c_out, kernel, dilation=dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pad:
            x = F.pad(x, (self.pad, self.pad), mode="reflect")
        return self.conv(x)


class Norm1d(nn.Module):
    """speechbrain's BatchNorm1d wrapper (child ``norm``), or the anime model's GroupNorm swap."""

    def __init__(self, channels: int, kind: str) -> None:
        super().__init__()
        if kind == "batch":
            self.norm: nn.Module = nn.BatchNorm1d(channels)
        elif kind == "group":
            self.norm = nn.GroupNorm(GROUPS, channels)
        else:
            raise ValueError(f"norm must be 'batch' or 'group', not {kind!r}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x)


class TDNNBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, kernel: int, dilation: int, norm: str) -> None:
        super().__init__()
        self.conv = Conv1d(c_in, c_out, kernel, dilation)
        self.activation = nn.ReLU()
        self.norm = Norm1d(c_out, norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.activation(self.conv(x)))


class Res2NetBlock(nn.Module):
    def __init__(self, channels: int, scale: int, kernel: int, dilation: int, norm: str) -> None:
        super().__init__()
        width = channels // scale
        self.blocks = nn.ModuleList(
            TDNNBlock(width, width, kernel, dilation, norm) for _ in range(scale - 1)
        )
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, y = [], None
        for i, x_i in enumerate(torch.chunk(x, self.scale, dim=1)):
            if i == 0:
                y = x_i
            elif i == 1:
                y = self.blocks[0](x_i)
            else:
                y = self.blocks[i - 1](x_i + y)
            out.append(y)
        return torch.cat(out, dim=1)


class SEBlock(nn.Module):
    """Squeeze-and-excitation over the whole (unpadded) utterance."""

    def __init__(self, channels: int, se_channels: int) -> None:
        super().__init__()
        self.conv1 = Conv1d(channels, se_channels, 1)
        self.relu = nn.ReLU()
        self.conv2 = Conv1d(se_channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.relu(self.conv1(x.mean(dim=2, keepdim=True)))
        return torch.sigmoid(self.conv2(s)) * x


class SERes2NetBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, scale: int, se_channels: int, kernel: int,
                 dilation: int, norm: str) -> None:  # fmt: skip
        super().__init__()
        self.tdnn1 = TDNNBlock(c_in, c_out, 1, 1, norm)
        self.res2net_block = Res2NetBlock(c_out, scale, kernel, dilation, norm)
        self.tdnn2 = TDNNBlock(c_out, c_out, 1, 1, norm)
        self.se_block = SEBlock(c_out, se_channels)
        self.shortcut = Conv1d(c_in, c_out, 1) if c_in != c_out else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = self.shortcut(x) if self.shortcut is not None else x
        return self.se_block(self.tdnn2(self.res2net_block(self.tdnn1(x)))) + residual


class AttentiveStatisticsPooling(nn.Module):
    """Attention-weighted mean and std per channel, with global context (mean/std appended)."""

    eps = 1e-12

    def __init__(self, channels: int, attention_channels: int, norm: str) -> None:
        super().__init__()
        self.tdnn = TDNNBlock(channels * 3, attention_channels, 1, 1, norm)
        self.tanh = nn.Tanh()
        self.conv = Conv1d(attention_channels, channels, 1)

    def _stats(self, x: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean = (w * x).sum(2)
        std = torch.sqrt((w * (x - mean.unsqueeze(2)).pow(2)).sum(2).clamp(self.eps))
        return mean, std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        length = x.shape[-1]
        mean, std = self._stats(x, torch.full_like(x[:, :1], 1.0 / length))
        context = torch.cat(
            [x, mean.unsqueeze(2).expand(-1, -1, length), std.unsqueeze(2).expand(-1, -1, length)],
            dim=1,
        )
        attn = F.softmax(self.conv(self.tanh(self.tdnn(context))), dim=2)
        mean, std = self._stats(x, attn)
        return torch.cat((mean, std), dim=1).unsqueeze(2)


class EcapaTDNN(nn.Module):
    """ECAPA-TDNN: fbank ``(batch, frames, n_mels)`` -> embedding ``(batch, 1, lin_neurons)``.

    Defaults are spkrec-ecapa-voxceleb's (and so the anime model's) hyperparameters. Inputs are
    whole utterances without padding: speechbrain's relative ``lengths`` are not supported,
    callers batch utterances of equal length instead.
    """

    def __init__(
        self,
        input_size: int = 80,
        lin_neurons: int = 192,
        channels: Sequence[int] = (1024, 1024, 1024, 1024, 3072),
        kernel_sizes: Sequence[int] = (5, 3, 3, 3, 1),
        dilations: Sequence[int] = (1, 2, 3, 4, 1),
        attention_channels: int = 128,
        res2net_scale: int = 8,
        se_channels: int = 128,
        norm: str = "batch",
    ) -> None:
        super().__init__()
        if not len(channels) == len(kernel_sizes) == len(dilations):
            raise ValueError("channels, kernel_sizes and dilations need equal lengths")
        self.blocks = nn.ModuleList(
            [TDNNBlock(input_size, channels[0], kernel_sizes[0], dilations[0], norm)]
        )
        for i in range(1, len(channels) - 1):
            self.blocks.append(
                SERes2NetBlock(
                    channels[i - 1],
                    channels[i],
                    res2net_scale,
                    se_channels,
                    kernel_sizes[i],
                    dilations[i],
                    norm,
                )  # fmt: skip
            )
        self.mfa = TDNNBlock(
            channels[-2] * (len(channels) - 2), channels[-1], kernel_sizes[-1], dilations[-1], norm
        )
        self.asp = AttentiveStatisticsPooling(channels[-1], attention_channels, norm)
        self.asp_bn = Norm1d(channels[-1] * 2, norm)
        self.fc = Conv1d(channels[-1] * 2, lin_neurons, 1)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        x = feats.transpose(1, 2)
        outs = []
        for layer in self.blocks:
            x = layer(x)
            outs.append(x)
        x = self.mfa(torch.cat(outs[1:], dim=1))
        x = self.fc(self.asp_bn(self.asp(x)))
        return x.transpose(1, 2)


class AnimeSpeakerNet(nn.Module):
    """The ``anime_speaker_embedding`` module's state-dict layout: ECAPA-GroupNorm as ``backbone``.

    Its feature extractor (speechbrain's Fbank) holds no state, so it adds no keys.
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__()
        self.backbone = EcapaTDNN(norm="group", **kwargs)  # type: ignore[arg-type]

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        return self.backbone(feats)
