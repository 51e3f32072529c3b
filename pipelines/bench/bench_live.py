"""Live recognition: streaming WER against offline WER, commit latency and the live path's real-time factor.

Trains small students (``bilstm_optimized`` and the causal ``lstm_lookahead``) on a synthetic
corpus for a few seeds, then plays the held-out test signer's sentences back to back as one
live session (a signer signing sentence after sentence) through a
:class:`~islpose.recognize.stream.StreamingRecognizer` at several right contexts, and prints
for each model and right context:

* offline WER: each sentence recognised whole by the same model (``Recognizer``);
* streaming WER: the glosses committed in the session (final flush included) against the
  sentences' glosses;
* commit latency: ``emitted_at`` minus the true end of the sign (the corpus knows it), over
  the correctly committed glosses, p50 and p95 (media seconds);
* how many single-sentence streams end, after their flush, with exactly the offline glosses.

Then it times the whole live path (decoding, MediaPipe Holistic in video mode, features,
model, commit rule) on a real clip resized to 640x480 and prints its real-time factor
(media seconds per wall-clock second; >= 1 keeps up with a camera).

Example:
    nice python pipelines/bench/bench_live.py --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

STUDENTS = {  # small configs of about the same size (the tests' tiny BiLSTM and its causal twin)
    "bilstm_optimized": {"projection_dim": 64, "hidden_dim": 96, "num_layers": 2, "dropout": 0.1},
    "lstm_lookahead": {"projection_dim": 64, "hidden_dim": 128, "num_layers": 2, "lookahead": 3, "dropout": 0.1},
}
CONTEXTS = {"bilstm_optimized": (0.4, 0.6, 1.0), "lstm_lookahead": (0.2, 0.4, 0.6)}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--glosses", type=int, default=12)
    parser.add_argument("--signers", type=int, default=8, help="the last is the test signer, the one before dev")
    parser.add_argument("--utterances", type=int, default=60, help="sentences per signer")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--hop", type=float, default=0.25)
    parser.add_argument("--window", type=float, default=12.0)
    parser.add_argument(
        "--video",
        type=Path,
        default=Path(__file__).resolve().parents[2] / "tests/data/videos/gestures_720p.mp4",
        help="real clip for the real-time factor (resized to 640x480)",
    )
    parser.add_argument("--work", type=Path, help="folder for the corpus and runs (default: a temporary one)")
    parser.add_argument(
        "--rtf-only",
        type=Path,
        metavar="CHECKPOINT",
        help="only time the live path on --video with this checkpoint (no training)",
    )
    return parser.parse_args()


def train_students(corpus, args: argparse.Namespace, work: Path) -> dict[tuple[str, int], Path]:
    from rich.console import Console

    from islpose.train import resolve_config, train

    runs = {}
    for seed in args.seeds:
        for name, model_config in STUDENTS.items():
            out = work / f"{name}_s{seed}"
            if not (out / "best.pt").is_file():
                config = resolve_config(
                    name,
                    {
                        "model_config": model_config,
                        "train": {
                            "epochs": args.epochs,
                            "batch_size": 8,
                            "warmup_epochs": 1,
                            "lr": 3e-3,
                            "device": "cpu",
                            "progress": False,
                            "amp": False,
                            "patience": 0,
                            "seed": seed,
                            "threads": args.threads,
                        },
                    },
                )
                start = time.perf_counter()
                train(config, corpus.store, corpus.manifest, out, console=Console(quiet=True))
                print(f"trained {name} seed {seed} in {time.perf_counter() - start:.0f}s", flush=True)
            runs[name, seed] = out / "best.pt"
    return runs


def test_sentences(corpus) -> list[tuple[str, np.ndarray, list[str], list[tuple[int, int]]]]:
    """(id, landmarks (T, 543, 4), glosses, true spans) of the test signer's sentences, in order."""
    from islpose.io import FeatureStore
    from islpose.manifests import read_manifest

    out = []
    with FeatureStore(corpus.store) as store:
        for u in read_manifest(corpus.manifest):
            if u.split == "test":
                out.append((u.id, store.read(u.id, "landmarks"), list(u.glosses), corpus.spans[u.id]))
    return out


