"""What the training benchmarks (``bench_train.py``, ``bench_augment.py``) share: their
command-line options, the synthetic corpus they train on, their trainers and the timed
epochs. Imported as ``_common`` (the script's own folder is on ``sys.path``)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from rich.console import Console

from islpose.testing import make_synthetic_corpus
from islpose.train.config import resolve_config
from islpose.train.distributed import init_distributed
from islpose.train.loop import Trainer


def training_parser(
    doc: str, *, batch_size: int, signers: int, utterances: int, threads: int, repeats_of: str
) -> argparse.ArgumentParser:
    """The options of a training benchmark (with these defaults); ``repeats_of`` names
    what is timed side by side ("setting", "mode")."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=batch_size)
    parser.add_argument("--signers", type=int, default=signers)
    parser.add_argument("--utterances", type=int, default=utterances, help="per signer")
    parser.add_argument("--threads", type=int, default=threads, help="torch threads of the training process")
    parser.add_argument("--repeats", type=int, default=3, help=f"timed epochs per {repeats_of} (the best counts)")
    return parser


def synthetic_corpus(work: Path, args: argparse.Namespace, multimodal: bool, console: Console):
    """Generates the corpus of ``args`` in ``work/corpus`` and prints its size and the run's settings."""
    start = time.perf_counter()
    corpus = make_synthetic_corpus(
        work / "corpus", num_signers=args.signers, utterances_per_signer=args.utterances, multimodal=multimodal
    )
    console.print(
        f"corpus: {corpus.splits['train']} train utterances ({time.perf_counter() - start:.0f}s to "
        f"generate); device {args.device}, {args.threads} training thread(s), batch {args.batch_size}",
        soft_wrap=True,
    )
    return corpus


def make_trainer(
    name: str, corpus, out: Path, args: argparse.Namespace, yaml_data: dict | None = None, **overrides: object
) -> Trainer:
    """A ``Trainer`` of model ``name`` for a warm-up epoch and ``args.repeats`` timed ones
    (``yaml_data`` and ``overrides`` as for ``resolve_config``)."""
    config = resolve_config(
        name,
        yaml_data,
        overrides={
            "epochs": args.repeats + 1,
            "batch_size": args.batch_size,
            "progress": False,
            "device": args.device,
            "warmup_epochs": 0,
            **overrides,
        },
    )
    return Trainer(
        config, corpus.store, corpus.manifest, out, False, init_distributed(args.device), Console(quiet=True)
    )


def best_epochs(trainers: dict, repeats: int) -> dict:
    """A warm-up epoch each (allocator, threads, workers), then the fastest of ``repeats``
    epochs per trainer, the trainers taking turns (fair under varying load)."""
    for trainer in trainers.values():
        trainer.train_epoch(0)
    best: dict = {}
    for epoch in range(1, repeats + 1):
        for key, trainer in trainers.items():
            stats = trainer.train_epoch(epoch)
            if key not in best or stats["utt_per_s"] > best[key]["utt_per_s"]:
                best[key] = stats
    return best
