"""Small pieces the CTC models (and the teachers) share."""

from __future__ import annotations

import torch
from torch import nn


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def lengths_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """(B,) lengths -> (B, max_len) bool mask, True on valid frames."""
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]


def run_bilstm(lstm: nn.Module, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """A one-layer bidirectional LSTM over a padded batch, blind to the padding.

    Args:
        lstm: a bidirectional ``nn.LSTM`` (batch first; run on packed sequences) or its
            :class:`PaddedBiLSTM` twin (no packing: what ONNX export uses).
        x: (B, T, D) input, padded after each length; lengths: (B,) valid frames.

    Returns:
        (B, T, 2H), zero on padded frames.
    """
    if isinstance(lstm, PaddedBiLSTM):
        return lstm(x, lengths)
    packed = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
    return nn.utils.rnn.pad_packed_sequence(lstm(packed)[0], batch_first=True, total_length=x.shape[1])[0]


class PaddedBiLSTM(nn.Module):
    """A one-layer bidirectional LSTM without packed sequences (exportable to ONNX).

    The backward direction runs forwards over each utterance reversed within its own
    length, so padding never enters a valid frame's state: the outputs equal the packed
    ``nn.LSTM``'s (padded frames are zero).
    """

    def __init__(self, lstm: nn.LSTM) -> None:
        super().__init__()
        if not (lstm.bidirectional and lstm.batch_first and lstm.num_layers == 1 and lstm.proj_size == 0):
            raise ValueError("PaddedBiLSTM takes a one-layer, batch-first, bidirectional nn.LSTM")
        self.directions = nn.ModuleList()
        for suffix in ("", "_reverse"):
            one = nn.LSTM(lstm.input_size, lstm.hidden_size, batch_first=True, bias=lstm.bias)
            one.load_state_dict({k: getattr(lstm, k + suffix) for k in one.state_dict()})
            self.directions.append(one)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B, T, D), (B,) -> (B, T, 2H)."""
        t = torch.arange(x.shape[1], device=x.device)[None, :]  # (1, T)
        n = lengths[:, None]  # (B, 1)
        index = torch.where(t < n, n - 1 - t, t)  # (B, T): reversal within each length

        def flip(h: torch.Tensor) -> torch.Tensor:
            return h.gather(1, index[..., None].expand(-1, -1, h.shape[-1]))

        forward = self.directions[0](x)[0]
        backward = flip(self.directions[1](flip(x))[0])
        return torch.cat([forward, backward], dim=-1) * (t < n)[..., None].to(x.dtype)