def _aligned_latencies(events, refs: list[tuple[str, float]]) -> list[float]:
    """emitted_at - true end over the committed glosses that an edit-distance alignment pairs
    with the same reference gloss."""
    import jiwer

    hyp = [e.gloss for e in events]
    out = jiwer.process_words(" ".join(g for g, _ in refs), " ".join(hyp))
    latencies = []
    for chunk in out.alignments[0]:
        if chunk.type == "equal":
            for i, j in zip(
                range(chunk.ref_start_idx, chunk.ref_end_idx), range(chunk.hyp_start_idx, chunk.hyp_end_idx)
            ):
                latencies.append(events[j].emitted_at - refs[i][1])
    return latencies


def evaluate(checkpoint: Path, sentences, contexts, args: argparse.Namespace) -> list[dict]:
    """One row per right context: offline and streaming WER, latency percentiles, flush agreement."""
    from islpose.decode.score import score_lists
    from islpose.recognize import Recognizer, StreamConfig
    from islpose.testing.synthetic import FPS, HEIGHT, WIDTH

    rec = Recognizer.from_checkpoint(checkpoint, beam=1)
    offline = [rec.recognize_landmarks(lm, FPS, WIDTH, HEIGHT).glosses for _, lm, _, _ in sentences]
    refs = [" ".join(g) for _, _, g, _ in sentences]
    offline_wer = score_lists([" ".join(refs)], [" ".join(offline)]).wer
    session = np.concatenate([lm for _, lm, _, _ in sentences])  # (T, 543, 4): sentence after sentence
    ends, first = [], 0
    for _, lm, glosses, spans in sentences:
        ends += [(g, (first + end) / FPS) for g, (_, end) in zip(glosses, spans)]
        first += len(lm)
    rows = []
    for context in contexts:
        config = StreamConfig(hop=args.hop, window=args.window, right_context=context, max_flush=len(session) / FPS + 1)
        stream = rec.stream(FPS, WIDTH, HEIGHT, config)
        start = time.perf_counter()
        live = [e for t in range(len(session)) for e in stream.push(session[t])]
        flushed = stream.flush()
        seconds = time.perf_counter() - start
        events = live + flushed
        latencies = np.array(_aligned_latencies(events, ends))
        same = 0
        for (_, lm, _, _), off in zip(sentences, offline):
            one = rec.stream(FPS, WIDTH, HEIGHT, StreamConfig(hop=args.hop, window=args.window, right_context=context))
            glosses = [e.gloss for t in range(len(lm)) for e in one.push(lm[t])] + [e.gloss for e in one.flush()]
            same += glosses == off.split()
        rows.append(
            {
                "context": context,
                "offline_wer": offline_wer,
                "stream_wer": score_lists([" ".join(refs)], [" ".join(e.gloss for e in events)]).wer,
                "p50": float(np.percentile(latencies, 50)) if len(latencies) else float("nan"),
                "p95": float(np.percentile(latencies, 95)) if len(latencies) else float("nan"),
                "live": len(live) / max(1, len(events)),
                "same": same,
                "sentences": len(sentences),
                "decode_rtf": len(session) / FPS / seconds,
            }
        )
    return rows


def print_table(results: dict[str, list[dict]]) -> dict[tuple[str, float], dict]:
    print(
        f"\n{'model':18} {'right ctx':>9} {'offline WER':>12} {'stream WER':>11} {'gap':>6} {'lat p50':>8} "
        f"{'lat p95':>8} {'live':>6} {'flush=offline':>14} {'decode x RT':>12}"
    )
    means = {}
    for name, rows in results.items():
        for context in sorted({r["context"] for r in rows}):
            sel = [r for r in rows if r["context"] == context]

            def mean(key: str, rows=sel) -> float:
                return float(np.mean([r[key] for r in rows]))

            m = {k: mean(k) for k in ("offline_wer", "stream_wer", "p50", "p95", "live", "decode_rtf")}
            m["same"], m["sentences"] = sum(r["same"] for r in sel), sum(r["sentences"] for r in sel)
            means[name, context] = m
            print(
                f"{name:18} {context:8.1f}s {100 * m['offline_wer']:11.2f}% {100 * m['stream_wer']:10.2f}% "
                f"{100 * (m['stream_wer'] - m['offline_wer']):+6.2f} {m['p50']:7.2f}s {m['p95']:7.2f}s "
                f"{100 * m['live']:5.1f}% {m['same']:6d}/{m['sentences']:<7d} {m['decode_rtf']:11.0f}x"
            )
    return means


