"""``dense_vit``: a per-frame dense ViT teacher.

frames (B, T, 3, 224, 224) -> per valid frame: Conv2d patch embedding (16x16) + [CLS]
+ learned positions -> 24 pre-norm blocks (hidden 1024, 16 heads, MLP 4096, GELU, SDPA)
-> LayerNorm -> mean over the 197 tokens -> Linear 512 + LayerNorm  => (B, T, 512)
-> 4 dense temporal conv blocks (kernel 3, dropout 0.2, residual)
-> dense temporal attention pooling with the refinement MLP (frame resolution is kept:
   the CTC head and distillation need one posterior per frame)
-> CTC gloss head (T, B, V) and a 4-layer text decoder (hidden 512, 8 heads, FF 1024).

The ViT alone has ~303 M parameters (ViT-Large; ViT-Base has 86 M).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from islpose.errors import IslposeError
from islpose.teacher.models.common import (
    Block,
    SelfAttention,
    TextDecoderConfig,
    VideoTeacher,
    init_weights,
    mlp,
    per_frame,
    run_blocks,
)
from islpose.teacher.models.registry import register_teacher


@dataclass
class DenseViTConfig:
    """Attributes:
    image_size: input frame size (must equal ``video.size``).
    patch_size: ViT patch size.
    hidden_dim: ViT width.
    num_layers: ViT blocks.
    num_heads: ViT attention heads.
    mlp_dim: ViT MLP width.
    vit_dropout: dropout inside the ViT.
    output_dim: per-frame feature size after the projection.
    num_temporal_conv: dense temporal conv blocks.
    temporal_kernel: their kernel size.
    temporal_heads: heads of the temporal attention pooling.
    temporal_mlp_dim: MLP width of the pooling and its refinement (seed: 4 x output_dim).
    dropout: dropout of the temporal part.
    grad_checkpointing: recompute ViT block activations in the backward pass.
    attn_chunk: > 0: attention in chunks of this many queries (bounded memory).
    decoder: the text decoder.
    """

    image_size: int = 224
    patch_size: int = 16
    hidden_dim: int = 1024
    num_layers: int = 24
    num_heads: int = 16
    mlp_dim: int = 4096
    vit_dropout: float = 0.0
    output_dim: int = 512
    num_temporal_conv: int = 4
    temporal_kernel: int = 3
    temporal_heads: int = 16
    temporal_mlp_dim: int = 2048
    dropout: float = 0.2
    grad_checkpointing: bool = False
    attn_chunk: int = 0
    decoder: TextDecoderConfig = field(default_factory=TextDecoderConfig)


class DenseViT(nn.Module):
    """Per-image ViT: (N, 3, H, W) -> (N, hidden_dim), the mean over all tokens."""

    def __init__(self, c: DenseViTConfig) -> None:
        super().__init__()
        if c.image_size % c.patch_size:
            raise IslposeError(f"image_size {c.image_size} is not a multiple of patch_size {c.patch_size}")
        self.checkpointing = c.grad_checkpointing
        self.patch_embed = nn.Conv2d(3, c.hidden_dim, kernel_size=c.patch_size, stride=c.patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, c.hidden_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, (c.image_size // c.patch_size) ** 2 + 1, c.hidden_dim))
        self.blocks = nn.ModuleList(
            Block(c.hidden_dim, c.num_heads, c.mlp_dim, c.vit_dropout, c.attn_chunk) for _ in range(c.num_layers)
        )
        self.norm = nn.LayerNorm(c.hidden_dim)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(images).flatten(2).transpose(1, 2)  # (N, P, D)
        if x.shape[1] + 1 != self.pos_embed.shape[1]:
            raise IslposeError(
                f"frames of {tuple(images.shape[-2:])} pixels do not fit this ViT "
                f"({self.pos_embed.shape[1] - 1} patches); set video.size = model_config.image_size"
            )
        x = torch.cat([self.cls_token.expand(len(x), -1, -1), x], dim=1) + self.pos_embed  # (N, P+1, D)
        x = run_blocks(self.blocks, x, None, self.checkpointing)
        return self.norm(x).mean(dim=1)  # (N, D)


class TemporalConvBlock(nn.Module):
    """``x + Dropout(GELU(Conv1d(LN(x))))`` over time; padded frames are zeroed first."""

    def __init__(self, dim: int, kernel: int, dropout: float) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.conv = nn.Conv1d(dim, dim, kernel, padding=kernel // 2)
        self.act, self.drop = nn.GELU(), nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, T, D), (B, T) -> (B, T, D), zero on padding."""
        h = (self.norm(x) * mask[..., None]).transpose(1, 2)  # (B, D, T)
        return (x + self.drop(self.act(self.conv(h).transpose(1, 2)))) * mask[..., None]


class DenseTemporalAttentionPooling(nn.Module):
    """The pooling: masked self-attention over time and FFN (pre-norm, residual),
    then ``out = h + refinement(h)`` with refinement = Linear, GELU, Dropout, Linear, LayerNorm."""

    def __init__(self, dim: int, heads: int, mlp_dim: int, dropout: float, chunk: int = 0) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = SelfAttention(dim, heads, dropout, chunk)
        self.ffn = mlp(dim, mlp_dim, dropout)
        self.refinement = nn.Sequential(
            nn.Linear(dim, mlp_dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(mlp_dim, dim), nn.LayerNorm(dim)
        )

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, T, D), (B, T) -> (B, T, D), zero on padding."""
        h = x + self.attn(self.norm1(x), mask)
        h = h + self.ffn(self.norm2(h))
        return (h + self.refinement(h)) * mask[..., None]


@register_teacher("dense_vit")
class DenseViTTeacher(VideoTeacher):
    """Per-frame dense ViT + dense temporal blocks + CTC and text heads (module docstring)."""

    config_class = DenseViTConfig
    backbone_prefix = "vit."

    def __init__(self, config: DenseViTConfig, vocab_size: int, text_vocab_size: int = 0) -> None:
        super().__init__()
        c = self.config = config
        self.vit = DenseViT(c)
        self.projection = nn.Sequential(nn.Linear(c.hidden_dim, c.output_dim), nn.LayerNorm(c.output_dim))
        self.temporal_convs = nn.ModuleList(
            TemporalConvBlock(c.output_dim, c.temporal_kernel, c.dropout) for _ in range(c.num_temporal_conv)
        )
        self.pooling = DenseTemporalAttentionPooling(
            c.output_dim, c.temporal_heads, c.temporal_mlp_dim, c.dropout, c.attn_chunk
        )
        self.add_heads(c.output_dim, vocab_size, text_vocab_size, c.decoder)
        self.apply(init_weights)

    def encode_frames(self, frames: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = per_frame(lambda imgs: self.projection(self.vit(imgs)), frames, mask)  # (B, T, output_dim)
        for block in self.temporal_convs:
            x = block(x, mask)
        return self.pooling(x, mask)  # (B, T, output_dim)
