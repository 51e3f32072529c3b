"""The gloss vocabulary shared by every model, decoder and teacher."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from islpose.errors import VocabularyError

BLANK = "<blank>"
UNK = "<unk>"


class TokenList:
    """An immutable token list and its index, read from and written to a token file (one
    token per line, line number = index). Both directions come from the one list, so a
    token can never be missing from either. Subclasses name the tokens that must come
    first (``prefix``)."""

    prefix: tuple[str, ...] = ()

    def _set_tokens(self, tokens: Sequence[str]) -> None:
        for i, tok in enumerate(tokens):
            if not tok or any(c.isspace() for c in tok):
                raise VocabularyError(f"token {i} ({tok!r}) is empty or contains whitespace")
        if tuple(tokens[: len(self.prefix)]) != self.prefix:
            first = "first token" if len(self.prefix) == 1 else "first tokens"
            raise VocabularyError(f"the {first} must be {', '.join(map(repr, self.prefix))}")
        index = {tok: i for i, tok in enumerate(tokens)}
        if len(index) != len(tokens):
            dup = sorted({t for t in tokens if tokens.count(t) > 1})
            raise VocabularyError(f"duplicate tokens: {', '.join(dup[:5])}")
        self._tokens: tuple[str, ...] = tuple(tokens)
        self._index: dict[str, int] = index

    @classmethod
    def from_tokens(cls, tokens: Sequence[str]):
        """Exactly this token order (starting with :attr:`prefix`)."""
        vocab = cls.__new__(cls)
        vocab._set_tokens(list(tokens))
        return vocab

    @classmethod
    def load(cls, path: str | Path):
        """Reads a token file: one token per line, line number = index."""
        path = Path(path)
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise VocabularyError(f"{path}: cannot read token file ({exc.strerror or exc})") from exc
        try:
            return cls.from_tokens(lines)
        except VocabularyError as exc:
            raise VocabularyError(f"{path}: {exc}") from None

    def save(self, path: str | Path) -> None:
        """Writes the token file atomically: one token per line, line number = index."""
        from islpose.io.atomic import write_text_atomic

        write_text_atomic(path, "\n".join(self._tokens) + "\n")

    @property
    def tokens(self) -> tuple[str, ...]:
        """All tokens in index order."""
        return self._tokens

    def __len__(self) -> int:
        return len(self._tokens)

    def __contains__(self, token: object) -> bool:
        return token in self._index

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other._tokens == self._tokens

    def __hash__(self) -> int:
        return hash(self._tokens)


class Vocabulary(TokenList):
    """Maps glosses to CTC label indices and back.

    ``<blank>`` is index 0 (CTC blank, also used as padding), ``<unk>`` is index 1 when
    present, and the glosses follow in sorted order. Both directions are derived from
    one immutable token list, so a word can never be missing from either.

    Example:
        >>> v = Vocabulary(["GO", "I", "SCHOOL"])
        >>> v.encode("I GO SCHOOL".split())
        [3, 2, 4]
        >>> v.decode([3, 2, 4])
        ['I', 'GO', 'SCHOOL']
    """

    prefix = (BLANK,)

    def __init__(self, glosses: Iterable[str] = (), *, unk: bool = True) -> None:
        glosses = set(glosses)
        for special in (BLANK, UNK):
            glosses.discard(special)
        tokens = [BLANK] + ([UNK] if unk else []) + sorted(glosses)
        self._set_tokens(tokens)

    @classmethod
    def from_manifest(cls, path: str | Path, split: str | None = "train", *, unk: bool = True) -> Vocabulary:
        """Collects the glosses of one split (``None``: every utterance) of a manifest."""
        from islpose.manifests import select_utterances

        return cls((g for u in select_utterances(path, split, require=("glosses",)) for g in u.glosses), unk=unk)

    @property
    def blank_id(self) -> int:
        return 0

    @property
    def unk_id(self) -> int | None:
        """Index of ``<unk>``, or ``None`` when this vocabulary has none."""
        return self._index.get(UNK)

    @property
    def glosses(self) -> tuple[str, ...]:
        """The real glosses (no ``<blank>`` or ``<unk>``)."""
        return tuple(t for t in self._tokens if t not in (BLANK, UNK))

    def encode(self, glosses: Sequence[str]) -> list[int]:
        """Gloss list (or a space-separated string) -> indices; unknown glosses map to ``<unk>``.

        Raises:
            VocabularyError: a gloss is unknown and the vocabulary has no ``<unk>``.
        """
        if isinstance(glosses, str):
            glosses = glosses.split()
        unk = self.unk_id
        out = []
        for g in glosses:
            i = self._index.get(g, unk)
            if i is None:
                raise VocabularyError(f"gloss {g!r} is not in the vocabulary (which has no <unk>)")
            out.append(i)
        return out

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Indices -> tokens (blanks are kept; CTC collapsing is the decoder's job)."""
        n = len(self._tokens)
        out = []
        for i in ids:
            i = int(i)
            if not 0 <= i < n:
                raise VocabularyError(f"index {i} is outside the vocabulary (size {n})")
            out.append(self._tokens[i])
        return out

    def __getitem__(self, token: str) -> int:
        try:
            return self._index[token]
        except KeyError:
            raise VocabularyError(f"gloss {token!r} is not in the vocabulary") from None

    def __repr__(self) -> str:
        return f"Vocabulary({len(self)} tokens, unk={self.unk_id is not None})"


def build_vocabulary(
    manifest: str | Path, out: str | Path, split: str | None = "train", *, unk: bool = True, overwrite: bool = False
) -> Vocabulary:
    """Collects a manifest split's glosses (:meth:`Vocabulary.from_manifest`) and saves them to ``out``.

    Args:
        manifest: the manifest.
        out: the token file (one token per line); kept, an error, when it exists unless ``overwrite``.
        split: the split whose glosses form the vocabulary (None: every utterance).
        unk: reserve index 1 for ``<unk>``.
        overwrite: replace ``out`` when it exists.

    Returns:
        The vocabulary written.
    """
    from islpose.io.atomic import check_output

    check_output(out, overwrite, "vocabulary")
    vocab = Vocabulary.from_manifest(manifest, split=split, unk=unk)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    vocab.save(out)
    return vocab
