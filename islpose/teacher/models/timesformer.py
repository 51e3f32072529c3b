"""``timesformer``: divided space-time attention (Bertasius et al., 2021; the hybrid seed).

frames (B, T, 3, H, W) -> Conv2d patch embedding (P patches per frame) + learned space
and time positions -> ``depth`` blocks of [temporal attention (each patch position over
the clip's valid frames), spatial attention (within each frame), MLP], all pre-norm with
residuals -> LayerNorm -> mean over each frame's patches => memory (B, T, D)
-> CTC gloss head and text decoder. Padded frames never reach a valid frame: they are
masked out as keys of the temporal attention, and the spatial attention stays inside a frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from islpose.errors import IslposeError
from islpose.teacher.models.common import SelfAttention, TextDecoderConfig, VideoTeacher, init_weights, mlp
from islpose.teacher.models.registry import register_teacher


@dataclass
class TimeSformerConfig:
    """Attributes:
    image_size: input frame size (must equal ``video.size``).
    patch_size: patch size.
    embed_dim: width.
    depth: divided space-time blocks.
    num_heads: attention heads.
    mlp_dim: MLP width.
    dropout: dropout.
    max_frames: longest clip (size of the learned time positions).
    grad_checkpointing: recompute block activations in the backward pass.
    attn_chunk: > 0: attention in chunks of this many queries.
    decoder: the text decoder.
    """

    image_size: int = 224
    patch_size: int = 16
    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    mlp_dim: int = 3072
    dropout: float = 0.0
    max_frames: int = 128
    grad_checkpointing: bool = False
    attn_chunk: int = 0
    decoder: TextDecoderConfig = field(default_factory=TextDecoderConfig)


class DividedBlock(nn.Module):
    """Temporal attention, then spatial attention, then MLP (each pre-norm + residual)."""

    def __init__(self, dim: int, heads: int, mlp_dim: int, dropout: float, chunk: int) -> None:
        super().__init__()
        self.norm_t, self.norm_s, self.norm_m = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn_t = SelfAttention(dim, heads, dropout, chunk)
        self.attn_s = SelfAttention(dim, heads, dropout, chunk)
        self.mlp = mlp(dim, mlp_dim, dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, T, P, D), frame mask (B, T) -> (B, T, P, D)."""
        b, t, p, d = x.shape
        xt = x.transpose(1, 2).reshape(b * p, t, d)  # (B P, T, D)
        key_mask = mask.repeat_interleave(p, dim=0)  # (B P, T)
        xt = xt + self.attn_t(self.norm_t(xt), key_mask)
        xs = xt.view(b, p, t, d).transpose(1, 2).reshape(b * t, p, d)  # (B T, P, D)
        xs = xs + self.attn_s(self.norm_s(xs))
        xs = xs + self.mlp(self.norm_m(xs))
        return xs.view(b, t, p, d)


@register_teacher("timesformer")
class TimeSformerTeacher(VideoTeacher):
    """Divided space-time attention + CTC and text heads (module docstring)."""

    config_class = TimeSformerConfig

    def __init__(self, config: TimeSformerConfig, vocab_size: int, text_vocab_size: int = 0) -> None:
        super().__init__()
        c = self.config = config
        if c.image_size % c.patch_size:
            raise IslposeError(f"image_size {c.image_size} is not a multiple of patch_size {c.patch_size}")
        self.patch_embed = nn.Conv2d(3, c.embed_dim, kernel_size=c.patch_size, stride=c.patch_size)
        self.pos_embed = nn.Parameter(torch.zeros(1, 1, (c.image_size // c.patch_size) ** 2, c.embed_dim))
        self.time_embed = nn.Parameter(torch.zeros(1, c.max_frames, 1, c.embed_dim))
        self.blocks = nn.ModuleList(
            DividedBlock(c.embed_dim, c.num_heads, c.mlp_dim, c.dropout, c.attn_chunk) for _ in range(c.depth)
        )
        self.norm = nn.LayerNorm(c.embed_dim)
        self.add_heads(c.embed_dim, vocab_size, text_vocab_size, c.decoder)
        self.apply(init_weights)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.time_embed, std=0.02)
        for block in self.blocks:  # temporal attention starts as the identity (as in TimeSformer)
            nn.init.zeros_(block.attn_t.proj.weight)

    def encode_frames(self, frames: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, t = frames.shape[:2]
        if t > self.config.max_frames:
            raise IslposeError(f"clip of {t} frames is longer than model_config.max_frames={self.config.max_frames}")
        x = self.patch_embed(frames.flatten(0, 1)).flatten(2).transpose(1, 2)  # (B T, P, D)
        if x.shape[1] != self.pos_embed.shape[2]:
            raise IslposeError(
                f"frames of {tuple(frames.shape[-2:])} pixels do not fit this model "
                f"({self.pos_embed.shape[2]} patches); set video.size = model_config.image_size"
            )
        x = x.view(b, t, x.shape[1], -1) + self.pos_embed + self.time_embed[:, :t]  # (B, T, P, D)
        for block in self.blocks:
            if self.config.grad_checkpointing and torch.is_grad_enabled():
                x = checkpoint(block, x, mask, use_reentrant=False)
            else:
                x = block(x, mask)
        return self.norm(x).mean(dim=2) * mask[..., None]  # (B, T, D)
