"""``cnn_transformer``: ResNet-50 per frame + a transformer over time (the hybrid seed).

frames (B, T, 3, H, W) -> per valid frame: ResNet-50 (torchvision layout and parameter
names, so a local torchvision ``resnet50`` state dict loads with ``--init-weights``)
-> global average pool (2048) -> Linear embed_dim + learned time positions
-> ``depth`` pre-norm transformer blocks with padding masks -> LayerNorm => memory
-> CTC gloss head and text decoder.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from islpose.errors import IslposeError
from islpose.teacher.models.common import Block, TextDecoderConfig, VideoTeacher, init_weights, per_frame, run_blocks
from islpose.teacher.models.registry import register_teacher


@dataclass
class CNNTransformerConfig:
    """Attributes:
    resnet_layers: bottleneck blocks per stage ([3, 4, 6, 3] = ResNet-50).
    resnet_width: channels of the first stage (64 = ResNet-50; output = 32 x width).
    embed_dim: transformer width.
    depth: transformer blocks.
    num_heads: attention heads.
    mlp_dim: transformer MLP width.
    dropout: transformer dropout.
    max_frames: longest clip (size of the learned time positions).
    grad_checkpointing: recompute ResNet stage and transformer block activations.
    attn_chunk: > 0: attention in chunks of this many queries.
    decoder: the text decoder.
    """

    resnet_layers: list = field(default_factory=lambda: [3, 4, 6, 3])
    resnet_width: int = 64
    embed_dim: int = 512
    depth: int = 6
    num_heads: int = 8
    mlp_dim: int = 2048
    dropout: float = 0.1
    max_frames: int = 512
    grad_checkpointing: bool = False
    attn_chunk: int = 0
    decoder: TextDecoderConfig = field(default_factory=TextDecoderConfig)


class Bottleneck(nn.Module):
    """ResNet v1.5 bottleneck (stride on the 3x3 convolution), torchvision parameter names."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        out = planes * self.expansion
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or inplanes != out:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, out, 1, stride=stride, bias=False), nn.BatchNorm2d(out))
        nn.init.zeros_(self.bn3.weight)  # each block starts as the identity

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        h = self.relu(self.bn1(self.conv1(x)))
        h = self.relu(self.bn2(self.conv2(h)))
        return self.relu(self.bn3(self.conv3(h)) + identity)


class ResNet(nn.Module):
    """ResNet trunk without the classifier: (N, 3, H, W) -> (N, 32 x width) pooled features."""

    def __init__(self, layers: list, width: int = 64, checkpointing: bool = False) -> None:
        super().__init__()
        if len(layers) != 4 or not all(isinstance(n, int) and n >= 1 for n in layers):
            raise IslposeError(f"resnet_layers must be 4 positive integers, got {layers!r}")
        self.checkpointing = checkpointing
        self.conv1 = nn.Conv2d(3, width, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        inplanes = width
        for i, blocks in enumerate(layers):
            planes, stride = width * 2**i, 1 if i == 0 else 2
            stage = [Bottleneck(inplanes, planes, stride)]
            inplanes = planes * Bottleneck.expansion
            stage += [Bottleneck(inplanes, planes) for _ in range(blocks - 1)]
            setattr(self, f"layer{i + 1}", nn.Sequential(*stage))
        self.out_dim = inplanes
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))  # (N, w, H/4, W/4)
        for stage in (self.layer1, self.layer2, self.layer3, self.layer4):
            x = (
                checkpoint(stage, x, use_reentrant=False)
                if self.checkpointing and torch.is_grad_enabled()
                else stage(x)
            )
        return x.mean(dim=(2, 3))  # (N, 32 w)


@register_teacher("cnn_transformer")
class CNNTransformerTeacher(VideoTeacher):
    """ResNet-50 per frame + temporal transformer + CTC and text heads (module docstring)."""

    config_class = CNNTransformerConfig
    backbone_prefix = "backbone."

    def __init__(self, config: CNNTransformerConfig, vocab_size: int, text_vocab_size: int = 0) -> None:
        super().__init__()
        c = self.config = config
        self.backbone = ResNet(c.resnet_layers, c.resnet_width, c.grad_checkpointing)
        self.embed = nn.Linear(self.backbone.out_dim, c.embed_dim)
        self.time_embed = nn.Parameter(torch.zeros(1, c.max_frames, c.embed_dim))
        self.drop = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList(
            Block(c.embed_dim, c.num_heads, c.mlp_dim, c.dropout, c.attn_chunk) for _ in range(c.depth)
        )
        self.norm = nn.LayerNorm(c.embed_dim)
        self.add_heads(c.embed_dim, vocab_size, text_vocab_size, c.decoder)
        for name, module in self.named_modules():
            if not name.startswith("backbone"):
                init_weights(module)
        nn.init.trunc_normal_(self.time_embed, std=0.02)

    def encode_frames(self, frames: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        t = frames.shape[1]
        if t > self.config.max_frames:
            raise IslposeError(f"clip of {t} frames is longer than model_config.max_frames={self.config.max_frames}")
        x = self.embed(per_frame(self.backbone, frames, mask)) + self.time_embed[:, :t]  # (B, T, E)
        x = run_blocks(self.blocks, self.drop(x), mask, self.config.grad_checkpointing)
        return self.norm(x) * mask[..., None]  # (B, T, E)
