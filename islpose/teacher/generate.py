"""Text generation with the teacher's decoder: greedy (the dev BLEU of training).

It encodes the clips once and runs the decoder over the growing prefix (no cache: texts
are short). Results are token id lists without ``<bos>``/``<eos>``;
``TextVocabulary.decode`` turns them into words.
"""

from __future__ import annotations

import torch

from islpose.errors import IslposeError
from islpose.teacher.text import TextVocabulary

BOS, EOS, PAD = TextVocabulary.bos_id, TextVocabulary.eos_id, TextVocabulary.pad_id


def _max_len(model: torch.nn.Module, max_len: int | None) -> int:
    if model.decoder is None:
        raise IslposeError(f"{type(model).__name__} was built without a text decoder")
    limit = model.decoder.config.max_len
    return limit if max_len is None else min(max_len, limit)


def _strip(seq: list[int]) -> list[int]:
    seq = seq[1:]  # <bos>
    return seq[: seq.index(EOS)] if EOS in seq else seq


@torch.no_grad()
def greedy_generate(
    model: torch.nn.Module, frames: torch.Tensor, lengths: torch.Tensor, max_len: int | None = None
) -> list[list[int]]:
    """Most likely next token at every step.

    Args:
        model: a teacher with a text decoder (eval mode is the caller's choice).
        frames: (B, T, 3, H, W) normalised frames.
        lengths: (B,) valid frames.
        max_len: longest output in tokens, ``<bos>``/``<eos>`` included (default: the decoder's).

    Returns:
        B token id lists.
    """
    steps = _max_len(model, max_len)
    memory, mask = model.encode(frames, lengths)
    tokens = torch.full((len(frames), 1), BOS, dtype=torch.long, device=frames.device)
    done = torch.zeros(len(frames), dtype=torch.bool, device=frames.device)
    for _ in range(steps - 1):
        nxt = model.decode_text(tokens, memory, mask)[:, -1].argmax(-1)  # (B,)
        nxt = torch.where(done, torch.full_like(nxt, PAD), nxt)
        tokens = torch.cat([tokens, nxt[:, None]], dim=1)
        done |= nxt == EOS
        if done.all():
            break
    return [_strip(row) for row in tokens.tolist()]
