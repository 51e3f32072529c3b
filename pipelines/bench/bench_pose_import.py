""".pose import throughput: ``islpose import-pose`` against reading the same files with
pose-format alone, measured side by side in one run.

The corpus is N copies of the real recordings in tests/data/poses (MediaPipe
Holistic, 576 points, pose-format v0.2; 130 and 97 frames), or, when that folder is
absent, N synthetic recordings written with ``islpose.extract.posefile.write_pose``. Each line
reads every file of the corpus once (warm page cache, after one warm-up pass), the best
of ``--repeats`` runs:

* ``pose-format Pose.read``: ``Pose.read(path.read_bytes())`` (pose-format 0.15, the
  dev extra), the arrays it returns and nothing else;
* ``islpose read_pose``: islpose's reader, giving (T, 543, 4) landmarks + presence;
* ``read_pose + features``: the same plus the pose and multimodal features
  (``compute_features``), in this process, nothing written;
* ``import-pose -j W``: the whole import into a fresh feature store: read, SHA-256 of the
  file, pose + multimodal features, one complete utterance written per file.

    python pipelines/bench/bench_pose_import.py --files 200 --repeats 3
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from islpose.extract.import_pose import import_poses
from islpose.extract.posefile import read_pose, write_pose
from islpose.extract.runner import ImportConfig
from islpose.features import compute_features

REAL_POSES = Path(__file__).resolve().parents[2] / "tests" / "data" / "poses"


def make_corpus(folder: Path, files: int, seed: int) -> str:
    """N .pose files in ``folder``; returns what they are copies of."""
    folder.mkdir(parents=True)
    real = sorted(REAL_POSES.glob("*.pose")) if REAL_POSES.is_dir() else []
    rng = np.random.default_rng(seed)
    for i in range(files):
        target = folder / f"u{i:05d}.pose"
        if real:
            shutil.copyfile(real[i % len(real)], target)
        else:
            T = int(rng.integers(80, 140))
            lm = rng.random((T, 543, 4), dtype=np.float32)
            write_pose(target, lm, 25.0, 640, 480)
    return f"copies of {', '.join(p.name for p in real)}" if real else "synthetic recordings"


def features(rec) -> dict:
    return compute_features(rec.landmarks, rec.presence, rec.width, rec.height)


def timed(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="import-pose worker counts to time")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    from pose_format import Pose  # the dev extra: pip install 'islpose[dev]'

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        what = make_corpus(tmp / "poses", args.files, args.seed)
        paths = sorted((tmp / "poses").glob("*.pose"))
        frames = sum(read_pose(p).num_frames for p in paths)  # also the warm-up pass
        megabytes = sum(p.stat().st_size for p in paths) / 1e6
        runs = {
            "pose-format Pose.read": lambda: [Pose.read(p.read_bytes()) for p in paths],
            "islpose read_pose": lambda: [read_pose(p) for p in paths],
            "read_pose + features": lambda: [features(read_pose(p)) for p in paths],
        }
        counter = iter(range(10**6))
        for w in args.workers:
            runs[f"import-pose -j {w}"] = lambda w=w: import_poses(
                [tmp / "poses"], tmp / f"store{next(counter)}.h5", ImportConfig(workers=w)
            )
        seconds = {name: timed(fn, args.repeats) for name, fn in runs.items()}

    base = seconds["pose-format Pose.read"]
    print(f"{args.files} files ({what}), {frames} frames, {megabytes:.0f} MB; best of {args.repeats}")
    print(f"{'':24s} {'files/s':>9s} {'frames/s':>10s} {'vs pose-format':>15s}")
    for name, s in seconds.items():
        print(f"{name:24s} {args.files / s:9.1f} {frames / s:10.0f} {base / s:14.2f}x")


if __name__ == "__main__":
    main()
