"""Training throughput with landmark augmentation against without it, side by side in one run.

Runs the real training loop (``islpose.train.loop.Trainer``) for whole epochs on a
synthetic corpus: without augmentation (stored features, in memory, ``--plain-workers``
DataLoader workers) and with the default augmentation enabled (landmarks augmented and
features computed per item in ``--workers`` DataLoader workers, and, for reference, in the
main process). The settings' epochs are interleaved and the best of ``--repeats`` counts,
so a load change on the machine hits all of them alike. Prints utterances/s and the ratio
to training without augmentation.

    python pipelines/bench/bench_augment.py                         # CPU, both models
    python pipelines/bench/bench_augment.py --models bilstm_optimized --workers 2
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch
from _common import best_epochs, make_trainer, synthetic_corpus, training_parser  # this script's folder
from rich.console import Console


def settings(args: argparse.Namespace) -> dict[str, dict]:
    """Name -> (augment enabled, DataLoader workers)."""
    out = {
        "no augmentation": {"augment": False, "workers": args.plain_workers},
        f"augmentation, {args.workers} worker(s)": {"augment": True, "workers": args.workers},
    }
    if args.workers:
        out["augmentation, main process"] = {"augment": True, "workers": 0}
    return out


def throughput(name: str, corpus, args: argparse.Namespace, work: Path) -> dict[str, dict]:
    """Best of ``args.repeats`` epochs per setting, the settings interleaved."""
    trainers = {
        label: make_trainer(
            name, corpus, work / f"{name}-{k}", args, {"augment": {"enabled": s["augment"]}}, num_workers=s["workers"]
        )
        for k, (label, s) in enumerate(settings(args).items())
    }
    return best_epochs(trainers, args.repeats)


def main() -> None:
    parser = training_parser(__doc__, batch_size=16, signers=5, utterances=40, threads=1, repeats_of="setting")
    parser.add_argument("--models", nargs="+", default=["bilstm_optimized", "mobilenet_v3_1d"])
    parser.add_argument("--workers", type=int, default=1, help="DataLoader workers when augmenting")
    parser.add_argument("--plain-workers", type=int, default=0, help="DataLoader workers without augmentation")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    console = Console()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        corpus = synthetic_corpus(work, args, "mobilenet_v3_1d" in args.models, console)
        console.print("| model | setting | utterances/s | frames/s | epoch s | vs no augmentation |", soft_wrap=True)
        console.print("| --- | --- | ---: | ---: | ---: | ---: |")
        for name in args.models:
            rows = throughput(name, corpus, args, work)
            base = rows["no augmentation"]["utt_per_s"]
            for label, row in rows.items():
                console.print(
                    f"| {name} | {label} | {row['utt_per_s']:.1f} | {row['frames_per_s']:.0f} | "
                    f"{row['time_s']:.1f} | {row['utt_per_s'] / base:.2f}x |",
                    soft_wrap=True,
                )


if __name__ == "__main__":
    main()
