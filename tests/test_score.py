"""WER scoring with jiwer, gloss files and `islpose score`."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from islpose.cli.main import cli
from islpose.decode import error_details, read_glosses, read_references, score_texts, write_glosses
from islpose.errors import IslposeError
from islpose.manifests import Utterance, write_manifest


def _edit_counts(ref: list[str], hyp: list[str]) -> tuple[int, int]:
    """(edit distance, len(ref)) by a plain dynamic programme, independent of jiwer."""
    d = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, d[0] = d[0], i
        for j, h in enumerate(hyp, 1):
            prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (r != h))
    return d[-1], len(ref)


@pytest.mark.parametrize(
    "ref, hyp, sdi",
    [
        ("I GO SCHOOL", "I GO SCHOOL", (0, 0, 0)),
        ("I GO SCHOOL", "I GO HOME", (1, 0, 0)),
        ("I GO SCHOOL", "I SCHOOL", (0, 1, 0)),
        ("I GO SCHOOL", "I GO TO SCHOOL", (0, 0, 1)),
        ("I GO SCHOOL", "", (0, 3, 0)),
        ("A B C D", "X A B D D", (1, 0, 1)),
    ],
)
def test_score_counts(ref, hyp, sdi):
    r = score_texts({"u": ref}, {"u": hyp})
    assert (r.substitutions, r.deletions, r.insertions) == sdi
    assert r.ref_words == len(ref.split()) and r.utterances == 1
    assert r.wer == pytest.approx(sum(sdi) / len(ref.split()))
    assert sum(sdi) == _edit_counts(ref.split(), hyp.split())[0]


def test_corpus_wer_pools_errors_over_utterances():
    refs = {"a": "I GO SCHOOL", "b": "YOU COME", "c": "HELLO"}
    hyps = {"c": ["HELLO", "HELLO"], "a": ["I", "SCHOOL"], "b": ["YOU", "GO"]}  # order does not matter
    r = score_texts(refs, hyps)
    errors = sum(_edit_counts(refs[u].split(), hyps[u])[0] for u in refs)
    assert (r.ref_words, r.utterances) == (6, 3)
    assert r.wer == pytest.approx(errors / 6)
    assert "WER 50.00%" in r.summary() and "6 reference glosses" in r.summary()


@pytest.mark.parametrize(
    "hyps, message",
    [
        ({"a": "I"}, r"1 utterance id\(s\) missing from hyp.tsv: 'b'"),
        ({"a": "I", "b": "GO", "z": "X"}, r"1 utterance id\(s\) in hyp.tsv but not in ref.tsv: 'z'"),
    ],
)
def test_missing_or_extra_ids_are_errors(hyps, message):
    with pytest.raises(IslposeError, match=message):
        score_texts({"a": "I", "b": "GO"}, hyps, ref_name="ref.tsv", hyp_name="hyp.tsv")


def test_gloss_files_round_trip(tmp_path):
    items = {"u1": ["I", "GO"], "u 2": [], "u3": ["HELLO"]}
    path = write_glosses(items, tmp_path / "sub" / "h.tsv")
    assert path.read_text() == "u1\tI GO\nu 2\t\nu3\tHELLO\n"
    assert read_glosses(path) == items


@pytest.mark.parametrize(
    "text, message",
    [
        ("u1\tA\nu1\tB\n", r"h.tsv:2: id 'u1' appears twice"),
        ("u1 A B\n", r"h.tsv:1: expected 'id<TAB>glosses'"),
        ("\tA B\n", r"h.tsv:1: expected 'id<TAB>glosses'"),
    ],
)
def test_bad_gloss_files(tmp_path, text, message):
    (tmp_path / "h.tsv").write_text(text)
    with pytest.raises(IslposeError, match=message):
        read_glosses(tmp_path / "h.tsv")


def test_references_from_a_manifest(tmp_path):
    m = write_manifest(
        [
            Utterance("a", glosses=("I", "GO"), split="dev"),
            Utterance("b", glosses=("X",), split="test"),
            Utterance("c", split="dev"),
        ],
        tmp_path / "m.jsonl",
    )
    assert read_references(m, "test") == {"b": ["X"]}
    with pytest.raises(IslposeError, match="1 of 2 dev utterance\\(s\\) have no 'glosses', e.g. 'c'"):
        read_references(m, "dev")
    with pytest.raises(IslposeError, match="--split only applies to a manifest"):
        read_references(write_glosses({"a": ["I"]}, tmp_path / "r.tsv"), "dev")


def test_score_cli(tmp_path):
    ref = write_glosses({"a": ["I", "GO", "SCHOOL"], "b": ["YOU", "COME"]}, tmp_path / "ref.tsv")
    hyp = write_glosses({"b": ["YOU", "COME", "NOW"], "a": ["I", "SCHOOL"]}, tmp_path / "hyp.tsv")
    out = tmp_path / "wer.json"
    result = CliRunner().invoke(cli, ["score", str(ref), str(hyp), "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "WER 40.00% (S=0 D=1 I=1, 5 reference glosses, 2 utterances)" in result.output
    assert json.loads(out.read_text()) == {
        "wer": 0.4,
        "substitutions": 0,
        "deletions": 1,
        "insertions": 1,
        "ref_words": 5,
        "utterances": 2,
    }

    short = write_glosses({"a": ["I"]}, tmp_path / "short.tsv")
    result = CliRunner().invoke(cli, ["score", str(ref), str(short)])
    assert result.exit_code == 1
    assert "error: 1 utterance id(s) missing from" in result.output and "'b'" in result.output
    result = CliRunner().invoke(cli, ["score", str(short), str(hyp)])
    assert result.exit_code == 1 and "but not in" in result.output


def test_score_cli_with_a_manifest_reference(tmp_path):
    m = write_manifest(
        [Utterance("a", glosses=("I", "GO"), split="dev"), Utterance("b", glosses=("X",), split="test")],
        tmp_path / "m.jsonl",
    )
    hyp = write_glosses({"a": ["I", "GO"]}, tmp_path / "hyp.tsv")
    result = CliRunner().invoke(cli, ["score", str(m), str(hyp), "--split", "dev"])
    assert result.exit_code == 0 and "WER 0.00%" in result.output


def test_error_details_align_and_count():
    refs = {"a": "I GO SCHOOL NOW", "b": "A B", "c": "YOU COME", "d": "GO HOME"}
    hyps = {"a": "I WENT SCHOOL", "b": "A X B", "c": "YOU COME", "d": "WENT HOME"}
    d = error_details(refs, hyps)
    assert d.alignments["a"] == ["REF: I GO   SCHOOL NOW", "HYP: I WENT SCHOOL ***", "       S           D"]
    assert d.alignments["b"] == ["REF: A * B", "HYP: A X B", "       I"]
    assert d.alignments["c"][2].strip() == ""
    assert d.substitutions == {("GO", "WENT"): 2} and d.deletions == {"NOW": 1} and d.insertions == {"X": 1}
    report = d.report(top=5)
    assert "c\n" not in report and "3 of 4 utterances with errors" in report
    assert "most frequent substitutions (reference -> hypothesis): 2 in all\n     2  GO -> WENT" in report
    r = score_texts(refs, hyps)  # the details count what the WER counts
    assert (r.substitutions, r.deletions, r.insertions) == (
        sum(d.substitutions.values()),
        sum(d.deletions.values()),
        sum(d.insertions.values()),
    )
    with pytest.raises(IslposeError, match="missing from"):
        error_details(refs, {"a": "I"})


def test_score_cli_details(tmp_path):
    ref = write_glosses({"a": ["I", "GO", "SCHOOL"], "b": ["YOU", "COME"]}, tmp_path / "ref.tsv")
    hyp = write_glosses({"a": ["I", "SCHOOL"], "b": ["YOU", "COME", "NOW"]}, tmp_path / "hyp.tsv")
    details = tmp_path / "out" / "errors.txt"
    args = ["score", str(ref), str(hyp), "--details", str(details)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "REF: I GO SCHOOL\n  HYP: I ** SCHOOL\n         D" in result.output
    text = details.read_text()
    assert text.startswith("WER 40.00%") and "most frequent deletions: 1 in all\n     1  GO" in text
    assert "most frequent insertions: 1 in all\n     1  NOW" in text
    details.write_text("mine")
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1 and "--overwrite" in result.output and details.read_text() == "mine"
    result = CliRunner().invoke(cli, args + ["--overwrite"])
    assert result.exit_code == 0 and details.read_text().startswith("WER 40.00%")
