"""``mobilenet_v3_1d``: modality encoders + MobileNetV3 1-D blocks + BiLSTM (6516-d multimodal).

input (B, T, 6516) -> modality encoders over the SPEC's column blocks (pose 64, hands 128,
face 64, temporal 128; concatenated 384) -> 6 MobileNetV3 1-D blocks (inverted residual,
depthwise conv, squeeze-excitation, hard-swish), 4x temporal downsampling to 48 channels
-> ConvTranspose1d(48, 128, 4, stride 4), BatchNorm, ReLU -> temporal projection (conv,
BatchNorm, ReLU) -> trim to T -> 1-layer BiLSTM (hidden 128) -> Linear V -> log-softmax,
(T, B, V).

Time is never collapsed (the seed's ``AdaptiveAvgPool1d(1)`` bug): every output frame
comes from its own neighbourhood of input frames. Padded frames are zeroed before each
convolution and excluded from the squeeze-excitation means, and the BiLSTM runs on
packed sequences, so in eval mode a padded batch equals each utterance alone.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from islpose.features.layout import MULTIMODAL_DIM, modality_columns
from islpose.models.common import lengths_mask, run_bilstm
from islpose.models.registry import register_model

# (expansion channels, output channels, kernel, stride) of the 6 blocks; strides give 4x.
BLOCKS = ((384, 96, 3, 1), (192, 64, 5, 2), (192, 64, 5, 1), (192, 48, 5, 2), (144, 48, 5, 1), (144, 48, 3, 1))


@dataclass
class MobileNetV31DConfig:
    """Attributes:
        pose_dim, hands_dim, face_dim, temporal_dim: modality encoder sizes.
        upsample_dim: channels after the ConvTranspose1d upsampling.
        lstm_hidden: BiLSTM hidden size per direction.
        dropout: dropout after the encoders and before the classifier.
    """

    pose_dim: int = 64
    hands_dim: int = 128
    face_dim: int = 64
    temporal_dim: int = 128
    upsample_dim: int = 128
    lstm_hidden: int = 128
    dropout: float = 0.3


def _masked(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B, C, L) * (B, L) mask: zeroes padded frames."""
    return x * mask[:, None, :].to(x.dtype)


class SqueezeExcite(nn.Module):
    """Channel gates from the mean over the valid frames: (B, C, L) -> (B, C, L)."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        hidden = max(8, channels // reduction)
        self.gate = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(), nn.Linear(hidden, channels),
                                  nn.Hardsigmoid())

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        m = mask[:, None, :].to(x.dtype)
        mean = (x * m).sum(-1) / m.sum(-1).clamp(min=1)  # (B, C)
        return x * self.gate(mean)[..., None]


class InvertedResidual1d(nn.Module):
    """MobileNetV3 block: 1x1 expand, depthwise k (stride s), SE, 1x1 project (+ residual)."""

    def __init__(self, cin: int, cexp: int, cout: int, kernel: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        self.residual = stride == 1 and cin == cout
        self.expand = nn.Sequential(nn.Conv1d(cin, cexp, 1, bias=False), nn.BatchNorm1d(cexp), nn.Hardswish())
        self.depthwise = nn.Sequential(
            nn.Conv1d(cexp, cexp, kernel, stride=stride, padding=kernel // 2, groups=cexp, bias=False),
            nn.BatchNorm1d(cexp), nn.Hardswish())
        self.se = SqueezeExcite(cexp)
        self.project = nn.Sequential(nn.Conv1d(cexp, cout, 1, bias=False), nn.BatchNorm1d(cout))

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, Cin, L), (B,) -> (B, Cout, ceil(L / stride)), (B,)."""
        h = _masked(self.expand(x), lengths_mask(lengths, x.shape[-1]))
        h = self.depthwise(h)  # (B, Cexp, L')
        out_lengths = torch.div(lengths + self.stride - 1, self.stride, rounding_mode="floor")
        mask = lengths_mask(out_lengths, h.shape[-1])
        h = self.project(self.se(h, mask))
        if self.residual:
            h = h + x
        return _masked(h, mask), out_lengths


