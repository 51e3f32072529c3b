"""Read throughput of the HDF5 feature store against .npy files holding the same bytes.

Takes the features of a synthetic corpus (pose (T, 66) float32 and multimodal (T, 6516)
float16, real zeros where hands drop out, so compression sees realistic data), writes them
once into a FeatureStore (default layout: contiguous features), once into a store with
lzf-compressed features, and once as one .npy file per array, then reads every utterance
back whole, in a shuffled order, and reports MB/s and the ratio to .npy. Reads are warm
(the files fit in the page cache), so this measures the library's per-read overhead and
copy speed, not the disk.

    python pipelines/bench/bench_store.py --signers 6 --per-signer 50 --repeats 5
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from islpose.io import FeatureStore
from islpose.testing import make_synthetic_corpus


def _seconds(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--signers", type=int, default=6)
    ap.add_argument("--per-signer", type=int, default=50, help="utterances per signer")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        corpus = make_synthetic_corpus(
            tmp / "corpus",
            num_signers=args.signers,
            utterances_per_signer=args.per_signer,
            min_glosses=4,
            max_glosses=10,
            multimodal=True,
            seed=args.seed,
        )
        with FeatureStore(corpus.store) as s:
            data = {u: {n: s.read(u, n) for n in ("pose", "multimodal")} for u in s.ids()}
        lengths = np.array([a["pose"].shape[0] for a in data.values()])
        order = list(data)
        np.random.default_rng(args.seed).shuffle(order)
        stores = {"store": (tmp / "plain.h5", None), "store-lzf": (tmp / "lzf.h5", "lzf")}
        for path, compression in stores.values():
            with FeatureStore(path, "w") as s:
                for uid, arrays in data.items():
                    s.write(uid, arrays, compression=compression)
        for uid, arrays in data.items():
            for name, arr in arrays.items():
                np.save(tmp / f"{uid}.{name}.npy", arr)

        readers = {"npy": None, **{label: FeatureStore(path) for label, (path, _) in stores.items()}}
        for name in ("pose", "multimodal"):
            nbytes = sum(arrays[name].nbytes for arrays in data.values())
            runs = {
                "npy": lambda: [np.load(tmp / f"{u}.{name}.npy") for u in order],
                **{label: (lambda s=s: [s.read(u, name) for u in order]) for label, s in readers.items() if s},
            }
            best = {label: float("inf") for label in runs}
            for _ in range(args.repeats):  # the readers take turns, so drift hits them alike
                for label, fn in runs.items():
                    best[label] = min(best[label], _seconds(fn))
            for label, t in best.items():
                results[(name, label)] = (nbytes / t / 1e6, best["npy"] / t)
        for s in readers.values():
            if s:
                s.close()
        sizes = {label: path.stat().st_size / 1e6 for label, (path, _) in stores.items()}

    print(
        f"{len(data)} utterances, mean {lengths.mean():.0f} frames, best of {args.repeats} warm reads, "
        "readers interleaved"
    )
    print(f"{'dataset':<11} {'reader':<10} {'MB/s':>9} {'vs .npy':>8}")
    for (name, label), (mbs, ratio) in results.items():
        print(f"{name:<11} {label:<10} {mbs:9.0f} {ratio:7.2f}x")
    print("file size: " + ", ".join(f"{k} {v:.0f} MB" for k, v in sizes.items()))


if __name__ == "__main__":
    main()
