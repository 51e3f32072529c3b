"""``mobilenet_v3_1d``: modality encoders + MobileNetV3 1-D blocks + BiLSTM (6516-d multimodal).

input (B, T, 6516) -> modality encoders over the SPEC's column blocks (pose 64, hands 128,
face 64, temporal 128; concatenated 384) -> 6 MobileNetV3 1-D blocks (inverted residual,
depthwise conv, squeeze-excitation, hard-swish), 4x temporal downsampling to 48 channels
-> ConvTranspose1d(48, 128, 4, stride 4), BatchNorm, ReLU -> temporal projection (conv,
BatchNorm, ReLU) -> trim to T -> 1-layer BiLSTM (hidden 128) -> LayerNorm -> Linear V
-> x ``logit_scale`` (3) -> log-softmax, (T, B, V).

Training: the LayerNorm keeps the classifier's input at unit scale; the defaults are lr
3e-3 with a 1-epoch warmup. The logits are scaled by ``logit_scale`` (3): the LayerNorm's
output is dominated by a vector that changes little over time, and the larger logits let the
frame-to-frame differences show, so training leaves the all-blank start within a few epochs.

Time is never pooled away: every output frame comes from its own neighbourhood of input
frames. Padded frames are zeroed before each
convolution, excluded from the squeeze-excitation means and from the BatchNorm
statistics (:class:`MaskedBatchNorm1d`), and the BiLSTM runs on packed sequences, so a
padded batch equals each utterance alone in eval mode, and in training mode the output
of a batch does not depend on how much padding it carries.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from islpose.errors import IslposeError
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
    logit_scale: constant factor on the classifier's output (a softmax temperature of
        1 / logit_scale); checkpoints written before it existed use 1.
    """

    pose_dim: int = 64
    hands_dim: int = 128
    face_dim: int = 64
    temporal_dim: int = 128
    upsample_dim: int = 128
    lstm_hidden: int = 128
    dropout: float = 0.3
    logit_scale: float = 3.0


def _masked(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B, C, L) * (B, L) mask: zeroes padded frames."""
    return x * mask[:, None, :].to(x.dtype)


class MaskedBatchNorm1d(nn.BatchNorm1d):
    """BatchNorm over the valid frames only: (B, C, L), (B, L) bool mask -> (B, C, L).

    In training mode the batch mean and variance (and the running statistics) are taken
    over the frames where ``mask`` is true, so padding never shifts them; in eval mode it
    is plain BatchNorm with the running statistics (a per-frame operation). The
    parameters and buffers are those of :class:`torch.nn.BatchNorm1d`.
    """

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        if not self.training or not self.track_running_stats:
            return super().forward(x)
        m = mask[:, None, :].to(x.dtype)  # (B, 1, L)
        n = m.sum().clamp(min=1)
        mean = (x * m).sum((0, 2)) / n  # (C,)
        var = ((x - mean[None, :, None]).square() * m).sum((0, 2)) / n
        with torch.no_grad():
            self.num_batches_tracked += 1
            factor = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
            unbiased = var * n / (n - 1).clamp(min=1)
            self.running_mean.lerp_(mean.to(self.running_mean.dtype), factor)
            self.running_var.lerp_(unbiased.to(self.running_var.dtype), factor)
        y = (x - mean[None, :, None]) * torch.rsqrt(var + self.eps)[None, :, None]
        return y * self.weight[None, :, None] + self.bias[None, :, None]


def _conv_bn_act(
    cin: int, cout: int, kernel: int = 1, stride: int = 1, groups: int = 1, act: type[nn.Module] | None = nn.Hardswish
) -> nn.Sequential:
    """Conv1d (no bias) -> MaskedBatchNorm1d [-> activation], run by :func:`_run_conv_bn`."""
    layers = [
        nn.Conv1d(cin, cout, kernel, stride=stride, padding=kernel // 2, groups=groups, bias=False),
        MaskedBatchNorm1d(cout),
    ]
    return nn.Sequential(*layers, act()) if act is not None else nn.Sequential(*layers)


def _run_conv_bn(layers: nn.Sequential, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Applies a conv/transposed conv -> MaskedBatchNorm1d [-> activation] stack.

    Args:
        x: (B, Cin, L) input, zero on padded frames.
        mask: (B, L') valid output frames; the conv output is trimmed to L'.
    """
    conv, norm, *act = layers
    h = conv(x)[..., : mask.shape[-1]]
    h = norm(h, mask)
    return act[0](h) if act else h


