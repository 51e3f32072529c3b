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
    from islpose.decode import (
        DecoderConfig,
        EmissionReader,
        build_lm,
        decode_store,
        manifest_sentences,
        write_arpa,
        write_decoder_config,
    )
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
    config = resolve_config(
        "bilstm_optimized",
        overrides={
            "epochs": args.epochs,
            "batch_size": 8,
            "lr": 2e-3,
            "warmup_epochs": 1,
            "progress": False,
            "device": "cpu",
            "seed": args.seed,
            "patience": 0,
        },
    )
    run = train(config, corpus.store, corpus.manifest, args.out / "run").out_dir
    arpa = str(write_arpa(build_lm(manifest_sentences(corpus.manifest, "train"), 3), args.out / "glosses.arpa"))

    reader = EmissionReader(run / "best.pt", corpus.store, manifest=corpus.manifest, split="dev")
    rows = tune_decoder(
        collect_emissions(reader), reader.references, reader.vocab, grid(DecoderConfig(lm=arpa), beams=(1, 5, 10))
    )
    print(table(rows, top=10))
    tuned = best(rows).config
    write_decoder_config(tuned, args.out / "decode.yaml")
    print(f"\ntuned on dev: beam {tuned.beam_size}, LM weight {tuned.lm_weight}, word score {tuned.word_score}")
    for name, setting in (
        ("defaults, no LM", DecoderConfig()),
        ("defaults + LM", DecoderConfig(lm=arpa)),
        ("tuned", tuned),
    ):
        wers = [
            decode_store(run / "best.pt", corpus.store, manifest=corpus.manifest, split=split, config=setting).score.wer
            for split in ("dev", "test")
        ]
        print(f"{name:16s} dev WER {100 * wers[0]:6.2f}%  test WER {100 * wers[1]:6.2f}%")
    compare_clamped(run, corpus, [r.config for r in rows if r.search == "C++, rescored"])


def compare_clamped(run: Path, corpus, configs: list) -> None:
    """For the settings whose word score cannot be folded into the LM (a positive folded
    log-probability), the clamped C++ search with n-best rescoring against the exact Python
    LM callback: WER on dev and test, how often they agree, and search time."""
    import time

    from islpose.decode import EmissionReader, score_texts
    from islpose.decode.decoders import BeamSearchDecoder
    from islpose.decode.tune import collect_emissions

    print("\nclamped C++ search (n-best rescored) vs the exact Python LM callback:")
    print(
        f"{'beam':>4} {'lm_weight':>9} {'word_score':>10}  split  {'WER C++':>8} {'WER Python':>10} "
        f"{'same':>9} {'s C++':>7} {'s Python':>8}"
    )
    tally = {"lower": 0, "equal": 0, "higher": 0, "same": 0, "utterances": 0, "s C++": 0.0, "s Python": 0.0}
    for split in ("dev", "test"):
        reader = EmissionReader(run / "best.pt", corpus.store, manifest=corpus.manifest, split=split)
        emissions = collect_emissions(reader)
        for config in configs:
            out = []
            for decoder in (
                BeamSearchDecoder(config, reader.vocab),
                BeamSearchDecoder(config, reader.vocab, fold=False),
            ):
                t0 = time.perf_counter()
                hyps = {uid: decoder.glosses(decoder.decode(lp)) for uid, lp in emissions}
                out.append(
                    (
                        hyps,
                        time.perf_counter() - t0,
                        score_texts(reader.references, {u: hyps.get(u, []) for u in reader.references}).wer,
                    )
                )
            same = sum(out[0][0][u] == out[1][0][u] for u, _ in emissions)
            diff = out[0][2] - out[1][2]
            tally["lower" if diff < -1e-9 else "higher" if diff > 1e-9 else "equal"] += 1
            tally["same"], tally["utterances"] = tally["same"] + same, tally["utterances"] + len(emissions)
            tally["s C++"], tally["s Python"] = tally["s C++"] + out[0][1], tally["s Python"] + out[1][1]
            print(
                f"{config.beam_size:4d} {config.lm_weight:9.2f} {config.word_score:10.2f}  {split:5s}  "
                f"{100 * out[0][2]:7.2f}% {100 * out[1][2]:9.2f}% {same:4d}/{len(emissions):<4d} "
                f"{out[0][1]:7.2f} {out[1][1]:8.2f}"
            )
    print(
        f"WER of the C++ search lower / equal / higher: {tally['lower']} / {tally['equal']} / {tally['higher']}; "
        f"same labelling on {tally['same']} of {tally['utterances']} utterances; search time "
        f"{tally['s C++']:.2f} s against {tally['s Python']:.2f} s"
    )


if __name__ == "__main__":
    main()
