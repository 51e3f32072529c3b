"""Parts shared by the teacher models: SDPA attention (optionally chunked), pre-norm
transformer blocks, the per-frame backbone helper, the text decoder and the base class
that adds the CTC gloss head and the text head to a video encoder."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from islpose.errors import IslposeError
from islpose.models.common import lengths_mask


def attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    key_mask: torch.Tensor | None = None,
    chunk: int = 0,
    dropout: float = 0.0,
) -> torch.Tensor:
    """``scaled_dot_product_attention``, optionally over chunks of ``chunk`` queries.

    Args:
        q, k, v: (B, H, N, d).
        key_mask: (B, N) bool, True where a key may be attended to (None: all).
        chunk: > 0: compute the queries in chunks of this size (exact; bounds the
            (N x N) score memory of the math kernel to (chunk x N)).
        dropout: attention dropout probability.

    Returns:
        (B, H, N, d).
    """
    mask = None if key_mask is None else key_mask[:, None, None, :]  # (B, 1, 1, N)
    if chunk <= 0 or q.shape[2] <= chunk:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout)
    return torch.cat(
        [
            F.scaled_dot_product_attention(q[:, :, i : i + chunk], k, v, attn_mask=mask, dropout_p=dropout)
            for i in range(0, q.shape[2], chunk)
        ],
        dim=2,
    )


class SelfAttention(nn.Module):
    """Multi-head self-attention: fused qkv projection, SDPA, output projection."""

    def __init__(self, dim: int, heads: int, dropout: float = 0.0, chunk: int = 0) -> None:
        super().__init__()
        if dim % heads:
            raise IslposeError(f"hidden size {dim} is not divisible by {heads} heads")
        self.heads, self.dropout, self.chunk = heads, dropout, chunk
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor | None = None) -> torch.Tensor:
        """(B, N, D), key_mask (B, N) -> (B, N, D)."""
        b, n, d = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)  # 3 x (B, H, N, d)
        out = attention(q, k, v, key_mask, self.chunk, self.dropout if self.training else 0.0)
        return self.proj(out.transpose(1, 2).reshape(b, n, d))


def mlp(dim: int, hidden: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, dim), nn.Dropout(dropout)
    )


class Block(nn.Module):
    """Pre-norm transformer block: ``x + attn(LN(x))``, then ``x + MLP(LN(x))`` (GELU)."""

    def __init__(self, dim: int, heads: int, mlp_dim: int, dropout: float = 0.0, chunk: int = 0) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = SelfAttention(dim, heads, dropout, chunk)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = mlp(dim, mlp_dim, dropout)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.drop(self.attn(self.norm1(x), key_mask))
        return x + self.mlp(self.norm2(x))


def run_blocks(
    blocks: nn.ModuleList, x: torch.Tensor, key_mask: torch.Tensor | None, use_checkpoint: bool
) -> torch.Tensor:
    """Applies ``blocks`` in turn, each under activation checkpointing when ``use_checkpoint``."""
    for block in blocks:
        if use_checkpoint and torch.is_grad_enabled():
            x = checkpoint(block, x, key_mask, use_reentrant=False)
        else:
            x = block(x, key_mask)
    return x


def per_frame(fn: Callable[[torch.Tensor], torch.Tensor], frames: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Runs a per-image backbone on the valid frames only (padding costs nothing).

    Args:
        fn: (N, 3, H, W) -> (N, D).
        frames: (B, T, 3, H, W).
        mask: (B, T) bool, True on valid frames.

    Returns:
        (B, T, D), zero on padded frames.
    """
    feats = fn(frames[mask])  # (N_valid, D)
    out = feats.new_zeros(mask.shape + feats.shape[1:])
    out[mask] = feats
    return out


def init_weights(module: nn.Module) -> None:
    """Truncated-normal (std 0.02) linear and embedding weights, zero biases."""
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if getattr(module, "bias", None) is not None:
            nn.init.zeros_(module.bias)


@dataclass
class TextDecoderConfig:
    """The text decoder (YAML ``model_config.decoder``).

    Attributes:
        hidden_dim: model width.
        num_layers: pre-norm transformer decoder layers (self- and cross-attention).
        num_heads: attention heads.
        ff_dim: feed-forward width.
        dropout: dropout in every layer.
        max_len: longest token sequence (``<bos>``/``<eos>`` included).
        enabled: False drops the text head (CTC only).
    """

    hidden_dim: int = 512
    num_layers: int = 4
    num_heads: int = 8
    ff_dim: int = 1024
    dropout: float = 0.1
    max_len: int = 128
    enabled: bool = True