def realtime_factor(checkpoint: Path, video: Path, work: Path, args: argparse.Namespace) -> None:
    """Times the whole live path on ``video`` resized to 640x480."""
    import cv2

    from islpose.recognize import Recognizer, StreamConfig
    from islpose.recognize.live import run_live
    from islpose.recognize.sources import VideoSource

    if not video.is_file():
        print(f"\nreal-time factor: skipped ({video} not found)")
        return
    clip = work / "clip_640x480.mp4"
    cap = cv2.VideoCapture(str(video))
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), fps, (640, 480))
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        writer.write(cv2.resize(frame, (640, 480), interpolation=cv2.INTER_AREA))
    cap.release()
    writer.release()
    start = time.perf_counter()
    frames = sum(1 for _ in VideoSource(clip).frames())
    holistic = frames / (time.perf_counter() - start)
    rec = Recognizer.from_checkpoint(checkpoint, beam=1)
    config = StreamConfig(hop=args.hop, window=args.window, right_context=CONTEXTS["lstm_lookahead"][1])
    stats = run_live(VideoSource(clip), rec, config)
    print(f"\nMediaPipe Holistic alone (decoding and landmarks): {holistic:.1f} frames/s")
    print(
        f"whole live path on {video.name} resized to 640x480 ({stats.frames} frames at {fps:.0f} fps, "
        f"Holistic model_complexity 1, {os.cpu_count()} CPUs): {stats.wall_seconds:.1f}s for "
        f"{stats.media_seconds:.1f}s of media = real-time factor {stats.realtime_factor:.2f} "
        f"({stats.fps:.1f} frames/s: model and commit rule cost {100 * (1 - stats.fps / holistic):.0f}% of the "
        f"frame rate); a camera would drop about {max(0.0, 1 - stats.realtime_factor):.0%} "
        "of its frames"
    )


def main() -> None:
    args = parse_args()
    import torch

    torch.set_num_threads(args.threads)
    from islpose.testing import make_synthetic_corpus

    work = args.work or Path(tempfile.mkdtemp(prefix="bench_live_"))
    work.mkdir(parents=True, exist_ok=True)
    if args.rtf_only:
        print(f"other jobs may share this machine ({os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f})")
        return realtime_factor(args.rtf_only, args.video, work, args)
    print(
        f"work folder {work}; other jobs may share this machine ({os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f})",
        flush=True,
    )
    corpus = make_synthetic_corpus(
        work / "corpus",
        num_glosses=args.glosses,
        num_signers=args.signers,
        utterances_per_signer=args.utterances,
        seed=0,
    )
    print(f"corpus: {corpus.splits} utterances, {args.glosses} glosses; test = 1 held-out signer", flush=True)
    runs = train_students(corpus, args, work / "runs")
    sentences = test_sentences(corpus)
    results: dict[str, list[dict]] = {name: [] for name in STUDENTS}
    for (name, seed), checkpoint in runs.items():
        results[name] += evaluate(checkpoint, sentences, CONTEXTS[name], args)
        print(f"evaluated {name} seed {seed}", flush=True)
    print(
        f"\nheld-out test signer: {len(sentences)} sentences played back to back as one session "
        f"({sum(len(s[1]) for s in sentences) / 25:.0f}s); greedy decoding; hop {args.hop}s, window {args.window}s; "
        f"means over seeds {args.seeds}"
    )
    print_table(results)
    realtime_factor(runs["lstm_lookahead", args.seeds[0]], args.video, work, args)


if __name__ == "__main__":
    sys.exit(main())
