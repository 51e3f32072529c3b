"""Rerun of a finished extraction: size + modification time first, against hashing every file.

Writes N small generated "videos" (random bytes, no MediaPipe: a stand-in loader gives
two frames of landmarks per file), extracts them once into a feature store with the
generic runner that ``islpose extract`` uses, then times reruns over the finished store,
interleaved and best of ``--repeats``:

* ``default``: size and modification time compared, no file read (``islpose extract``);
* ``--verify``: every file hashed (SHA-256), which is what every rerun did before.

Files are read from the page cache (they were just written), the best case for hashing;
on a cold cache or a network filesystem hashing costs far more.

    python pipelines/bench/bench_resume.py --videos 1000 --size-mb 1 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from islpose.extract.inputs import find_sources
from islpose.extract.runner import ImportConfig, run_items
from islpose.features.layout import Landmarks


def two_frames(path: Path, options: object, on_frames=None) -> Landmarks:
    """A stand-in loader: two frames of a centred pose (what MediaPipe would return)."""
    lm = np.full((2, 543, 4), 0.5, np.float32)
    lm[:, 11, 0], lm[:, 12, 0] = 0.4, 0.6
    return Landmarks(lm, np.ones((2, 4), bool), 25.0, 640, 480)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=int, default=1000)
    ap.add_argument("--size-mb", type=float, default=1.0, help="size of each generated file")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder, out = Path(tmp) / "videos", Path(tmp) / "feats.h5"
        folder.mkdir()
        for i in range(args.videos):
            (folder / f"v{i:05d}.mp4").write_bytes(os.urandom(int(args.size_mb * 2**20)))
        items = find_sources([folder], {".mp4"})
        metadata = {"extractor": {"name": "bench_resume"}}
        start = time.perf_counter()
        first = run_items(items, out, two_frames, None, metadata, ImportConfig(workers=1))
        print(f"first run: {len(first.done)} files stored in {time.perf_counter() - start:.2f} s")
        best: dict[str, float] = {}
        for _ in range(args.repeats):
            for name, verify in (("default (size + mtime)", False), ("--verify (SHA-256 of every file)", True)):
                start = time.perf_counter()
                summary = run_items(items, out, two_frames, None, metadata, ImportConfig(workers=1, verify=verify))
                seconds = time.perf_counter() - start
                assert len(summary.skipped) == args.videos, summary
                best[name] = min(best.get(name, seconds), seconds)
    total_gb = args.videos * args.size_mb / 1024
    print(f"\nrerun over {args.videos} stored files of {args.size_mb:g} MB ({total_gb:.2f} GB), best of {args.repeats}")
    print("| rerun | seconds | ms per file |\n| --- | ---: | ---: |")
    for name, seconds in best.items():
        print(f"| {name} | {seconds:.2f} | {1000 * seconds / args.videos:.2f} |")
    default, verify = best.values()
    print(f"\n--verify / default: {verify / default:.1f}x the time")


if __name__ == "__main__":
    main()
