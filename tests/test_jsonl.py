"""islpose.io.jsonl: the one reader and writers of JSON Lines files."""

from __future__ import annotations

import pytest

from islpose.errors import IslposeError, ManifestError
from islpose.io.jsonl import append_jsonl, read_jsonl, write_jsonl


def test_records_round_trip_with_their_line_numbers(tmp_path):
    path = tmp_path / "r.jsonl"
    write_jsonl(path, [{"id": "a", "text": "ñandú"}])
    append_jsonl(path, {"id": "b"})
    path.write_text(path.read_text(encoding="utf-8") + "\n", encoding="utf-8")  # blank lines are skipped
    append_jsonl(path, {"id": "c"})
    assert list(read_jsonl(path)) == [(1, {"id": "a", "text": "ñandú"}), (2, {"id": "b"}), (4, {"id": "c"})]
    assert "ñandú" in path.read_text(encoding="utf-8")  # written as it is, not \\u-escaped


@pytest.mark.parametrize(
    "text, what, message",
    [
        ('{"a": 1}\nnot json\n', None, r"r.jsonl:2: not valid JSON \(Expecting value\)$"),
        ("[1, 2]\n", None, r"r.jsonl:1: each line must be a JSON object$"),
        ('{"a": 1}\nnot json\n', "an epoch record", r"r.jsonl:2: not an epoch record \(invalid JSON: Expecting value"),
        ('"x"\n', "an epoch record", r"r.jsonl:1: not an epoch record \(not a JSON object\)$"),
    ],
)
def test_a_bad_line_is_named_by_file_and_line(tmp_path, text, what, message):
    path = tmp_path / "r.jsonl"
    path.write_text(text)
    with pytest.raises(ManifestError, match=message):
        list(read_jsonl(path, what, ManifestError))
    with pytest.raises(IslposeError, match=message):
        list(read_jsonl(path, what))


def test_write_jsonl_replaces_the_file_whole(tmp_path):
    path = tmp_path / "r.jsonl"
    write_jsonl(path, [{"id": i} for i in range(3)])
    write_jsonl(path, [{"id": "only"}])
    assert path.read_text() == '{"id": "only"}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["r.jsonl"]  # no temporary file left behind
