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
import time
from pathlib import Path

import torch
from rich.console import Console

from islpose.testing import make_synthetic_corpus
from islpose.train.config import resolve_config
from islpose.train.distributed import init_distributed
from islpose.train.loop import Trainer

from bench_train import best_epochs  # this folder (the script's own) is on sys.path


def settings(args: argparse.Namespace) -> dict[str, dict]:
    """Name -> (augment enabled, DataLoader workers)."""
    out = {"no augmentation": {"augment": False, "workers": args.plain_workers},
           f"augmentation, {args.workers} worker(s)": {"augment": True, "workers": args.workers}}
    if args.workers:
        out["augmentation, main process"] = {"augment": True, "workers": 0}
    return out


def throughput(name: str, corpus, args: argparse.Namespace, work: Path) -> dict[str, dict]:
    """Best of ``args.repeats`` epochs per setting, the settings interleaved."""
    trainers = {}
    for label, s in settings(args).items():
        config = resolve_config(name, {"augment": {"enabled": s["augment"]}}, overrides={
            "epochs": args.repeats + 1, "batch_size": args.batch_size, "progress": False, "device": args.device,
            "warmup_epochs": 0, "num_workers": s["workers"]})
        trainer = Trainer(config, corpus.store, corpus.manifest, work / f"{name}-{len(trainers)}", False,
                          init_distributed(args.device), Console(quiet=True))
        trainers[label] = trainer
    return best_epochs(trainers, args.repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--models", nargs="+", default=["bilstm_optimized", "mobilenet_v3_1d"])
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--signers", type=int, default=5)
    parser.add_argument("--utterances", type=int, default=40, help="per signer")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the training process")
    parser.add_argument("--workers", type=int, default=1, help="DataLoader workers when augmenting")
    parser.add_argument("--plain-workers", type=int, default=0, help="DataLoader workers without augmentation")
    parser.add_argument("--repeats", type=int, default=3, help="timed epochs per setting (the best counts)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    console = Console()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        start = time.perf_counter()
        corpus = make_synthetic_corpus(work / "corpus", num_signers=args.signers, utterances_per_signer=args.utterances,
                                       multimodal="mobilenet_v3_1d" in args.models)
        console.print(f"corpus: {corpus.splits['train']} train utterances ({time.perf_counter() - start:.0f}s to "
                      f"generate); device {args.device}, {args.threads} training thread(s), batch {args.batch_size}",
                      soft_wrap=True)
        console.print("| model | setting | utterances/s | frames/s | epoch s | vs no augmentation |", soft_wrap=True)
        console.print("| --- | --- | ---: | ---: | ---: | ---: |")
        for name in args.models:
            rows = throughput(name, corpus, args, work)
            base = rows["no augmentation"]["utt_per_s"]
            for label, row in rows.items():
                console.print(f"| {name} | {label} | {row['utt_per_s']:.1f} | {row['frames_per_s']:.0f} | "
                              f"{row['time_s']:.1f} | {row['utt_per_s'] / base:.2f}x |", soft_wrap=True)


if __name__ == "__main__":
    main()
