"""`islpose prepare isl-csltr|include`: corpus recipes on small fake trees that mirror the
released layouts (tiny files stand in for the videos)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from islpose.cli.main import cli
from islpose.errors import IslposeError
from islpose.manifests import read_manifest
from islpose.manifests.corpora import normalize_gloss, normalize_glosses, prepare_include, prepare_isl_csltr


def touch(path: Path, data: bytes = b"not really a video") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


@pytest.mark.parametrize(
    "label, gloss",
    [
        ("4. sad", "SAD"),
        ("83. big large", "BIG-LARGE"),
        ("42. T-Shirt", "T-SHIRT"),
        ("Second (Number)", "SECOND-NUMBER"),
        ("12) hot", "HOT"),
        ("  Good Morning ", "GOOD-MORNING"),
        ("7", "7"),
        ("2nd floor", "2ND-FLOOR"),
        ("don't", "DON'T"),
        ("you_plural", "YOU-PLURAL"),
        ("?!", ""),
    ],
)
def test_gloss_normalisation_rule(label, gloss):
    assert normalize_gloss(label) == gloss


def test_gloss_sequences_split_on_spaces_and_commas():
    assert normalize_glosses(" you, FREE  today?") == ("YOU", "FREE", "TODAY")
    assert normalize_glosses("1. HELLO") == ("HELLO",)


# ----------------------------------------------------------------- ISL-CSLTR
@pytest.fixture
def csltr(tmp_path) -> Path:
    """ISL_CSLRT_Corpus as some mirrors ship it (doubled folder), with problems on purpose."""
    corpus = tmp_path / "download" / "ISL_CSLRT_Corpus" / "ISL_CSLRT_Corpus"
    videos = corpus / "Videos_Sentence_Level"
    for name in ("are you free today.mp4", "are you free today (2).mp4", "are you free today (3).mp4"):
        touch(videos / "are you free today" / name)
    for name in ("which collegeschool are you from.mp4", "which collegeschool are you from (4).MP4"):
        touch(videos / "which collegeschool are you from" / name)
    touch(videos / "not in the csv" / "not in the csv.mp4")
    touch(videos / "help me" / "help me.mp4", b"")  # empty
    touch(videos / "help me" / "Thumbs.db")
    (corpus / "Frames_Sentence_Level" / "are you free today").mkdir(parents=True)
    rows = [
        "Sentence,SIGN GLOSSES",
        "are you free today,YOU FREE TODAY",
        '"which college school are you from?","YOU COLLEGE, SCHOOL WHICH"',
        "help me,HELP ME",
        "broken row,",
        "never recorded,NEVER RECORDED",
    ]
    touch(corpus / "corpus_csv_files" / "ISL Corpus sign glosses.csv", ("\n".join(rows) + "\n").encode("utf-8-sig"))
    return tmp_path / "download"


def test_isl_csltr_recipe(csltr):
    result = prepare_isl_csltr(csltr)
    by_id = {u.id: u for u in result.utterances}
    assert sorted(by_id) == [
        "csltr-are-you-free-today-1",
        "csltr-are-you-free-today-2",
        "csltr-are-you-free-today-3",
        "csltr-which-college-school-are-you-from-1",
        "csltr-which-college-school-are-you-from-4",
    ]
    free = [by_id[f"csltr-are-you-free-today-{k}"] for k in (1, 2, 3)]
    assert [u.split for u in free] == ["test", "dev", "train"]
    assert [u.signer for u in free] == ["1", "2", "3"]
    assert free[0].glosses == ("YOU", "FREE", "TODAY") and free[0].text == "are you free today"
    assert by_id["csltr-which-college-school-are-you-from-4"].glosses == ("YOU", "COLLEGE", "SCHOOL", "WHICH")
    reasons = {Path(what).name: why for what, why in result.skipped}
    assert reasons["not in the csv.mp4"].startswith("sentence folder has no row")
    assert reasons["help me.mp4"] == "empty file" and reasons["Thumbs.db"] == "not a video file"
    assert "never recorded" in reasons and "help me" in reasons  # CSV rows without (usable) videos
    assert any(why == "CSV row without a sentence or without glosses" for _, why in result.skipped)


def test_isl_csltr_cli_writes_a_valid_manifest(csltr, tmp_path):
    out = tmp_path / "manifests" / "isl_csltr.jsonl"
    result = run("prepare", "isl-csltr", str(csltr), str(out))
    assert result.exit_code == 0, result.output
    assert "5 utterances (train 2, dev 1, test 2)" in result.output and "skipped" in result.output
    assert run("validate", str(out), "--require", "glosses", "--require", "split").exit_code == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert not Path(records[0]["video"]).is_absolute()  # relative to the manifest: the tree can move
    assert all(Path(u.video).is_file() for u in read_manifest(out))
    again = run("prepare", "isl-csltr", str(csltr), str(out))
    assert again.exit_code == 1 and "already exists" in again.output
    assert run("prepare", "isl-csltr", str(csltr), str(out), "--overwrite").exit_code == 0
    changed = run("prepare", "isl-csltr", str(csltr), str(out), "--overwrite", "--test-signers", "3,4")
    assert changed.exit_code == 0 and "test 2)" in changed.output and "dev 1" in changed.output


def test_isl_csltr_bad_roots(tmp_path, csltr):
    with pytest.raises(IslposeError, match="no folder 'Videos_Sentence_Level'"):
        touch(tmp_path / "only_csv" / "ISL Corpus sign glosses.csv", b"Sentence,SIGN GLOSSES\n")
        prepare_isl_csltr(tmp_path / "only_csv")
    with pytest.raises(IslposeError, match="both dev and test"):
        prepare_isl_csltr(csltr, test_signers=[1], dev_signers=[1])


# ----------------------------------------------------------------- INCLUDE
@pytest.fixture
def include_tree(tmp_path) -> Path:
    """Extracted Zenodo zips (one inside its wrapper folder) + the repository's split lists."""
    root = tmp_path / "INCLUDE"
    for clip in ("MVI_0001.MOV", "MVI_0002.MOV"):
        touch(root / "Adjectives_1of8" / "Adjectives" / "1. loud" / clip)
    touch(root / "Adjectives_1of8" / "Adjectives" / "83. big large" / "MVI_0003.MOV")
    for clip in ("MVI_0001.MOV", "MVI_0004.MOV", "MVI_0009.MOV"):
        touch(root / "Animals" / "1. Dog" / clip)
    for i in range(6):
        touch(root / "Greetings" / "55. Thank you" / f"C{i}.MOV")
    lists = root / "train_test_paths"
    touch(
        lists / "include_train.txt",
        "\n".join(
            [
                "Adjectives/1. loud/MVI_0001.MOV",
                "Animals/1. Dog/MVI_0001.MOV",
                "Adjectives/83. big large/MVI_0003.MOV",
                "this line is not a path",
                "Animals/1. Dog/MISSING.MOV",
                "Animals/1. Dog/MVI_0001.MOV",
                "",
            ]
        ).encode(),
    )
    touch(lists / "include_val.txt", b"Adjectives/1. loud/MVI_0002.MOV\n")
    touch(lists / "include_test.txt", b"Animals/1. Dog/MVI_0004.MOV\n")
    touch(lists / "include50_train.txt", "\n".join(f"Greetings/55. Thank you/C{i}.MOV" for i in range(6)).encode())
    touch(lists / "include50_test.txt", b"Animals/1. Dog/MVI_0009.MOV\n")
    return root


