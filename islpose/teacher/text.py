"""The word vocabulary of the teacher's text decoder, built from the manifest's ``text``.

No tokenizer download: the spoken-language translations of the training split are
lower-cased and split into words and punctuation marks, and every word seen at least
``min_count`` times gets an index after the four special tokens.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

from islpose.errors import VocabularyError
from islpose.vocab import TokenList

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


class TextVocabulary(TokenList):
    """Word <-> index map of the text decoder: ``<pad>`` 0, ``<bos>`` 1, ``<eos>`` 2, ``<unk>`` 3,
    then the words in sorted order."""

    prefix = SPECIALS
    pad_id, bos_id, eos_id, unk_id = 0, 1, 2, 3

    def __init__(self, words: Iterable[str] = ()) -> None:
        self._set_tokens(list(SPECIALS) + sorted(set(words) - set(SPECIALS)))

    @classmethod
    def from_texts(cls, texts: Iterable[str], min_count: int = 1) -> TextVocabulary:
        """Words of ``texts`` that occur at least ``min_count`` times."""
        counts = Counter(w for t in texts for w in tokenize(t))
        return cls(w for w, c in counts.items() if c >= min_count)

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

    def __repr__(self) -> str:
        return f"TextVocabulary({len(self)} tokens)"
