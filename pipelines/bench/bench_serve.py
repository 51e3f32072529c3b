"""`islpose serve` under load, over loopback: throughput, latency, bad uploads and memory.

Starts ``islpose serve`` as its own process on a free 127.0.0.1 port with a student at its
default size (randomly initialised unless ``--checkpoint`` is given: speed does not depend on
the weights) and real clips (``tests/data``: ``continuous_signing.pose``, 130 frames;
``webcam_signer.mp4``, 58 frames through MediaPipe Holistic). Then, one after another:

1. latency: requests/s and p50/p95 milliseconds for ``.pose`` and video uploads with 1 and
   8 concurrent clients, ``--seconds`` each;
2. bad uploads: 120 of them (junk bytes, truncated clips, empty files, wrong types,
   oversized bodies, names such as ``../../etc/passwd``), each must be answered 4xx; then
   ``/health`` and a good upload must still answer 200;
3. load: 8 clients (pose and video uploads alternating) for ``--load-seconds``: errors in
   the first 60 s and overall, and the server's resident memory sampled once a second: its
   mean over 45-75 s (after the first minute) against its mean over the last 30 s of the load.

Every loop is bounded by time or count and only talks to 127.0.0.1.

    nice python pipelines/bench/bench_serve.py --seconds 20 --load-seconds 600
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data"
POSE, VIDEO = DATA / "poses" / "continuous_signing.pose", DATA / "videos" / "webcam_signer.mp4"


def _checkpoint(folder: Path, vocab_size: int) -> Path:
    """A default-size bilstm_optimized checkpoint with random weights and ``vocab_size`` classes."""
    from islpose import Vocabulary
    from islpose.models import build_model
    from islpose.train import save_checkpoint

    vocab = Vocabulary([f"G{i:04d}" for i in range(vocab_size - 2)])
    model = build_model("bilstm_optimized", None, vocab_size=len(vocab)).eval()
    return save_checkpoint(
        folder / "bilstm.pt", model, vocab, {"model": "bilstm_optimized", "model_config": {}, "train": {}}, {"epoch": 0}
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _start_server(checkpoint: Path, port: int, args) -> subprocess.Popen:
    cmd = [
        sys.executable,
        "-m",
        "islpose.cli.main",
        "serve",
        "--checkpoint",
        str(checkpoint),
        "--port",
        str(port),
        "--workers",
        str(args.workers),
        "--beam",
        str(args.beam),
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit("the server did not answer /health within 120 s")


def _load(url: str, clients: int, seconds: float, files: list[Path], on_tick=None) -> dict:
    """``clients`` threads upload ``files`` in turn for ``seconds``: latencies, errors (with the
    time they happened) and requests made."""
    stop = time.monotonic() + seconds
    latencies, errors, lock = [], [], threading.Lock()
    blobs = [(f.name, f.read_bytes()) for f in files]
    start = time.monotonic()

    def client(k: int) -> None:
        with httpx.Client(base_url=url, timeout=600) as c:
            i = k
            while time.monotonic() < stop:
                name, blob = blobs[i % len(blobs)]
                i += 1
                t0 = time.monotonic()
                try:
                    status = c.post("/recognize", files={"file": (name, blob)}).status_code
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                with lock:
                    (latencies if status == 200 else errors).append(
                        (time.monotonic() - t0) if status == 200 else (time.monotonic() - start, status)
                    )

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        if on_tick is not None:
            on_tick(time.monotonic() - start)
        time.sleep(1.0)
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    return {"latencies": latencies, "errors": errors, "elapsed": elapsed}


def _latency_row(what: str, clients: int, out: dict) -> str:
    lat = sorted(out["latencies"])
    if not lat:
        return f"{what:<8} {clients:>7} {'-':>7} {'-':>9} {'-':>9} {len(out['errors']):>7}"
    p50 = statistics.median(lat) * 1000
    p95 = lat[min(len(lat) - 1, int(round(0.95 * (len(lat) - 1))))] * 1000
    return (
        f"{what:<8} {clients:>7} {len(lat) / out['elapsed']:>7.2f} {p50:>9.0f} {p95:>9.0f} "
        f"{len(out['errors']):>7}   ({len(lat)} requests in {out['elapsed']:.0f} s)"
    )


def _bad_uploads(limit_bytes: int) -> list[tuple[str, bytes]]:
    video, pose = VIDEO.read_bytes(), POSE.read_bytes()
    kinds = [
        ("junk.mp4", os.urandom(4096)),
        ("junk.pose", os.urandom(4096)),
        ("cut.mp4", video[: len(video) // 3]),
        ("cut.pose", pose[: len(pose) // 2]),
        ("empty.mp4", b""),
        ("empty.pose", b""),
        ("notes.txt", b"hello"),
        ("photo.jpg", (DATA / "images" / "full_body.jpg").read_bytes()),
        ("../../etc/passwd", b"root:x:0:0:root:/root:/bin/bash\n"),
        ("..\\..\\boot.ini", b"[boot]"),
        ("clip", pose),
        ("big.mp4", b"\0" * (limit_bytes + 1)),
    ]
    return [kinds[i % len(kinds)] for i in range(120)]


def _bad_phase(url: str) -> None:
    limit = int(httpx.get(url + "/health").json()["max_upload_mb"] * 1e6)
    statuses: dict[str, list] = {}
    with httpx.Client(base_url=url, timeout=120) as c:
        for name, blob in _bad_uploads(limit):
            try:
                status = c.post("/recognize", files={"file": (name, blob)}).status_code
            except httpx.HTTPError as exc:
                status = type(exc).__name__
            statuses.setdefault(name, []).append(status)
        health = c.get("/health").status_code
        good = c.post("/recognize", files={"file": (POSE.name, POSE.read_bytes())}).status_code
    every = [s for v in statuses.values() for s in v]
    four = sum(isinstance(s, int) and 400 <= s < 500 for s in every)
    print(
        f"bad uploads: {len(every)} sent, {four} answered 4xx, {len(every) - four} otherwise; "
        f"then /health {health}, a good upload {good}"
    )
    for name, v in statuses.items():
        print(f"  {name!r:<22} {sorted(set(map(str, v)))} x{len(v)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, help="model to serve (default: random default-size bilstm)")
    parser.add_argument("--vocab", type=int, default=1229, help="classes of the random model, blank included")
    parser.add_argument("--workers", type=int, default=2, help="the server's recognition workers")
    parser.add_argument("--beam", type=int, default=5, help="the server's beam size (1 = greedy)")
    parser.add_argument("--seconds", type=float, default=20, help="duration of each latency phase")
    parser.add_argument("--load-seconds", type=float, default=600, help="duration of the load and memory phase")
    parser.add_argument("--phases", default="latency,bad,load", help="which phases to run (comma-separated)")
    args = parser.parse_args()
    if not POSE.is_file() or not VIDEO.is_file():
        raise SystemExit(f"real clips not found under {DATA}")
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = args.checkpoint or _checkpoint(Path(tmp), args.vocab)
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        server = _start_server(checkpoint, port, args)
        try:
            print(
                f"islpose serve: {checkpoint.name}, {args.workers} workers, beam {args.beam}, "
                f"{os.cpu_count()} CPUs (shared with other jobs: see the load average below)"
            )
            print(f"load average before: {os.getloadavg()[0]:.1f}")
            print(f"{'upload':<8} {'clients':>7} {'req/s':>7} {'p50 ms':>9} {'p95 ms':>9} {'errors':>7}")
            phases = set(args.phases.split(","))
            for what, path in (("pose", POSE), ("video", VIDEO)) if "latency" in phases else ():
                for clients in (1, 8):
                    print(_latency_row(what, clients, _load(url, clients, args.seconds, [path])), flush=True)
            if "bad" in phases:
                _bad_phase(url)
            if "load" not in phases:
                return
            samples: list[tuple[float, float]] = []  # (seconds into the load, RSS MB), one a second
            rss_start = _rss_mb(server.pid)
            out = _load(
                url,
                8,
                args.load_seconds,
                [POSE, VIDEO],
                lambda t: samples.append((t, _rss_mb(server.pid))) if t <= args.load_seconds else None,
            )
            early = [e for e in out["errors"] if e[0] <= 60]
            print(
                f"load: 8 clients, pose and video alternating, {args.load_seconds:.0f} s (+ the requests in flight "
                f"then): {len(out['latencies'])} requests answered 200, {len(early)} errors in the first 60 s, "
                f"{len(out['errors'])} in all {sorted({str(e[1]) for e in out['errors']})}"
            )
            first = [m for t, m in samples if 45 <= t <= 75]
            last = [m for t, m in samples if t >= args.load_seconds - 30]
            mean = lambda xs: sum(xs) / len(xs) if xs else float("nan")  # noqa: E731
            change = 100 * (mean(last) / mean(first) - 1)
            print(
                f"server RSS (MB): {rss_start:.0f} before the load; mean of 45-75 s {mean(first):.0f}, mean of the "
                f"last 30 s ({args.load_seconds / 60:.1f} min) {mean(last):.0f} ({change:+.1f}%); "
                f"min {min(m for _, m in samples):.0f}, max {max(m for _, m in samples):.0f} over the load"
            )
            print(f"load average after: {os.getloadavg()[0]:.1f}")
        finally:
            server.terminate()
            server.wait(30)


if __name__ == "__main__":
    main()
