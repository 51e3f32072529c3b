"""Frames/s of `islpose extract` against a bare decode + Holistic loop, in one run.

    python pipelines/bench/bench_extract.py [--copies 2] [--repeats 2] [CLIP ...]

Measures, on the same clips (each used ``--copies`` times under different names):
  * bare: cv2.VideoCapture decode -> RGB -> Holistic.process, a fresh Holistic per clip,
    nothing kept (the lower bound of what extraction costs);
  * extract, 1 worker: the library API (landmarks, features, hashing, HDF5 writes);
  * extract, N workers (default: all cores): the process pool.
and prints frames/s, the overhead ratio (extract 1 worker / bare) and the speed-up
(N workers / 1 worker). Default clips: the signing clips of tests/data/videos.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
VIDEOS = REPO / "tests" / "data" / "videos"
DEFAULT = ["studio_signer_9frames.mp4", "webcam_signer.mp4", "gestures_720p.mp4"]


def bare_loop(paths: list[Path]) -> int:
    import cv2
    import mediapipe as mp

    from islpose._native import silenced_stderr

    frames = 0
    for path in paths:
        cap = cv2.VideoCapture(str(path))
        with (
            silenced_stderr(),
            mp.solutions.holistic.Holistic(
                static_image_mode=False, model_complexity=1, refine_face_landmarks=False
            ) as holistic,
        ):
            while True:
                ok, frame = cap.read()
                if not ok:
                    break
                holistic.process(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
                frames += 1
        cap.release()
    return frames


def timed(fn) -> tuple[float, int]:
    start = time.perf_counter()
    frames = fn()
    return time.perf_counter() - start, frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("clips", nargs="*", default=[str(VIDEOS / c) for c in DEFAULT])
    parser.add_argument("--copies", type=int, default=2, help="use each clip this many times")
    parser.add_argument("--repeats", type=int, default=2, help="interleaved repeats; the best is kept")
    parser.add_argument("--workers", type=int, default=None, help="workers of the parallel run (default: all cores)")
    args = parser.parse_args()
    from islpose.extract.executors import default_workers
    from islpose.extract.videos import ExtractConfig, extract

    workers = args.workers or default_workers()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        paths = []
        for clip in map(Path, args.clips):
            if not clip.is_file():
                sys.exit(f"clip not found: {clip} (the real clips live in tests/data/videos)")
            for k in range(args.copies):
                link = tmp / f"{clip.stem}_{k}{clip.suffix}"
                link.symlink_to(clip.resolve())
                paths.append(link)

        def run(n: int) -> int:
            summary = extract(paths, tmp / f"bench_{n}.h5", ExtractConfig(workers=n, overwrite=True))
            if summary.failed:
                sys.exit(f"extraction failed: {summary.failed}")
            return summary.frames

        def bare() -> int:
            return bare_loop(paths)

        bare_loop(paths[:1])  # warm-up: imports, model load, file cache
        runs = {
            "bare loop (decode + Holistic)": bare,
            "islpose extract, 1 worker": lambda: run(1),
            f"islpose extract, {workers} workers": lambda: run(workers),
        }
        results: dict[str, tuple[float, int]] = {}
        for _ in range(args.repeats):  # interleaved, best of each: the cores are shared
            for name, fn in runs.items():
                seconds, frames = timed(fn)
                results[name] = min(results.get(name, (seconds, frames)), (seconds, frames))
    try:
        import pose_format  # noqa: F401

        print("pose-format is installed but not benchmarked here")
    except ImportError:
        print("(pose-format not installed: its video_to_pose is not compared)")
    fps = {}
    print(f"{len(paths)} videos, {results['bare loop (decode + Holistic)'][1]} frames")
    print("| run | seconds | frames/s |\n| --- | ---: | ---: |")
    for name, (seconds, frames) in results.items():
        fps[name] = frames / seconds
        print(f"| {name} | {seconds:.1f} | {fps[name]:.1f} |")
    names = list(fps)
    print(f"\nextract 1 worker / bare loop: {fps[names[1]] / fps[names[0]]:.2f}x (target >= 0.9)")
    print(f"extract {workers} workers / 1 worker: {fps[names[2]] / fps[names[1]]:.2f}x speed-up")


if __name__ == "__main__":
    main()