class TextDecoder(nn.Module):
    """Autoregressive transformer decoder over the video memory (tied input/output embedding)."""

    def __init__(self, config: TextDecoderConfig, vocab_size: int, memory_dim: int) -> None:
        super().__init__()
        c = config
        self.config = config
        self.embed = nn.Embedding(vocab_size, c.hidden_dim)
        self.pos = nn.Parameter(torch.zeros(1, c.max_len, c.hidden_dim))
        self.memory_proj = nn.Linear(memory_dim, c.hidden_dim) if memory_dim != c.hidden_dim else nn.Identity()
        layer = nn.TransformerDecoderLayer(
            c.hidden_dim, c.num_heads, c.ff_dim, c.dropout, activation="gelu", batch_first=True, norm_first=True
        )
        self.layers = nn.TransformerDecoder(layer, c.num_layers)
        self.norm = nn.LayerNorm(c.hidden_dim)
        self.scale = c.hidden_dim**0.5
        nn.init.trunc_normal_(self.pos, std=0.02)

    def forward(self, tokens: torch.Tensor, memory: torch.Tensor, memory_mask: torch.Tensor) -> torch.Tensor:
        """Args:
            tokens: (B, L) input tokens (``<bos>`` first).
            memory: (B, T, D_mem) encoder output.
            memory_mask: (B, T) bool, True on valid frames.

        Returns:
            logits (B, L, V_text).
        """
        length = tokens.shape[1]
        if length > self.config.max_len:
            raise IslposeError(f"text of {length} tokens is longer than the decoder's max_len {self.config.max_len}")
        x = self.embed(tokens) * self.scale + self.pos[:, :length]  # (B, L, H)
        causal = nn.Transformer.generate_square_subsequent_mask(length, device=tokens.device, dtype=x.dtype)
        x = self.layers(
            x, self.memory_proj(memory), tgt_mask=causal, tgt_is_causal=True, memory_key_padding_mask=~memory_mask
        )
        return self.norm(x) @ self.embed.weight.t()  # (B, L, V)


@dataclass
class TeacherOutput:
    """Attributes:
    log_probs: (T', B, V) float32 CTC log-posteriors over the gloss vocabulary.
    lengths: (B,) valid output frames (T' = input frames; the teachers do not subsample).
    text_logits: (B, L-1, V_text) next-token logits for ``text[:, 1:]``, or None.
    """

    log_probs: torch.Tensor
    lengths: torch.Tensor
    text_logits: torch.Tensor | None = None


class VideoTeacher(nn.Module):
    """Base of the teachers: ``encode`` (the video model) + CTC gloss head + text decoder.

    Subclasses set ``memory_dim`` and implement :meth:`encode_frames`; the parameters of
    ``ctc_head`` and ``decoder`` form the "decoder" learning-rate group, all others the
    "encoder" group (:meth:`param_groups`).
    """

    config_class: type
    backbone_prefix = ""
    """State-dict prefix of the image backbone (``--init-weights`` may hold backbone keys only)."""

    def add_heads(self, memory_dim: int, vocab_size: int, text_vocab_size: int, decoder: TextDecoderConfig) -> None:
        self.ctc_head = nn.Linear(memory_dim, vocab_size)
        use_text = decoder.enabled and text_vocab_size > 0
        self.decoder = TextDecoder(decoder, text_vocab_size, memory_dim) if use_text else None

    def encode_frames(self, frames: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, T, 3, H, W) normalised frames, (B, T) mask -> memory (B, T, D), zero on padding."""
        raise NotImplementedError

    def encode(self, frames: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns memory (B, T, D) and its (B, T) bool mask."""
        if frames.dim() != 5 or frames.shape[2] != 3:
            raise IslposeError(f"expected frames (B, T, 3, H, W), got {tuple(frames.shape)}")
        mask = lengths_mask(lengths, frames.shape[1])
        return self.encode_frames(frames, mask), mask

    def decode_text(self, tokens: torch.Tensor, memory: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Next-token logits (B, L, V_text) for ``tokens`` (B, L) given the memory."""
        if self.decoder is None:
            raise IslposeError(f"{type(self).__name__} was built without a text decoder")
        return self.decoder(tokens, memory, mask)

    def forward(self, frames: torch.Tensor, lengths: torch.Tensor, text: torch.Tensor | None = None) -> TeacherOutput:
        """Args:
            frames: (B, T, 3, H, W) normalised float frames (:func:`normalize_frames`).
            lengths: (B,) valid frames per clip.
            text: (B, L) ``<bos> ... <eos>`` token ids padded with 0, or None (no text head).

        Returns:
            :class:`TeacherOutput` with log_probs (T, B, V), lengths (B,), text_logits (B, L-1, V_text).
        """
        memory, mask = self.encode(frames, lengths)  # (B, T, D)
        log_probs = self.ctc_head(memory).float().log_softmax(-1).transpose(0, 1)  # (T, B, V)
        logits = None if text is None else self.decode_text(text[:, :-1], memory, mask)
        return TeacherOutput(log_probs, lengths, logits)

    def param_groups(self, encoder_lr: float, decoder_lr: float, weight_decay: float) -> list[dict]:
        """AdamW groups: encoder / heads at their own rates; no decay on biases, norms, embeddings."""
        head_ids = {id(p) for m in (self.ctc_head, self.decoder) if m is not None for p in m.parameters()}
        groups: dict[tuple[bool, bool], list] = {}
        for name, p in self.named_parameters():
            if p.requires_grad:
                no_decay = p.ndim < 2 or name.endswith(("pos", "pos_embed", "time_embed", "cls_token"))
                groups.setdefault((id(p) in head_ids, no_decay), []).append(p)
        return [
            {
                "params": ps,
                "lr": decoder_lr if head else encoder_lr,
                "weight_decay": 0.0 if nd else weight_decay,
                "name": f"{'decoder' if head else 'encoder'}{'_no_decay' if nd else ''}",
            }
            for (head, nd), ps in sorted(groups.items())
        ]
