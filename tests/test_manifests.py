import json
from pathlib import Path

import numpy as np
import pytest

from islpose.errors import ManifestError
from islpose.io import FeatureStore
from islpose.manifests import Manifest, Utterance, check_against_store, check_manifest, read_manifest, write_manifest


def _write_jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_roundtrip(tmp_path, suffix):
    (tmp_path / "v.mp4").write_bytes(b"x")
    utts = [
        Utterance("a", video=str(tmp_path / "v.mp4"), glosses=("I", "GO"), split="train", signer="s1", text="I go."),
        Utterance("b", glosses=("YOU",), split="dev"),
    ]
    path = write_manifest(utts, tmp_path / f"m{suffix}")
    m = read_manifest(path, check_videos=True)
    assert [u.to_record() for u in m] == [u.to_record() for u in utts]
    assert m.ids == ["a", "b"] and [u.id for u in m.split("dev")] == ["b"]
    assert m["a"].glosses == ("I", "GO")


def test_relative_video_resolved_against_manifest_folder(tmp_path):
    (tmp_path / "clips").mkdir()
    (tmp_path / "clips" / "a.mp4").write_bytes(b"x")
    path = _write_jsonl(tmp_path / "m.jsonl", [{"id": "a", "video": "clips/a.mp4", "glosses": ["I", "GO"]}])
    u = read_manifest(path, check_videos=True)["a"]
    assert u.video == str(tmp_path / "clips" / "a.mp4")
    assert u.glosses == ("I", "GO")  # a JSON list is accepted too


def test_duplicate_ids_report_both_lines(tmp_path):
    path = _write_jsonl(tmp_path / "m.jsonl", [{"id": "a"}, {"id": "b"}, {"id": "a"}])
    with pytest.raises(ManifestError, match=r"line 3: duplicate id 'a' \(first on line 1\)"):
        read_manifest(path)


@pytest.mark.parametrize(
    "record, message",
    [
        ({"video": "x.mp4"}, "missing required field 'id'"),
        ({"id": "a", "split": "validation"}, "unknown split 'validation'"),
        ({"id": "a", "gloss": "I GO"}, "unknown field"),
        ({"id": "a/b"}, "must not contain '/'"),
    ],
)
def test_bad_records(tmp_path, record, message):
    path = _write_jsonl(tmp_path / "m.jsonl", [record])
    with pytest.raises(ManifestError, match=message):
        read_manifest(path)


def test_missing_video_only_when_asked(tmp_path):
    path = _write_jsonl(tmp_path / "m.jsonl", [{"id": "a", "video": "gone.mp4"}])
    assert len(read_manifest(path)) == 1
    with pytest.raises(ManifestError, match="video not found"):
        read_manifest(path, check_videos=True)


def test_not_json_and_wrong_suffix(tmp_path):
    bad = tmp_path / "m.jsonl"
    bad.write_text('{"id": "a"}\nnot json\n')
    with pytest.raises(ManifestError, match=r"m.jsonl:2: not valid JSON"):
        read_manifest(bad)
    with pytest.raises(ManifestError, match="unknown manifest type"):
        read_manifest(tmp_path / "m.txt")
    with pytest.raises(ManifestError, match="cannot open manifest"):
        read_manifest(tmp_path / "absent.jsonl")


def test_csv_unknown_column(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("id,gloss\na,I\n")
    with pytest.raises(ManifestError, match="unknown column"):
        read_manifest(path)


def test_check_manifest_collects_everything(tmp_path):
    path = _write_jsonl(tmp_path / "m.jsonl", [{"id": "a", "split": "x"}, {"id": "a", "video": "v.mp4"}])
    problems = check_manifest(read_manifest(path, check=False), videos=True, require=["glosses"])
    assert sorted(p.kind for p in problems) == [
        "duplicate-id",
        "missing-glosses",
        "missing-glosses",
        "missing-video",
        "unknown-split",
    ]


def test_check_against_store(tmp_path):
    store_path = tmp_path / "f.h5"
    with FeatureStore(store_path, "w") as store:
        store.write("ok", {"pose": np.zeros((8, 66), np.float32)})
        store.write("short", {"pose": np.zeros((5, 66), np.float32)})
    m = Manifest(
        [
            Utterance("ok", glosses=("A", "A", "B")),
            Utterance("short", glosses=("A", "A", "B")),
            Utterance("gone", glosses=("A",)),
        ]
    )
    with FeatureStore(store_path) as store:
        assert [(p.kind, p.uid) for p in check_against_store(m, store)] == [("no-features", "gone")]
        # at 2x subsampling, 5 frames give 3 outputs but "A A B" needs 4 (a blank between the As)
        problems = check_against_store(m, store, subsample=2)
    assert [(p.kind, p.uid) for p in problems] == [("ctc-too-short", "short"), ("no-features", "gone")]
    assert "need 4 output frames but 5 frames give 3" in problems[0].message


def test_shipped_manifests_validate(media_dir):
    folder = Path(__file__).resolve().parents[1] / "data_manifests"
    for path in folder.glob("*.jsonl"):
        m = read_manifest(path, check_videos=True)
        assert len(m) > 0 and not check_manifest(m, videos=True, require=["video"])