class SqueezeExcite(nn.Module):
    """Channel gates from the mean over the valid frames: (B, C, L) -> (B, C, L)."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        hidden = max(8, channels // reduction)
        self.gate = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(), nn.Linear(hidden, channels), nn.Hardsigmoid())

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
        self.expand = _conv_bn_act(cin, cexp)
        self.depthwise = _conv_bn_act(cexp, cexp, kernel, stride=stride, groups=cexp)
        self.se = SqueezeExcite(cexp)
        self.project = _conv_bn_act(cexp, cout, act=None)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, Cin, L), (B,) -> (B, Cout, ceil(L / stride)), (B,)."""
        in_mask = lengths_mask(lengths, x.shape[-1])
        h = _masked(_run_conv_bn(self.expand, x, in_mask), in_mask)
        out_lengths = torch.div(lengths + self.stride - 1, self.stride, rounding_mode="floor")
        mask = lengths_mask(out_lengths, (x.shape[-1] + self.stride - 1) // self.stride)
        h = _masked(_run_conv_bn(self.depthwise, h, mask), mask)  # (B, Cexp, L')
        h = _run_conv_bn(self.project, self.se(h, mask), mask)
        if self.residual:
            h = h + x
        return _masked(h, mask), out_lengths


@register_model("mobilenet_v3_1d")
class MobileNetV31D(nn.Module):
    """MobileNetV3-1D CTC model on the 6516-d multimodal features (see module docstring)."""

    feature = "multimodal"
    subsample = 1
    config_class = MobileNetV31DConfig
    train_defaults: dict = {
        "lr": 3e-3,
        "weight_decay": 1e-4,
        "grad_clip": 1.0,
        "warmup_epochs": 1,
        "patience": 15,
        "num_workers": 1,
    }
    # Landmark augmentation is on by default for this model; its features are then computed in
    # the DataLoader worker.
    augment_defaults: dict = {"enabled": True}
    legacy_config: dict = {"logit_scale": 1.0}  # what checkpoints written before a field existed used
    removed_config: dict = {"head_lr_scale": 1.0}  # removed fields an old config may hold -> their no-op value

    def __init__(self, config: MobileNetV31DConfig, vocab_size: int) -> None:
        super().__init__()
        if not config.logit_scale > 0:
            raise IslposeError(f"logit_scale must be > 0, got {config.logit_scale}")
        self.config = c = config
        columns = modality_columns()
        sizes = {"pose": c.pose_dim, "hands": c.hands_dim, "face": c.face_dim, "temporal": c.temporal_dim}
        for name, cols in columns.items():
            self.register_buffer(f"cols_{name}", torch.as_tensor(cols, dtype=torch.long), persistent=False)
        self.encoders = nn.ModuleDict(
            {
                name: nn.Sequential(nn.Linear(len(columns[name]), size), nn.LayerNorm(size), nn.Hardswish())
                for name, size in sizes.items()
            }
        )
        self.dropout = nn.Dropout(c.dropout)
        blocks, cin = [], sum(sizes.values())
        for cexp, cout, kernel, stride in BLOCKS:
            blocks.append(InvertedResidual1d(cin, cexp, cout, kernel, stride))
            cin = cout
        self.blocks = nn.ModuleList(blocks)
        self.upsample = nn.Sequential(
            nn.ConvTranspose1d(cin, c.upsample_dim, 4, stride=4), MaskedBatchNorm1d(c.upsample_dim), nn.ReLU()
        )
        self.temporal_projection = _conv_bn_act(c.upsample_dim, c.upsample_dim, 3, act=nn.ReLU)
        self.lstm = nn.LSTM(c.upsample_dim, c.lstm_hidden, batch_first=True, bidirectional=True)
        self.norm = nn.LayerNorm(2 * c.lstm_hidden)
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
        h = _masked(_run_conv_bn(self.upsample, h, mask), mask)  # (B, upsample_dim, T): 4 * ceil(T / 4) trimmed
        h = _masked(_run_conv_bn(self.temporal_projection, h, mask), mask)
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
        logits = self.config.logit_scale * self.classifier(self.dropout(self.norm(y)))
        log_probs = logits.log_softmax(dim=-1)  # (B, T, V)
        return log_probs.transpose(0, 1), lengths