def test_include_recipe_uses_the_official_split(include_tree):
    result = prepare_include(include_tree)
    assert sorted((u.id, u.glosses[0], u.split) for u in result.utterances) == [
        ("include-adjectives-big-large-mvi-0003", "BIG-LARGE", "train"),
        ("include-adjectives-loud-mvi-0001", "LOUD", "train"),
        ("include-adjectives-loud-mvi-0002", "LOUD", "dev"),
        ("include-animals-dog-mvi-0001", "DOG", "train"),
        ("include-animals-dog-mvi-0004", "DOG", "test"),
    ]
    reasons = sorted(why for _, why in result.skipped)
    assert reasons.count("malformed line (expected <Category>/<N. word>/<clip>.MOV)") == 1
    assert reasons.count("listed clip not found under ROOT") == 1 and reasons.count("clip listed twice") == 1
    assert reasons.count("clip in none of the include split lists") == 7  # MVI_0009 + the six Thank-you clips


def test_include50_without_a_val_list_carves_dev_from_train_with_a_fixed_seed(include_tree):
    first = prepare_include(include_tree, "include50")
    splits = sorted((u.id, u.split) for u in first.utterances)
    assert [s for _, s in splits].count("dev") == 1 and [s for _, s in splits].count("train") == 5
    assert splits == sorted((u.id, u.split) for u in prepare_include(include_tree, "include50").utterances)
    assert {u.glosses for u in first.utterances} == {("THANK-YOU",), ("DOG",)}


def test_include_cli_and_missing_lists(include_tree, tmp_path):
    out = tmp_path / "include50.jsonl"
    result = run("prepare", "include", str(include_tree), str(out), "--subset", "include50")
    assert result.exit_code == 0, result.output
    assert "7 utterances (train 5, dev 1, test 1)" in result.output
    assert run("validate", str(out), "--require", "glosses").exit_code == 0
    lists = include_tree / "train_test_paths"
    moved = lists.rename(tmp_path / "lists")
    missing = run("prepare", "include", str(include_tree), str(tmp_path / "x.jsonl"))
    assert missing.exit_code == 1 and "official split lists" in missing.output and "--lists" in missing.output
    assert run("prepare", "include", str(include_tree), str(tmp_path / "x.jsonl"), "--lists", str(moved)).exit_code == 0
