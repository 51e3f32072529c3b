"""Legacy against tasks extraction backend on the same clips, in one run: speed and agreement.

The two backends need two MediaPipes (0.10.21 for ``mediapipe.solutions.holistic``, the
current one for the Tasks ``HolisticLandmarker``), so each runs in its own interpreter as a
subprocess of this driver (``--legacy-python``, ``--tasks-python``; this tree is put on
their ``PYTHONPATH``). Each worker runs :func:`islpose.extract.holistic.extract_landmarks`
over every clip and saves the landmarks; the two backends take turns, ``--repeats`` passes
each (the best time of each clip counts). The driver prints, per clip and over all clips:

* frames/s of each backend and their ratio (tasks / legacy);
* per component (pose, left hand, right hand, face), the median distance in pixels between
  the two backends' landmarks over the frames where both detect it;
* how often each backend detects each component.

With ``--noise-floor F``, the legacy backend also runs on frames in which a fraction ``F`` of
the pixel values is moved by one grey level (up or down, fixed seed), and the same agreement
is printed for legacy against that legacy run: how far the legacy backend itself moves under
a change to the pixels too small to see, for comparison with the tasks backend's distance.

The tasks backend runs with ``--model`` (MediaPipe's ``holistic_landmarker.task``, or the
test bundle of ``pipelines/tools/holistic_bundle.py``, which has the legacy weights).

Example:
    python pipelines/bench/bench_backends.py tests/data/videos/*.mp4 \\
        --legacy-python .venv/bin/python --tasks-python .venv-tasks/bin/python \\
        --model holistic_test.task
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
COMPONENTS = ("pose", "left_hand", "right_hand", "face")


class NoisyHolistic:
    """The legacy Holistic graph fed frames with ``fraction`` of their values moved by one grey level."""

    def __init__(self, fraction: float, seed: int = 0):
        from dataclasses import asdict

        import mediapipe as mp

        from islpose.extract.holistic import HolisticSettings

        self.fraction, self.rng = fraction, np.random.default_rng(seed)
        self.graph = mp.solutions.holistic.Holistic(static_image_mode=False, **asdict(HolisticSettings()))

    def __enter__(self) -> NoisyHolistic:
        return self

    def __exit__(self, *exc) -> None:
        self.graph.close()

    def process(self, rgb: np.ndarray):
        moved = self.rng.random(rgb.shape) < self.fraction
        step = np.where(self.rng.random(rgb.shape) < 0.5, -1, 1).astype(np.int16)
        return self.graph.process(np.clip(rgb + moved * step, 0, 255).astype(np.uint8))


def worker(backend: str, model: str | None, clips: list[str], repeats: int, out: Path, noise: float = 0.0) -> None:
    """Extracts every clip with ``backend`` and saves landmarks and best times to ``out`` (.npz)."""
    from islpose._native import silenced_stderr
    from islpose.extract.holistic import extract_landmarks, mediapipe_version
    from islpose.extract.holistic_tasks import TasksSettings, tasks_graph

    graph = tasks_graph(TasksSettings(model=model)) if backend == "tasks" else None
    if backend == "legacy-noise":

        def graph(cap):
            return NoisyHolistic(noise)

    arrays, info = {}, {"mediapipe": mediapipe_version(), "clips": []}
    for i, clip in enumerate(clips):
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            with silenced_stderr(True):
                data = extract_landmarks(clip, graph=graph)
            best = min(best, time.perf_counter() - start)
        arrays[f"lm{i}"], arrays[f"pr{i}"] = data.landmarks, data.presence
        info["clips"].append(
            {"clip": clip, "frames": len(data.landmarks), "seconds": best, "width": data.width, "height": data.height}
        )
    np.savez(out, info=json.dumps(info), **arrays)


def run_worker(
    python: str, backend: str, model: str | None, clips: list[str], repeats: int, work: Path, noise: float = 0.0
) -> dict:
    out = work / f"{backend}.npz"
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    cmd = [python, __file__, "--worker", backend, "--repeats", str(repeats), "--noise-floor", str(noise), *clips]
    if model:
        cmd += ["--model", model]
    subprocess.run(cmd + ["--out", str(out)], check=True, env=env)
    with np.load(out) as z:
        info = json.loads(str(z["info"]))
        for i, clip in enumerate(info["clips"]):
            clip["landmarks"], clip["presence"] = z[f"lm{i}"], z[f"pr{i}"]
    return info


def agreement(a: dict, b: dict) -> tuple[np.ndarray, np.ndarray]:
    """Per component: all pixel distances over frames where both detect it; and the
    (2, 4) detection counts."""
    from islpose.features.layout import SLICES

    scale = np.array([a["width"], a["height"]], dtype=np.float64)
    n = min(len(a["landmarks"]), len(b["landmarks"]))
    dists = []
    for c, rows in enumerate(SLICES.values()):
        both = a["presence"][:n, c] & b["presence"][:n, c]
        d = (a["landmarks"][:n][both][:, rows, :2] - b["landmarks"][:n][both][:, rows, :2]) * scale
        dists.append(np.hypot(d[..., 0], d[..., 1]).ravel())
    counts = np.stack([a["presence"][:n].sum(0), b["presence"][:n].sum(0)])
    return dists, counts


def report(legacy: dict, tasks: dict) -> None:
    print(f"legacy: mediapipe {legacy['mediapipe']}; tasks: mediapipe {tasks['mediapipe']}")
    print("other jobs may have shared this machine's CPUs during the run")
    all_d, all_counts, frames, t_leg, t_tas = [[] for _ in COMPONENTS], 0, 0, 0.0, 0.0
    header = (
        "clip".ljust(28)
        + "frames  legacy f/s  tasks f/s  ratio | median px "
        + " ".join(f"{c:>10}" for c in COMPONENTS)
    )
    print(header)
    for a, b in zip(legacy["clips"], tasks["clips"]):
        dists, counts = agreement(a, b)
        for c in range(4):
            all_d[c].append(dists[c])
        all_counts = all_counts + counts
        frames += a["frames"]
        t_leg, t_tas = t_leg + a["seconds"], t_tas + b["seconds"]
        fl, ft = a["frames"] / a["seconds"], b["frames"] / b["seconds"]
        med = " ".join(f"{np.median(d):10.2f}" if len(d) else f"{'-':>10}" for d in dists)
        print(f"{Path(a['clip']).name[:27]:28}{a['frames']:6}  {fl:10.1f}  {ft:9.1f}  {ft / fl:5.2f} | {'':9}{med}")
        print(
            f"{'':28}detected legacy/tasks: "
            + "  ".join(f"{c} {counts[0, i]}/{counts[1, i]}" for i, c in enumerate(COMPONENTS))
        )
    med = " ".join(f"{np.median(np.concatenate(d)):10.2f}" if sum(map(len, d)) else f"{'-':>10}" for d in all_d)
    fl, ft = frames / t_leg, frames / t_tas
    print(f"{'all clips':28}{frames:6}  {fl:10.1f}  {ft:9.1f}  {ft / fl:5.2f} | {'':9}{med}")
    print(
        "detection rate legacy/tasks: "
        + "  ".join(
            f"{c} {all_counts[0, i] / frames:.1%}/{all_counts[1, i] / frames:.1%}" for i, c in enumerate(COMPONENTS)
        )
    )


def report_noise_floor(legacy: dict, noisy: dict, fraction: float) -> None:
    print(f"noise floor: legacy against legacy with {fraction:.0%} of the pixel values moved by one grey level")
    print("clip".ljust(28) + "frames | median px " + " ".join(f"{c:>10}" for c in COMPONENTS))
    all_d, all_counts, frames = [[] for _ in COMPONENTS], 0, 0
    for a, b in zip(legacy["clips"], noisy["clips"]):
        dists, counts = agreement(a, b)
        for c in range(4):
            all_d[c].append(dists[c])
        all_counts, frames = all_counts + counts, frames + a["frames"]
        med = " ".join(f"{np.median(d):10.2f}" if len(d) else f"{'-':>10}" for d in dists)
        print(f"{Path(a['clip']).name[:27]:28}{a['frames']:6} | {'':9}{med}")
    med = " ".join(f"{np.median(np.concatenate(d)):10.2f}" if sum(map(len, d)) else f"{'-':>10}" for d in all_d)
    print(f"{'all clips':28}{frames:6} | {'':9}{med}")
    print(
        "detection rate legacy/noisy legacy: "
        + "  ".join(
            f"{c} {all_counts[0, i] / frames:.1%}/{all_counts[1, i] / frames:.1%}" for i, c in enumerate(COMPONENTS)
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("clips", nargs="+")
    parser.add_argument("--legacy-python", default=sys.executable, help="interpreter with mediapipe 0.10.21")
    parser.add_argument("--tasks-python", default=sys.executable, help="interpreter with the current mediapipe")
    parser.add_argument("--model", help="the tasks backend's .task file")
    parser.add_argument("--repeats", type=int, default=2, help="interleaved passes per backend (the best counts)")
    parser.add_argument(
        "--noise-floor",
        type=float,
        default=0.0,
        metavar="F",
        help="also run legacy with a fraction F of pixel values moved by one grey level",
    )
    parser.add_argument("--worker", choices=["legacy", "tasks", "legacy-noise"], help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.model, args.clips, args.repeats, args.out, args.noise_floor)
        return
    if not args.model:
        parser.error("--model is needed for the tasks backend")
    if not 0.0 <= args.noise_floor <= 1.0:
        parser.error("--noise-floor is a fraction between 0 and 1")
    legacy = tasks = None
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):  # interleaved, so that both see the same load; the best pass counts
            legacy = _best(legacy, run_worker(args.legacy_python, "legacy", None, args.clips, 1, Path(tmp)))
            tasks = _best(tasks, run_worker(args.tasks_python, "tasks", args.model, args.clips, 1, Path(tmp)))
        noisy = None
        if args.noise_floor > 0:
            noisy = run_worker(args.legacy_python, "legacy-noise", None, args.clips, 1, Path(tmp), args.noise_floor)
    report(legacy, tasks)
    if noisy is not None:
        report_noise_floor(legacy, noisy, args.noise_floor)


def _best(old: dict | None, new: dict) -> dict:
    """``new`` with each clip's time the shorter of its own and ``old``'s."""
    if old is not None:
        for a, b in zip(old["clips"], new["clips"]):
            b["seconds"] = min(a["seconds"], b["seconds"])
    return new


if __name__ == "__main__":
    main()
