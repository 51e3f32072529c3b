"""The library functions behind the CLI commands, called from Python (no click)."""

from __future__ import annotations

import json

import pytest

from islpose.decode import DecoderConfig, resolve_decoder_config, score_files, write_decoder_config
from islpose.errors import IslposeError
from islpose.manifests import validate_manifest
from islpose.vocab import Vocabulary, build_vocabulary


def _manifest(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_resolve_decoder_config_lets_only_the_given_options_override_the_file(tmp_path):
    saved = write_decoder_config(DecoderConfig(beam_size=9, word_score=1.5), tmp_path / "decode.yaml")
    options = {"beam_size": 3, "word_score": 0.0, "beam_threshold": 10.0}
    assert resolve_decoder_config(None, options) == DecoderConfig(beam_size=3, word_score=0.0, beam_threshold=10.0)
    assert resolve_decoder_config(saved, options) == DecoderConfig(beam_size=9, word_score=1.5)
    assert resolve_decoder_config(saved, options, given={"beam_size"}) == DecoderConfig(beam_size=3, word_score=1.5)


def test_score_files_writes_details_and_json_and_keeps_what_exists(tmp_path):
    ref = tmp_path / "ref.tsv"
    ref.write_text("u1\tI GO SCHOOL\nu2\tYOU EAT\n")
    hyp = tmp_path / "hyp.tsv"
    hyp.write_text("u1\tI GO HOME\nu2\tYOU EAT\n")
    result, report = score_files(ref, hyp, json_out=tmp_path / "wer.json", details=tmp_path / "sub" / "err.txt")
    assert (result.substitutions, result.deletions, result.insertions) == (1, 0, 0)
    assert json.loads((tmp_path / "wer.json").read_text())["substitutions"] == 1
    assert report and "SCHOOL" in report
    assert (tmp_path / "sub" / "err.txt").read_text() == f"{result.summary()}\n\n{report}"
    with pytest.raises(IslposeError, match="--overwrite|exists"):
        score_files(ref, hyp, json_out=tmp_path / "wer.json")
    assert score_files(ref, hyp, json_out=tmp_path / "wer.json", overwrite=True)[1] is None


def test_build_vocabulary_writes_the_train_glosses_and_keeps_an_existing_file(tmp_path):
    manifest = _manifest(
        tmp_path / "m.jsonl",
        [{"id": "a", "glosses": "I GO", "split": "train"}, {"id": "b", "glosses": "YOU", "split": "dev"}],
    )
    vocab = build_vocabulary(manifest, tmp_path / "run" / "tokens.txt")
    assert vocab.glosses == ("GO", "I") and Vocabulary.load(tmp_path / "run" / "tokens.txt") == vocab
    with pytest.raises(IslposeError):
        build_vocabulary(manifest, tmp_path / "run" / "tokens.txt", split=None)
    assert build_vocabulary(manifest, tmp_path / "run" / "tokens.txt", split=None, overwrite=True).glosses == (
        "GO",
        "I",
        "YOU",
    )


def test_validate_manifest_returns_every_problem(tmp_path):
    manifest = _manifest(
        tmp_path / "m.jsonl",
        [{"id": "a", "glosses": "I GO", "split": "train"}, {"id": "a", "glosses": "YOU", "split": "dev"}],
    )
    m, problems = validate_manifest(manifest)
    assert len(m) == 2 and problems
    assert validate_manifest(manifest, require=("signer",))[1] != problems


def test_plot_run_dirs_reports_each_unreadable_folder_and_refuses_when_none_is_left(tmp_path):
    from islpose.viz.curves import plot_run_dirs

    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    errors = []
    with pytest.raises(IslposeError, match="no run could be read"):
        plot_run_dirs([tmp_path / "a", tmp_path / "b"], tmp_path / "curves.png", on_error=errors.append)
    assert len(errors) == 2 and not (tmp_path / "curves.png").exists()
    with pytest.raises(IslposeError, match="unknown plot format"):
        plot_run_dirs([tmp_path / "a"], tmp_path / "curves.txt")
