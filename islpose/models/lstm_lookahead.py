"""``lstm_lookahead``: a streaming student, a unidirectional LSTM with a few frames of lookahead.

input (B, T, 66) -> Linear P, LayerNorm, ReLU, dropout -> Conv1d(k=3, stride 2) (sees one
input frame ahead) -> lookahead Conv1d over output frames t .. t + lookahead -> N x
[LSTM (hidden H, forwards only), LayerNorm, dropout, + residual from the 2nd layer on]
-> Linear V -> log-softmax, (T' = ceil(T/2), B, V).

Output frame ``t`` depends on input frames up to ``2 * (t + lookahead) + 1`` only, so a
live recogniser knows it ``lookahead`` output frames (``2 * lookahead + 1`` input frames)
after it happened, where a BiLSTM needs the rest of the utterance. Padded frames are
zeroed before both convolutions, so a padded batch gives the same outputs as each
utterance alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from islpose.models.common import lengths_mask
from islpose.models.registry import register_model


@dataclass
class LSTMLookaheadConfig:
    """Attributes:
    input_dim: feature size (66 pose features).
    projection_dim: size of the input projection.
    hidden_dim: LSTM hidden size (one direction).
    num_layers: stacked LSTM layers (each with LayerNorm; residual from the 2nd on).
    lookahead: output frames (2 input frames each) the model sees ahead of the frame it labels.
    dropout: dropout after the projection and after every LSTM layer.
    """

    input_dim: int = 66
    projection_dim: int = 128
    hidden_dim: int = 256
    num_layers: int = 3
    lookahead: int = 3
    dropout: float = 0.3

    def __post_init__(self) -> None:
        if self.lookahead < 0:
            from islpose.errors import IslposeError

            raise IslposeError(f"lookahead must be >= 0, got {self.lookahead}")


@register_model("lstm_lookahead")
class LSTMLookahead(nn.Module):
    """Unidirectional LSTM CTC model with a fixed lookahead (see module docstring)."""

    feature = "pose"
    subsample = 2
    config_class = LSTMLookaheadConfig
    train_defaults: dict = {"lr": 1e-3, "weight_decay": 1e-4, "grad_clip": 5.0}

    def __init__(self, config: LSTMLookaheadConfig, vocab_size: int) -> None:
        super().__init__()
        self.config = config
        c = config
        self.projection = nn.Sequential(
            nn.Linear(c.input_dim, c.projection_dim), nn.LayerNorm(c.projection_dim), nn.ReLU(), nn.Dropout(c.dropout)
        )
        self.subsampling = nn.Conv1d(c.projection_dim, c.projection_dim, kernel_size=3, stride=2, padding=1)
        self.lookahead = nn.Conv1d(c.projection_dim, c.projection_dim, kernel_size=c.lookahead + 1)
        self.lstms = nn.ModuleList(
            nn.LSTM(c.projection_dim if i == 0 else c.hidden_dim, c.hidden_dim, batch_first=True)
            for i in range(c.num_layers)
        )
        self.norms = nn.ModuleList(nn.LayerNorm(c.hidden_dim) for _ in range(c.num_layers))
        self.dropout = nn.Dropout(c.dropout)
        self.classifier = nn.Linear(c.hidden_dim, vocab_size)

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        """(B,) input frames -> (B,) output frames, ceil(T / 2)."""
        return torch.div(lengths + 1, 2, rounding_mode="floor")

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Args:
            x: (B, T, input_dim) features, padded after each utterance's length.
            lengths: (B,) valid frames per utterance.

        Returns:
            log_probs (T', B, V) with T' = ceil(T / 2), and out_lengths (B,) = ceil(lengths / 2).
        """
        h = self.projection(x) * lengths_mask(lengths, x.shape[1])[..., None]  # (B, T, P), padding zeroed
        h = self.subsampling(h.transpose(1, 2))  # (B, P, T')
        out_lengths = self.output_lengths(lengths)
        mask = lengths_mask(out_lengths, h.shape[2])  # (B, T')
        h = F.pad(h * mask[:, None, :], (0, self.config.lookahead))  # zeros beyond each end
        h = torch.relu(self.lookahead(h)).transpose(1, 2)  # (B, T', P): frame t sees t .. t + lookahead
        for i, (lstm, norm) in enumerate(zip(self.lstms, self.norms)):
            y = self.dropout(norm(lstm(h)[0]))  # (B, T', H); forwards only, padding comes after
            h = y if i == 0 else h + y
        log_probs = self.classifier(h).log_softmax(dim=-1)  # (B, T', V)
        return log_probs.transpose(0, 1), out_lengths  # (T', B, V)
