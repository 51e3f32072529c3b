import pytest

from islpose import Vocabulary
from islpose.errors import IslposeError, VocabularyError
from islpose.manifests import Utterance, write_manifest


def test_layout_blank_unk_sorted():
    v = Vocabulary(["SCHOOL", "I", "GO", "I"])
    assert v.tokens == ("<blank>", "<unk>", "GO", "I", "SCHOOL")
    assert (v.blank_id, v.unk_id, len(v)) == (0, 1, 5)
    assert Vocabulary(["B", "A"], unk=False).tokens == ("<blank>", "A", "B")
    assert Vocabulary(["A"], unk=False).unk_id is None


def test_every_word_in_both_directions():
    words = [f"W{i}" for i in range(1228)]
    v = Vocabulary(words, unk=False)
    assert len(v) == 1229  # the first ISL corpus: 1228 glosses + <blank>
    for i, tok in enumerate(v.tokens):
        assert v[tok] == i and v.decode([i]) == [tok]
    ids = list(range(1, len(v)))
    assert v.encode(v.decode(ids)) == ids


def test_unknown_glosses():
    v = Vocabulary(["A", "B"])
    assert v.encode("A X B") == [2, 1, 3]
    with pytest.raises(VocabularyError, match="'X' is not in the vocabulary"):
        Vocabulary(["A"], unk=False).encode(["X"])
    with pytest.raises(VocabularyError, match="outside the vocabulary"):
        v.decode([7])


def test_save_load_roundtrip(tmp_path):
    v = Vocabulary(["B", "A", "C"])
    path = tmp_path / "tokens.txt"
    v.save(path)
    assert path.read_text().splitlines() == ["<blank>", "<unk>", "A", "B", "C"]
    assert Vocabulary.load(path) == v


@pytest.mark.parametrize(
    "content, message",
    [
        ("A\n<blank>\n", "first token must be '<blank>'"),
        ("<blank>\nA\nA\n", "duplicate tokens: A"),
        ("<blank>\nA B\n", "contains whitespace"),
        ("<blank>\n\nA\n", "empty"),
    ],
)
def test_load_rejects_bad_token_files(tmp_path, content, message):
    path = tmp_path / "tokens.txt"
    path.write_text(content)
    with pytest.raises(VocabularyError, match=message):
        Vocabulary.load(path)


def test_load_missing_file(tmp_path):
    with pytest.raises(VocabularyError, match="cannot read token file"):
        Vocabulary.load(tmp_path / "nope.txt")


def test_from_manifest_uses_train_split(tmp_path):
    utts = [
        Utterance("a", glosses=("I", "GO"), split="train"),
        Utterance("b", glosses=("YOU",), split="dev"),
        Utterance("c", glosses=("GO", "HOME"), split="train"),
    ]
    path = write_manifest(utts, tmp_path / "m.jsonl")
    assert Vocabulary.from_manifest(path).glosses == ("GO", "HOME", "I")
    assert Vocabulary.from_manifest(path, split=None).glosses == ("GO", "HOME", "I", "YOU")
    with pytest.raises(IslposeError, match="no utterances in split 'test'"):
        Vocabulary.from_manifest(path, split="test")
