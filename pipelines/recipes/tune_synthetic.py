"""Recipe: tune the decoder on dev, then compare the defaults and the tuned setting on test.

    generate a synthetic corpus -> train bilstm_optimized briefly -> 3-gram gloss LM from
    the train split -> `tune` on dev (model run once, grid of beam x LM weight x word score)
    -> decode dev and test with the defaults and with the tuned setting

The model is trained only for a few epochs on purpose: a half-trained model is where the
decoder settings matter (a converged one is right with any of them).

Usage::

    python pipelines/recipes/tune_synthetic.py --out runs/tune
    python pipelines/recipes/tune_synthetic.py --out /tmp/tune --epochs 6 --seed 1
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch


def main() -> None:
    from islpose.decode import (DecoderConfig, EmissionReader, build_lm, decode_store, manifest_sentences,
                                write_arpa, write_decoder_config)
    from islpose.decode.tune import best, collect_emissions, grid, table, tune_decoder
    from islpose.testing import make_synthetic_corpus
    from islpose.train import resolve_config, train

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)

    corpus = make_synthetic_corpus(args.out / "corpus", seed=args.seed)
    config = resolve_config("bilstm_optimized", overrides={
        "epochs": args.epochs, "batch_size": 8, "lr": 2e-3, "warmup_epochs": 1, "progress": False,
        "device": "cpu", "seed": args.seed, "patience": 0})
    run = train(config, corpus.store, corpus.manifest, args.out / "run").out_dir
    arpa = str(write_arpa(build_lm(manifest_sentences(corpus.manifest, "train"), 3), args.out / "glosses.arpa"))

    reader = EmissionReader(run / "best.pt", corpus.store, manifest=corpus.manifest, split="dev")
    rows = tune_decoder(collect_emissions(reader), reader.references, reader.vocab,
                        grid(DecoderConfig(lm=arpa), beams=(1, 5, 10)))
    print(table(rows, top=10))
    tuned = best(rows).config
    write_decoder_config(tuned, args.out / "decode.yaml")
    print(f"\ntuned on dev: beam {tuned.beam_size}, LM weight {tuned.lm_weight}, word score {tuned.word_score}")
    for name, setting in (("defaults, no LM", DecoderConfig()), ("defaults + LM", DecoderConfig(lm=arpa)),
                          ("tuned", tuned)):
        wers = [decode_store(run / "best.pt", corpus.store, manifest=corpus.manifest, split=split,
                             config=setting).score.wer for split in ("dev", "test")]
        print(f"{name:16s} dev WER {100 * wers[0]:6.2f}%  test WER {100 * wers[1]:6.2f}%")


if __name__ == "__main__":
    main()
