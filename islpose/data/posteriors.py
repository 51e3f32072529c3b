"""What a teacher-posterior store holds, and the checks that keep one teacher per store.

A feature store of teacher posteriors has, per utterance, ``teacher_logprobs`` (T_teacher,
V) float32, and root attributes ``teacher_vocab`` (JSON list of the gloss tokens, so that
``distill`` can check the student's vocabulary), ``teacher_sha256`` (the identity of the
teacher's weights: an export refuses to add posteriors of another teacher) and
``teacher`` (JSON facts for people: arch, checkpoint path, epoch, ...).
"""

from __future__ import annotations

import hashlib
import json

import torch
from torch import nn

from islpose.errors import StoreError, VocabularyError
from islpose.io import FeatureStore
from islpose.vocab import Vocabulary

TEACHER_DATASET = "teacher_logprobs"
VOCAB_ATTR = "teacher_vocab"
IDENTITY_ATTR = "teacher_sha256"


def weights_sha256(model: nn.Module) -> str:
    """SHA-256 of a model's weights (names, dtypes, shapes and values of its state dict):
    the same for a model and any checkpoint file that holds the same weights."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())  # raw bytes, any dtype
    return digest.hexdigest()


def teacher_vocab(store: FeatureStore) -> Vocabulary:
    """The vocabulary a teacher store was exported with.

    Raises:
        StoreError: the store has no ``teacher_vocab`` (not written by a teacher export) or
            one that is not a JSON token list.
    """
    raw = store.metadata.get(VOCAB_ATTR)
    if not raw:
        raise StoreError(f"{store.path}: no {VOCAB_ATTR!r} attribute (not a teacher export)")
    try:
        tokens = json.loads(raw)
        if not isinstance(tokens, list):
            raise ValueError("not a list")
        return Vocabulary.from_tokens(tokens)
    except (ValueError, TypeError, VocabularyError) as exc:
        raise StoreError(f"{store.path}: corrupt {VOCAB_ATTR!r} attribute ({exc})") from None


def check_teacher_vocab(store: FeatureStore, vocab: Vocabulary) -> None:
    """Raises StoreError unless the store's teacher vocabulary is exactly ``vocab``."""
    theirs = teacher_vocab(store)
    if theirs != vocab:
        diff = next(
            (i for i, (a, b) in enumerate(zip(theirs.tokens, vocab.tokens)) if a != b), min(len(theirs), len(vocab))
        )
        raise StoreError(
            f"{store.path}: teacher vocabulary ({len(theirs)} tokens) differs from this one "
            f"({len(vocab)} tokens), first at index {diff}"
        )


def claim_for_teacher(store: FeatureStore, identity: str) -> None:
    """Records ``identity`` in a store that has none yet; refuses a store of another teacher.

    Raises:
        StoreError: the store holds posteriors of a teacher with other weights, or
            posteriors written without an identity (by an older islpose).
    """
    theirs = store.metadata.get(IDENTITY_ATTR)
    if theirs == identity:
        return
    if theirs:
        raise StoreError(
            f"{store.path}: holds the posteriors of another teacher (weights sha256 {theirs[:12]}, "
            f"this one {identity[:12]}); export to another --out"
        )
    if len(store):
        raise StoreError(
            f"{store.path}: holds {len(store)} utterance(s) of an unknown teacher (no {IDENTITY_ATTR!r}); "
            "export to another --out"
        )
    store.set_metadata(**{IDENTITY_ATTR: identity})
