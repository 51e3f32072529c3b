"""Atomic writes: unique temporary names, the old file kept on failure, refusal to overwrite."""

import threading

import pytest

from islpose.errors import IslposeError
from islpose.io.atomic import Discard, atomic_path, atomic_write, check_output, write_text_atomic


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path):
    target = tmp_path / "tokens.txt"
    target.write_text("old")
    write_text_atomic(target, "new\n")
    assert target.read_text() == "new\n"
    assert [p.name for p in tmp_path.iterdir()] == ["tokens.txt"]


def test_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "config.yaml"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as handle:
            handle.write("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["config.yaml"]


def test_discard_keeps_the_old_file_without_an_error(tmp_path):
    target = tmp_path / "feats.h5"
    target.write_text("old")
    with atomic_path(target) as tmp:
        tmp.write_text("new, but not wanted")
        raise Discard
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["feats.h5"]


def test_concurrent_writers_use_distinct_temporary_files(tmp_path):
    target = tmp_path / "hyp.tsv"
    inside = threading.Barrier(2)
    names = []

    def writer(text):
        with atomic_path(target) as tmp:
            names.append(tmp)
            tmp.write_text(text)
            inside.wait(timeout=10)  # both temporary files exist at once

    threads = [threading.Thread(target=writer, args=(t,)) for t in ("a" * 1000, "b" * 1000)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert names[0] != names[1]
    assert target.read_text() in ("a" * 1000, "b" * 1000)


def test_check_output_refuses_existing_file(tmp_path):
    target = tmp_path / "out.h5"
    assert check_output(target, overwrite=False) == target
    target.write_text("x")
    with pytest.raises(IslposeError, match="--overwrite"):
        check_output(target, overwrite=False)
    assert check_output(target, overwrite=True) == target
    with pytest.raises(IslposeError, match="folder"):
        check_output(tmp_path, overwrite=True)


def test_written_file_has_the_permissions_open_gives(tmp_path):
    """mkstemp creates 0600 files: without the chmod, pictures and manifests islpose wrote
    were unreadable to the user's group, unlike files written by open()."""
    write_text_atomic(tmp_path / "a.txt", "x")
    with atomic_path(tmp_path / "b.mp4", keep_suffix=True) as tmp:
        assert tmp.suffix == ".mp4"
        tmp.write_bytes(b"x")
    with open(tmp_path / "c.txt", "w") as handle:
        handle.write("x")
    assert (tmp_path / "c.txt").stat().st_mode & 0o077, "this test needs a umask that lets others read"
    for name in ("a.txt", "b.mp4"):
        assert (tmp_path / name).stat().st_mode & 0o777 == (tmp_path / "c.txt").stat().st_mode & 0o777
