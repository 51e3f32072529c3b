"""The command-line skeleton and the data commands (vocab, validate)."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from islpose.cli.main import COMMANDS, cli
from islpose.io import FeatureStore

REQUIRED = {"extract", "featurize", "train", "decode", "distill", "teacher", "vocab"}


def _run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_help_lists_commands():
    result = _run("--help")
    assert result.exit_code == 0
    listed = {line.split()[0] for line in result.output.split("Commands:")[1].splitlines() if line.strip()}
    assert REQUIRED <= listed and listed == set(COMMANDS)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_has_help_with_example(name):
    result = _run(name, "--help")
    assert result.exit_code == 0, result.output
    assert "Example" in result.output and f"islpose {name}" in result.output


def test_version():
    assert _run("--version").output.startswith("islpose, version ")


def test_vocab_build(small_corpus, tmp_path):
    out = tmp_path / "sub" / "tokens.txt"
    result = _run("vocab", "build", small_corpus.manifest, out)
    assert result.exit_code == 0, result.output
    tokens = out.read_text().splitlines()
    assert tokens[:2] == ["<blank>", "<unk>"] and tokens[2:] == sorted(tokens[2:])
    assert f"{len(tokens)} tokens" in result.output
    result = _run("vocab", "build", small_corpus.manifest, out, "--no-unk", "--split", "all")
    assert result.exit_code == 1 and "already exists; pass --overwrite" in result.stderr  # an existing output is kept
    assert "<unk>" in out.read_text()
    result = _run("vocab", "build", small_corpus.manifest, out, "--no-unk", "--split", "all", "--overwrite")
    assert result.exit_code == 0 and "<unk>" not in out.read_text()


def test_user_error_is_one_line_without_traceback(tmp_path):
    result = _run("vocab", "build", tmp_path / "absent.jsonl", tmp_path / "t.txt")
    assert result.exit_code == 1
    assert result.stderr.strip().count("\n") == 0
    assert result.stderr.startswith("error: ") and "absent.jsonl" in result.stderr
    assert "Traceback" not in result.output


def test_debug_shows_the_exception(tmp_path):
    result = _run("--debug", "vocab", "build", tmp_path / "absent.jsonl", tmp_path / "t.txt")
    assert result.exit_code == 1 and result.exception is not None
    assert type(result.exception).__name__ == "ManifestError"


def test_usage_error_exits_2():
    assert _run("vocab", "build").exit_code == 2


def test_validate_clean(small_corpus):
    result = _run("validate", small_corpus.manifest, small_corpus.store, "--subsample", "2")
    assert result.exit_code == 0, result.output
    assert "18 utterances, no problems" in result.output


def test_validate_reports_problems(small_corpus, tmp_path):
    lines = small_corpus.manifest.read_text().splitlines()
    recs = [json.loads(line) for line in lines[:3]]
    recs.append(dict(recs[0]))  # duplicate id
    recs.append({"id": "ghost", "glosses": "G000", "split": "train"})  # no features
    recs.append({"id": "s00_u0001", "glosses": " ".join(["G001"] * 200), "split": "oops", "video": "none.mp4"})
    path = tmp_path / "bad.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    result = _run("validate", path, small_corpus.store, "--subsample", "2")
    assert result.exit_code == 1
    out = result.stdout
    for kind in ("duplicate-id", "no-features", "unknown-split", "missing-video", "ctc-too-short"):
        assert kind in out, kind
    assert "ghost: no features" in out
    assert result.stderr.startswith("error: ") and "problem(s) found" in result.stderr


def test_validate_at_the_models_frame_rate(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text('{"id": "a", "glosses": "A B C D"}\n')
    with FeatureStore(tmp_path / "f.h5", "w") as s:
        s.write("a", {"pose": np.zeros((5, 66))})
    assert _run("validate", path, tmp_path / "f.h5").exit_code == 0
    result = _run("validate", path, tmp_path / "f.h5", "--model", "bilstm_optimized")  # 5 frames -> 3 outputs
    assert result.exit_code == 1 and "ctc-too-short" in result.stdout
    result = _run("validate", path, tmp_path / "f.h5", "--model", "nope")
    assert result.exit_code == 1 and "unknown model 'nope'" in result.stderr


def test_validate_bad_store(small_corpus, tmp_path):
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not hdf5")
    result = _run("validate", small_corpus.manifest, bad)
    assert result.exit_code == 1 and "not an HDF5 file" in result.stderr


def test_validate_store_missing_utterance(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text('{"id": "a", "glosses": "A B"}\n{"id": "b", "glosses": "A"}\n')
    with FeatureStore(tmp_path / "f.h5", "w") as s:
        s.write("a", {"pose": np.zeros((4, 66))})
    result = _run("validate", path, tmp_path / "f.h5")
    assert result.exit_code == 1 and "b: no features" in result.stdout


def test_a_failure_whose_text_looks_like_markup_is_printed_as_it_is():
    """A file name with [/x] in it must not crash the progress bar's failure line (rich markup)."""
    import io

    from islpose.cli._progress import RichProgress

    with RichProgress("extract") as progress:
        progress.console.file = io.StringIO()
        progress.video("u1", "failed", 0, "videos/[/x]clip.mp4: not a video")
        assert "videos/[/x]clip.mp4: not a video" in progress.console.file.getvalue()