@register_model("mobilenet_v3_1d")
class MobileNetV31D(nn.Module):
    """MobileNetV3-1D CTC model on the 6516-d multimodal features (see module docstring)."""

    feature = "multimodal"
    subsample = 1
    config_class = MobileNetV31DConfig
    train_defaults: dict = {"lr": 3e-4, "weight_decay": 1e-4, "grad_clip": 1.0, "warmup_epochs": 5,
                            "patience": 15}

    def __init__(self, config: MobileNetV31DConfig, vocab_size: int) -> None:
        super().__init__()
        self.config = c = config
        columns = modality_columns()
        sizes = {"pose": c.pose_dim, "hands": c.hands_dim, "face": c.face_dim, "temporal": c.temporal_dim}
        for name, cols in columns.items():
            self.register_buffer(f"cols_{name}", torch.as_tensor(cols, dtype=torch.long), persistent=False)
        self.encoders = nn.ModuleDict({
            name: nn.Sequential(nn.Linear(len(columns[name]), size), nn.LayerNorm(size), nn.Hardswish())
            for name, size in sizes.items()})
        self.dropout = nn.Dropout(c.dropout)
        blocks, cin = [], sum(sizes.values())
        for cexp, cout, kernel, stride in BLOCKS:
            blocks.append(InvertedResidual1d(cin, cexp, cout, kernel, stride))
            cin = cout
        self.blocks = nn.ModuleList(blocks)
        self.upsample = nn.Sequential(nn.ConvTranspose1d(cin, c.upsample_dim, 4, stride=4),
                                      nn.BatchNorm1d(c.upsample_dim), nn.ReLU())
        self.temporal_projection = nn.Sequential(
            nn.Conv1d(c.upsample_dim, c.upsample_dim, 3, padding=1, bias=False),
            nn.BatchNorm1d(c.upsample_dim), nn.ReLU())
        self.lstm = nn.LSTM(c.upsample_dim, c.lstm_hidden, batch_first=True, bidirectional=True)
        self.classifier = nn.Linear(2 * c.lstm_hidden, vocab_size)

    def frame_features(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The per-frame representation fed to the BiLSTM.

        Args:
            x: (B, T, 6516) features; lengths: (B,) valid frames.

        Returns:
            (B, T, upsample_dim), zero on padded frames.
        """
        if x.shape[-1] != MULTIMODAL_DIM:
            raise ValueError(f"mobilenet_v3_1d expects {MULTIMODAL_DIM}-d features, got {x.shape[-1]}")
        T = x.shape[1]
        mask = lengths_mask(lengths, T)
        parts = [enc(x.index_select(-1, getattr(self, f"cols_{name}"))) for name, enc in self.encoders.items()]
        h = _masked(self.dropout(torch.cat(parts, -1)).transpose(1, 2), mask)  # (B, 384, T)
        block_lengths = lengths
        for block in self.blocks:
            h, block_lengths = block(h, block_lengths)  # (B, 48, ceil(T / 4)) at the end
        h = self.upsample(h)[..., :T]  # (B, upsample_dim, 4 * ceil(T / 4)) trimmed to T
        h = _masked(self.temporal_projection(_masked(h, mask)), mask)
        return h.transpose(1, 2)  # (B, T, upsample_dim)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Args:
            x: (B, T, 6516) multimodal features (float16 or float32), padded after each length.
            lengths: (B,) valid frames.

        Returns:
            log_probs (T, B, V) and out_lengths (B,) = lengths.
        """
        h = self.frame_features(x.float() if x.dtype == torch.float16 else x, lengths)
        y = run_bilstm(self.lstm, h, lengths)  # (B, T, 2H)
        log_probs = self.classifier(self.dropout(y)).log_softmax(dim=-1)  # (B, T, V)
        return log_probs.transpose(0, 1), lengths
