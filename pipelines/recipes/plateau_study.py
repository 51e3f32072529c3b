"""How long a student sits on the CTC blank plateau: dev WER and dev CTC loss per epoch over
the first epochs of a longer schedule, on synthetic corpora, per seed and training setting.

Each corpus seed draws its own corpus (``make_synthetic_corpus``: dev and test are held-out
signers); each run trains the first ``--epochs`` epochs of a ``--schedule``-epoch run (the
learning rate follows the long schedule) with the real training loop, and greedy-decodes dev
after every epoch. "Leaves" is the first epoch after the first with dev WER below 100% (an
untrained model's random glosses can score below 100% at epoch 1). A table (markdown) and one
JSON line per run go to stdout and ``OUT/results.jsonl``.

    python pipelines/recipes/plateau_study.py --out runs/plateau --model mobilenet_v3_1d \\
        --signers 6 --corpus-seeds 0 --seeds 0 1 2 3 4 \\
        --setting new:model_config.logit_scale=3 --setting old:model_config.logit_scale=1 \\
        --setting warm3:warmup_epochs=3
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
import yaml
from rich.console import Console

from islpose.io.jsonl import append_jsonl
from islpose.models import MODELS
from islpose.testing import make_synthetic_corpus
from islpose.train.config import resolve_config
from islpose.train.distributed import init_distributed
from islpose.train.loop import Trainer


def parse_setting(text: str) -> tuple[str, dict]:
    """``NAME:key=value,model_config.key=value`` (``train`` keys, or ``model_config`` keys after
    that prefix; YAML values) -> (NAME, {"train": {...}, "model_config": {...}})."""
    name, _, pairs = text.partition(":")
    values: dict = {"train": {}, "model_config": {}}
    for pair in filter(None, pairs.split(",")):
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--setting {text!r}: expected NAME:key=value,...")
        section, _, field = key.strip().rpartition(".")
        if (section or "train") not in values:
            raise SystemExit(f"--setting {text!r}: {section!r} is not train or model_config")
        values[section or "train"][field] = yaml.safe_load(value)
    return name, values


def first_epochs(model: str, corpus, seed: int, setting: dict, args: argparse.Namespace, out: Path) -> dict:
    """Trains the first ``args.epochs`` epochs; returns the dev WER and loss of each."""
    config = resolve_config(
        model,
        {
            "model_config": setting["model_config"],
            "train": {
                **setting["train"],
                "epochs": args.schedule,
                "batch_size": args.batch_size,
                "seed": seed,
                "patience": 0,
                "progress": False,
                "device": "cpu",
                "num_workers": args.workers,
            },
        },
        where="plateau_study",
    )
    trainer = Trainer(config, corpus.store, corpus.manifest, out, False, init_distributed("cpu"), Console(quiet=True))
    wer, loss = [], []
    for epoch in range(1, args.epochs + 1):
        trainer.train_epoch(epoch)
        dev = trainer.evaluate()
        wer.append(round(100 * dev["wer"], 1))
        loss.append(round(dev["loss"], 3))
    leaves = next((e for e, w in enumerate(wer, 1) if e > 1 and w < 100), None)
    return {"dev_wer": wer, "dev_loss": loss, "leaves": leaves}


def table(rows: list[dict], epochs: int) -> str:
    """Markdown: dev WER per epoch and the epoch it leaves 100%, per run; a count per setting."""
    lines = ["| setting | corpus | seed | dev WER % by epoch | leaves at |", "| --- | ---: | ---: | --- | ---: |"]
    for r in rows:
        lines.append(
            f"| {r['setting']} | {r['corpus_seed']} | {r['seed']} | {' / '.join(map(str, r['dev_wer']))} | "
            f"{r['leaves'] or f'> {epochs}'} |"
        )
    lines.append("")
    for name in dict.fromkeys(r["setting"] for r in rows):
        sel = [r for r in rows if r["setting"] == name]
        within = sum(1 for r in sel if r["leaves"] and r["leaves"] <= 3)
        lines.append(f"{name}: leaves within 3 epochs in {within} of {len(sel)} runs")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--model", default="mobilenet_v3_1d", choices=sorted(MODELS))
    parser.add_argument("--corpus-seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--seeds", type=int, nargs="+", help="training seeds (default: each corpus's own seed)")
    parser.add_argument("--glosses", type=int, default=20)
    parser.add_argument("--signers", type=int, default=8)
    parser.add_argument("--utterances", type=int, default=30, help="per signer")
    parser.add_argument("--epochs", type=int, default=5, help="epochs trained and evaluated")
    parser.add_argument("--schedule", type=int, default=60, help="epochs of the run whose start is studied")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--setting",
        action="append",
        default=None,
        metavar="NAME:key=value,...",
        help="train (or model_config.) keys of one setting (repeat the option; default: the model's defaults)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    settings = [parse_setting(s) for s in args.setting or ["defaults:"]]
    multimodal = MODELS[args.model].feature == "multimodal"
    rows = []
    for corpus_seed in args.corpus_seeds:
        corpus = make_synthetic_corpus(
            args.out / f"corpus{corpus_seed}",
            num_glosses=args.glosses,
            num_signers=args.signers,
            utterances_per_signer=args.utterances,
            multimodal=multimodal,
            seed=corpus_seed,
        )
        for seed in args.seeds if args.seeds is not None else [corpus_seed]:
            for name, setting in settings:
                run = args.out / f"{name}-corpus{corpus_seed}-seed{seed}"
                row = {
                    "model": args.model,
                    "setting": name,
                    **setting,
                    "corpus_seed": corpus_seed,
                    "seed": seed,
                    **first_epochs(args.model, corpus, seed, setting, args, run),
                }
                print(json.dumps(row), flush=True)
                append_jsonl(args.out / "results.jsonl", row)
                rows.append(row)
    print(table(rows, args.epochs))


if __name__ == "__main__":
    main()
