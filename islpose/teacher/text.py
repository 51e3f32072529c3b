"""The word vocabulary of the teacher's text decoder, built from the manifest's ``text``.

No tokenizer download: the spoken-language translations of the training split are
lower-cased and split into words and punctuation marks, and every word seen at least
``min_count`` times gets an index after the four special tokens.
"""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Iterable, Sequence

from islpose.errors import VocabularyError

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIALS = (PAD, BOS, EOS, UNK)
_WORD = re.compile(r"\w+(?:'\w+)*|[^\w\s]")


def tokenize(text: str) -> list[str]:
    """Lower-cases ``text`` and splits it into words and single punctuation marks.

    Example:
        >>> tokenize("I go to school, don't I?")
        ['i', 'go', 'to', 'school', ',', "don't", 'i', '?']
    """
    return _WORD.findall(text.lower())


class TextVocabulary:
    """Word <-> index map of the text decoder: ``<pad>`` 0, ``<bos>`` 1, ``<eos>`` 2, ``<unk>`` 3,
    then the words in sorted order."""

    pad_id, bos_id, eos_id, unk_id = 0, 1, 2, 3

    def __init__(self, words: Iterable[str] = ()) -> None:
        self._set_tokens(list(SPECIALS) + sorted(set(words) - set(SPECIALS)))

    def _set_tokens(self, tokens: Sequence[str]) -> None:
        if tuple(tokens[:4]) != SPECIALS:
            raise VocabularyError(f"a text vocabulary must start with {', '.join(SPECIALS)}")
        for i, tok in enumerate(tokens):
            if not tok or any(c.isspace() for c in tok):
                raise VocabularyError(f"text token {i} ({tok!r}) is empty or contains whitespace")
        index = {tok: i for i, tok in enumerate(tokens)}
        if len(index) != len(tokens):
            raise VocabularyError("duplicate tokens in the text vocabulary")
        self._tokens = tuple(tokens)
        self._index = index

    @classmethod
    def from_texts(cls, texts: Iterable[str], min_count: int = 1) -> "TextVocabulary":
        """Words of ``texts`` that occur at least ``min_count`` times."""
        counts = Counter(w for t in texts for w in tokenize(t))
        return cls(w for w, c in counts.items() if c >= min_count)

    @classmethod
    def from_manifest(cls, path: str | Path, split: str | None = "train", min_count: int = 1) -> "TextVocabulary":
        """Builds the vocabulary from the ``text`` field of one split (``None``: all utterances).

        Raises:
            VocabularyError: no utterance of the split has a ``text``.
        """
        from islpose.manifests import read_manifest

        manifest = read_manifest(path)
        utts = manifest.utterances if split is None else manifest.split(split)
        texts = [u.text for u in utts if u.text]
        if not texts:
            raise VocabularyError(f"{path}: no utterance of split {split!r} has a 'text' field")
        return cls.from_texts(texts, min_count)

    @classmethod
    def from_tokens(cls, tokens: Sequence[str]) -> "TextVocabulary":
        """Exactly this token order (the four special tokens first)."""
        vocab = cls.__new__(cls)
        vocab._set_tokens(list(tokens))
        return vocab

    @classmethod
    def load(cls, path: str | Path) -> "TextVocabulary":
        """Reads a token file: one token per line, line number = index."""
        path = Path(path)
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise VocabularyError(f"{path}: cannot read text token file ({exc.strerror or exc})") from exc
        try:
            return cls.from_tokens(lines)
        except VocabularyError as exc:
            raise VocabularyError(f"{path}: {exc}") from None

    def save(self, path: str | Path) -> None:
        """Writes one token per line (line number = index)."""
        Path(path).write_text("\n".join(self._tokens) + "\n", encoding="utf-8")

    @property
    def tokens(self) -> tuple[str, ...]:
        return self._tokens

    def encode(self, text: str, *, bos: bool = True, eos: bool = True) -> list[int]:
        """Text -> indices, unknown words -> ``<unk>``, optionally framed by ``<bos>``/``<eos>``."""
        ids = [self._index.get(w, self.unk_id) for w in tokenize(text)]
        return [self.bos_id] * bos + ids + [self.eos_id] * eos

    def decode(self, ids: Iterable[int]) -> str:
        """Indices -> text: stops at ``<eos>``, drops ``<pad>``/``<bos>``, joins words by spaces."""
        words = []
        for i in ids:
            i = int(i)
            if i == self.eos_id:
                break
            if not 0 <= i < len(self._tokens):
                raise VocabularyError(f"text index {i} is outside the vocabulary (size {len(self)})")
            if i not in (self.pad_id, self.bos_id):
                words.append(self._tokens[i])
        return " ".join(words)

    def __len__(self) -> int:
        return len(self._tokens)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TextVocabulary) and other._tokens == self._tokens

    def __hash__(self) -> int:
        return hash(self._tokens)

    def __repr__(self) -> str:
        return f"TextVocabulary({len(self)} tokens)"
