"""Text generation with the teacher's decoder: greedy and batched beam search.

Both encode the clips once and run the decoder over the growing prefix (no cache: texts
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
    return seq[:seq.index(EOS)] if EOS in seq else seq


@torch.no_grad()
def greedy_generate(model: torch.nn.Module, frames: torch.Tensor, lengths: torch.Tensor,
                    max_len: int | None = None) -> list[list[int]]:
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


@torch.no_grad()
def beam_generate(model: torch.nn.Module, frames: torch.Tensor, lengths: torch.Tensor, beam: int = 5,
                  max_len: int | None = None, length_penalty: float = 0.0) -> list[list[int]]:
    """Beam search over all B clips at once (B x beam hypotheses per step).

    A hypothesis ends at ``<eos>`` or at ``max_len``; the best of the final beam is chosen
    by ``log P / len ** length_penalty`` (0: plain log-probability). ``beam=1`` is greedy.

    Returns:
        B token id lists.
    """
    if beam < 1:
        raise IslposeError(f"beam must be >= 1, got {beam}")
    steps = _max_len(model, max_len)
    memory, mask = model.encode(frames, lengths)
    b, k, dev = len(frames), beam, frames.device
    memory, mask = memory.repeat_interleave(k, 0), mask.repeat_interleave(k, 0)  # (B K, T, D)
    tokens = torch.full((b * k, 1), BOS, dtype=torch.long, device=dev)
    scores = torch.full((b, k), float("-inf"), device=dev)
    scores[:, 0] = 0.0  # one live hypothesis to start with
    done = torch.zeros(b * k, dtype=torch.bool, device=dev)
    for _ in range(steps - 1):
        logp = model.decode_text(tokens, memory, mask)[:, -1].float().log_softmax(-1)  # (B K, V)
        vocab = logp.shape[1]
        logp[done] = float("-inf")
        logp[done, PAD] = 0.0  # a finished hypothesis only pads, at no cost
        cand = (scores.view(-1, 1) + logp).view(b, k * vocab)
        scores, idx = cand.topk(k, dim=1)  # (B, K)
        src = (torch.arange(b, device=dev)[:, None] * k + idx // vocab).view(-1)  # (B K,)
        tok = (idx % vocab).view(-1, 1)
        tokens = torch.cat([tokens[src], tok], dim=1)
        done = done[src] | (tok[:, 0] == EOS)
        if done.all():
            break
    seqs = [_strip(row) for row in tokens.tolist()]
    if length_penalty:
        lens = torch.tensor([len(s) + 1 for s in seqs], device=dev, dtype=torch.float).view(b, k)
        scores = scores / lens ** length_penalty
    best = scores.argmax(1).tolist()
    return [seqs[i * k + j] for i, j in enumerate(best)]
