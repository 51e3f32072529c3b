"""Recipe: dev and test WER on unseen signers, per setting, seed and synthetic generator.

The corpus of each (generator, seed): 80 glosses, 7 training signers, 1 dev signer and 2 test
signers (none shared between splits), 600/100/100 sentences of 2-5 glosses.

* ``synthetic``: :func:`islpose.testing.make_synthetic_corpus` (10 signers x 100 sentences,
  re-split into 7/1/2 signers and 600/100/100 sentences in ``study.jsonl``);
* ``wild``: :func:`islpose.testing.make_wild_corpus`, a generator with its own sign model
  whose signers vary more (handedness, repetitions, hesitations, ...).

Each setting is a set of changes to ``configs/MODEL.yaml`` (``--epochs`` on top); each run
trains with the seed of its corpus, then its best-dev checkpoint (``best.pt``) and its last
one (``last.pt``) are decoded on dev and test with beam 5 and no language model. One JSON
line per run goes to ``OUT/results.jsonl`` (a finished run is not trained again), and
``--report`` turns all lines into ``OUT/results.json`` and a markdown table.

    python pipelines/recipes/signer_study.py --out runs/signers --generator synthetic wild --seeds 0 1 2 \\
        --settings plain aug
    python pipelines/recipes/signer_study.py --out runs/signers --report
    python pipelines/recipes/signer_study.py --out /tmp/s --seeds 0 --epochs 1 --tiny   # smoke test
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time
from pathlib import Path

import torch
import yaml
from rich.console import Console

from islpose.decode.config import DecoderConfig
from islpose.decode.run import decode_store
from islpose.io.jsonl import append_jsonl
from islpose.manifests import read_manifest, write_manifest
from islpose.testing import make_synthetic_corpus, make_wild_corpus
from islpose.train.config import resolve_config
from islpose.train.loop import train

ROOT = Path(__file__).resolve().parents[2]
# setting -> changes to the model's YAML config (sections train / augment / model_config)
SETTINGS = {
    "plain": {"augment": {"enabled": False}},
    "aug": {"augment": {"enabled": True}},
    "aug_signer": {
        "augment": {
            "enabled": True,
            "speed": 0.25,
            "sign_size": 0.2,
            "translate": 0.1,
            "hand_drop": 0.01,
            "mirror_p": 0.2,
        }
    },
}


def make_corpus(generator: str, seed: int, out: Path, multimodal: bool, tiny: bool) -> tuple[Path, Path]:
    """(store, manifest) of the study corpus of one generator and seed; reused when already there."""
    manifest = out / "study.jsonl"
    if manifest.exists():
        return out / "features.h5", manifest
    glosses, per_split = (12, (14, 4, 4)) if tiny else (80, (600, 100, 100))
    if generator == "wild":
        corpus = make_wild_corpus(
            out, num_glosses=glosses, signers=(7, 1, 2), sentences=per_split, multimodal=multimodal, seed=seed
        )
        write_manifest(read_manifest(corpus.manifest).utterances, manifest)
        return corpus.store, manifest
    per_signer = -(-max(per_split[0] / 7, per_split[1], per_split[2] / 2) // 1)
    corpus = make_synthetic_corpus(
        out,
        num_glosses=glosses,
        num_signers=10,
        utterances_per_signer=int(per_signer),
        multimodal=multimodal,
        seed=seed,
    )
    quota = {s: per_split[0] // 7 + (s < per_split[0] % 7) for s in range(7)}
    quota.update({7: per_split[1], 8: per_split[2] // 2, 9: per_split[2] - per_split[2] // 2})
    keep = []
    for u in read_manifest(corpus.manifest).utterances:
        signer, k = int(u.signer[-2:]), int(u.id.split("_u")[1])
        if k < quota[signer]:
            keep.append(dataclasses.replace(u, split="train" if signer < 7 else "dev" if signer == 7 else "test"))
    write_manifest(keep, manifest)
    return corpus.store, manifest


def merge(base: dict, changes: dict) -> dict:
    """``base`` with each section of ``changes`` merged into it (one level deep)."""
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in base.items()}
    for section, values in changes.items():
        out[section] = {**out.get(section, {}), **values}
    return out


def run_one(
    model: str, setting: str, store: Path, manifest: Path, seed: int, args: argparse.Namespace, out: Path
) -> dict:
    """Trains one run (unless ``out`` holds a finished one) and beam-decodes best.pt and last.pt on dev and test."""
    base = yaml.safe_load((ROOT / "configs" / f"{model}.yaml").read_text())
    data = merge(base, SETTINGS[setting])
    data["train"].update(
        {
            "epochs": args.epochs,
            "seed": seed,
            "progress": False,
            "device": "cpu",
            "threads": args.threads,
            "num_workers": 0,
        }
    )
    config = resolve_config(model, data, where=f"signer_study {setting}")
    seconds = None
    if not (out / "last.pt").exists() or not _finished(out, args.epochs):
        start = time.perf_counter()
        train(config, store, manifest, out, console=Console(quiet=True))
        seconds = round(time.perf_counter() - start, 1)
    row = {"model": model, "setting": setting, "seed": seed, "epochs": args.epochs, "train_seconds": seconds}
    decoder = DecoderConfig(beam_size=5)
    for ckpt in ("best", "last"):
        for split in ("dev", "test"):
            score = decode_store(out / f"{ckpt}.pt", store, manifest=manifest, split=split, config=decoder).score
            row[f"{ckpt}_{split}_wer"] = round(score.wer, 4)
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]
    row["best_epoch"], row["last_epoch"] = metrics[-1]["best_epoch"], metrics[-1]["epoch"]
    row["train_loss"] = round(metrics[-1]["train_loss"], 4)
    return row


def _finished(out: Path, epochs: int) -> bool:
    """Whether the run in ``out`` reached its last epoch or stopped early."""
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines() if x.strip()]
    return bool(lines) and (lines[-1]["epoch"] >= epochs or lines[-1]["epoch"] - lines[-1]["best_epoch"] >= 15)


def report(rows: list[dict]) -> str:
    """Markdown: one line per run, then mean test and dev WER per model, generator and setting."""
    lines = [
        "| generator | model | setting | seed | dev WER % | test WER % | test/dev | last.pt dev | last.pt test |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    key = lambda r: (r["generator"], r["model"], r["setting"], r["seed"])  # noqa: E731
    for r in sorted(rows, key=key):
        lines.append(
            f"| {r['generator']} | {r['model']} | {r['setting']} | {r['seed']} | {100 * r['best_dev_wer']:.1f}"
            f" | {100 * r['best_test_wer']:.1f} | {r['best_test_wer'] / max(r['best_dev_wer'], 1e-9):.2f}"
            f" | {100 * r['last_dev_wer']:.1f} | {100 * r['last_test_wer']:.1f} |"
        )
    lines += [
        "",
        "| generator | model | setting | seeds | mean dev WER % | mean test WER % | test/dev |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: |",
    ]
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault(key(r)[:3], []).append(r)
    for (gen, model, setting), sel in sorted(groups.items()):
        dev, test = (statistics.mean(r[f"best_{s}_wer"] for r in sel) for s in ("dev", "test"))
        lines.append(
            f"| {gen} | {model} | {setting} | {len(sel)} | {100 * dev:.1f} | {100 * test:.1f} | "
            f"{test / max(dev, 1e-9):.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--generator", nargs="+", choices=("synthetic", "wild"), default=["synthetic", "wild"])
    parser.add_argument("--model", nargs="+", default=["bilstm_optimized"])
    parser.add_argument("--settings", nargs="+", choices=sorted(SETTINGS), default=["plain", "aug"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--tiny", action="store_true", help="a 12-gloss corpus of 14/4/4 sentences (smoke test)")
    parser.add_argument("--report", action="store_true", help="only write results.json and print the table")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    results = args.out / "results.jsonl"
    if not args.report:
        torch.set_num_threads(args.threads)
        for generator in args.generator:
            for seed in args.seeds:
                folder = args.out / f"{generator}-seed{seed}"
                multimodal = any(m != "bilstm_optimized" for m in args.model)
                store, manifest = make_corpus(generator, seed, folder / "corpus", multimodal, args.tiny)
                for model in args.model:
                    for setting in args.settings:
                        row = {
                            "generator": generator,
                            **run_one(model, setting, store, manifest, seed, args, folder / f"{model}-{setting}"),
                        }
                        print(json.dumps(row), flush=True)
                        append_jsonl(results, row)
    rows = [json.loads(line) for line in results.read_text().splitlines() if line.strip()] if results.exists() else []
    latest = {(r["generator"], r["model"], r["setting"], r["seed"], r["epochs"]): r for r in rows}
    (args.out / "results.json").write_text(json.dumps(list(latest.values()), indent=1) + "\n")
    print(report(list(latest.values())))


if __name__ == "__main__":
    main()
