"""Recipe: does landmark augmentation help on unseen signers? Dev and test WER with and
without ``augment:`` on the synthetic corpus, over several seeds.

Each seed draws its own corpus (other signers: ``make_synthetic_corpus(seed=...)``, whose
dev and test splits are two held-out signers) and trains with that seed, once with
augmentation off and once on (the defaults of :class:`islpose.data.AugmentConfig`, plus
``--augment KEY=VALUE`` overrides). The best checkpoint on dev is greedy-decoded on dev
and test. Runs are sequential; the table (markdown) and one JSON line per run go to
stdout and ``OUT/results.jsonl``.

    python pipelines/recipes/augment_study.py --out runs/augment --model bilstm_optimized
    python pipelines/recipes/augment_study.py --out /tmp/aug --seeds 0 --epochs 2 --utterances 6   # smoke test
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
import yaml
from rich.console import Console

from islpose.decode.decoders import DecoderConfig
from islpose.decode.run import decode_store
from islpose.io.jsonl import append_jsonl
from islpose.testing import make_synthetic_corpus
from islpose.train.config import resolve_config
from islpose.train.loop import train


def run_one(model: str, corpus, seed: int, augment: dict, args: argparse.Namespace, out: Path) -> dict:
    """Trains one run and greedy-decodes its best checkpoint on dev and test."""
    yaml_data = {
        "model_config": dict(args.model_config),
        "augment": augment,
        "train": {
            "epochs": args.epochs,
            "warmup_epochs": args.warmup,
            "batch_size": args.batch_size,
            "seed": seed,
            "patience": 0,
            "progress": False,
            "device": "cpu",
            "num_workers": args.workers,
        },
    }
    config = resolve_config(model, yaml_data, where="augment_study")
    start = time.perf_counter()
    result = train(config, corpus.store, corpus.manifest, out, console=Console(quiet=True))
    seconds = time.perf_counter() - start
    wer = {
        split: decode_store(
            out / "best.pt", corpus.store, manifest=corpus.manifest, split=split, config=DecoderConfig(beam_size=1)
        ).score.wer
        for split in ("dev", "test")
    }
    return {
        "model": model,
        "seed": seed,
        "augment": bool(augment.get("enabled")),
        "dev_wer": wer["dev"],
        "test_wer": wer["test"],
        "best_epoch": result.best_epoch,
        "train_seconds": round(seconds, 1),
    }


def table(rows: list[dict]) -> str:
    """Markdown: mean (min-max) dev and test WER and test/dev per model and setting."""
    lines = [
        "| model | augmentation | seeds | dev WER % | test WER % | test / dev |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for model in dict.fromkeys(r["model"] for r in rows):
        for aug in (False, True):
            sel = [r for r in rows if r["model"] == model and r["augment"] == aug]
            if not sel:
                continue

            def cell(k: str, sel: list = sel) -> str:
                values = [100 * r[k] for r in sel]
                return f"{statistics.mean(values):.1f} ({min(values):.1f}-{max(values):.1f})"

            ratio = statistics.mean(r["test_wer"] for r in sel) / max(1e-9, statistics.mean(r["dev_wer"] for r in sel))
            lines.append(
                f"| {model} | {'on' if aug else 'off'} | {len(sel)} | {cell('dev_wer')} | "
                f"{cell('test_wer')} | {ratio:.2f} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--model", action="append", help="model(s) to study (default: bilstm_optimized)")
    parser.add_argument("--model-config", type=yaml.safe_load, default={}, help="YAML mapping for model_config")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--glosses", type=int, default=20)
    parser.add_argument("--signers", type=int, default=8)
    parser.add_argument("--utterances", type=int, default=40, help="per signer")
    parser.add_argument("--epochs", type=int, default=25)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument(
        "--augment",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="AugmentConfig values of the augmented runs (YAML values)",
    )
    parser.add_argument(
        "--settings",
        nargs="+",
        choices=("plain", "aug"),
        default=["plain", "aug"],
        help="which runs per seed: without (plain) and with (aug) augmentation",
    )
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    augment_on = {"enabled": True, **{k: yaml.safe_load(v) for k, v in (a.split("=", 1) for a in args.augment)}}
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for seed in args.seeds:
        multimodal = any(m != "bilstm_optimized" for m in args.model or [])
        corpus = make_synthetic_corpus(
            args.out / f"corpus{seed}",
            num_glosses=args.glosses,
            num_signers=args.signers,
            utterances_per_signer=args.utterances,
            multimodal=multimodal,
            seed=seed,
        )
        for model in args.model or ["bilstm_optimized"]:
            for augment in [{"plain": {"enabled": False}, "aug": augment_on}[k] for k in args.settings]:
                name = f"{model}-seed{seed}-{'aug' if augment['enabled'] else 'plain'}"
                row = run_one(model, corpus, seed, augment, args, args.out / name)
                rows.append(row)
                print(json.dumps(row), flush=True)
                append_jsonl(args.out / "results.jsonl", row)
    print(table(rows))


if __name__ == "__main__":
    main()
