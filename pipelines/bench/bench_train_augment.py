"""Training with landmark augmentation against without it, at default settings, side by side in one run.

Generates a synthetic corpus of real-length utterances (about 120 frames: 5-9 glosses per
sentence), then trains the model (default ``mobilenet_v3_1d``) in a fresh process per
setting, augmentation off and on, each with the model's default settings (torch threads,
DataLoader workers); the settings take turns ``--rounds`` times, so a load change on the
machine hits both alike. Per process it measures: start-up (process start until the first
epoch can begin: imports, reading the store, building the model), the train epochs
(utterances/s; the fastest counts, the first is shown too), one dev evaluation, the peak
memory (PSS of the process and its DataLoader workers, sampled every 0.1 s, and the main
process's peak RSS) against the bytes it holds in memory (train landmarks or features,
dev features), and a 30-epoch run extrapolated from these. It prints the load average and
the share of the machine's CPU time that other processes took while each setting ran.

    nice python pipelines/bench/bench_train_augment.py                  # 1000 train utterances
    nice python pipelines/bench/bench_train_augment.py --train 200 --epochs 1 --rounds 1
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

CLOCK = os.sysconf("SC_CLK_TCK")


def _pss_kib(pid: int) -> int:
    """Proportional set size of ``pid`` and its descendants (KiB; 0 for a process that ended)."""
    total = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            total += next(int(line.split()[1]) for line in f if line.startswith("Pss:"))
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                total += sum(_pss_kib(int(c)) for c in f.read().split())
    except (OSError, StopIteration, ValueError):
        pass
    return total


class PeakMemory(threading.Thread):
    """Samples the PSS of this process and its children every ``interval`` seconds; ``peak`` in bytes."""

    def __init__(self, interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.interval, self.peak, self.running = interval, 0, True

    def run(self) -> None:
        while self.running:
            self.peak = max(self.peak, _pss_kib(os.getpid()) * 1024)
            time.sleep(self.interval)


def _cpu_seconds() -> float:
    """CPU seconds of this process and its live children (DataLoader workers) so far."""
    total = time.process_time()
    for task in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{task}/children") as f:
            for pid in f.read().split():
                try:
                    with open(f"/proc/{pid}/stat") as g:
                        fields = g.read().rsplit(")", 1)[1].split()
                    total += (int(fields[11]) + int(fields[12])) / CLOCK  # utime, stime
                except OSError:
                    pass
    return total


def _held_bytes(dataset) -> int:
    """Bytes of the arrays a dataset keeps in memory once it has read every item (a
    LandmarkDataset reads lazily, maybe in a DataLoader worker): its frames x one item's bytes per frame."""
    if not dataset.in_memory or not len(dataset):
        return 0
    item = dataset[0]
    per_frame = sum(item[k].nbytes for k in ("features", "landmarks", "presence") if k in item) / len(
        item["landmarks" if "landmarks" in item else "features"])
    return int(sum(dataset.lengths) * per_frame)


def child(args: argparse.Namespace) -> None:
    """One setting in this (fresh) process; prints one JSON line."""
    memory = PeakMemory()
    memory.start()
    from rich.console import Console

    from islpose.device import torch_threads
    from islpose.train.config import resolve_config
    from islpose.train.distributed import init_distributed
    from islpose.train.loop import Trainer

    config = resolve_config(args.model, {"augment": {"enabled": args.child == "on"}},
                            overrides={"epochs": args.epochs, "progress": False, "device": "cpu"})
    with tempfile.TemporaryDirectory() as out, torch_threads(config.train.threads):
        built = time.time()
        trainer = Trainer(config, Path(args.store), Path(args.manifest), Path(out), False, init_distributed("cpu"),
                          Console(quiet=True))
        ready = time.time()
        epochs = []
        for epoch in range(1, args.epochs + 1):
            cpu = _cpu_seconds()
            epochs.append(trainer.train_epoch(epoch))
            epochs[-1]["cpu_s"] = _cpu_seconds() - cpu  # of the training process and its workers
        start = time.perf_counter()
        trainer.evaluate()
        evaluate_s = time.perf_counter() - start
        held = _held_bytes(trainer.train_set) + _held_bytes(trainer.dev_set)
        workers, train_n = config.train.num_workers, len(trainer.train_set)
        del trainer  # ends the DataLoader workers
    memory.running = False
    memory.join()
    usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    print(json.dumps({
        "startup_s": ready - args.spawned, "trainer_init_s": ready - built, "epochs": epochs,
        "evaluate_s": evaluate_s, "peak_pss": memory.peak, "peak_rss_main": usage[0].ru_maxrss * 1024,
        "held_bytes": held, "cpu_s": sum(u.ru_utime + u.ru_stime for u in usage), "threads": config.train.threads,
        "workers": workers, "train_utterances": train_n}))


def _busy_seconds() -> float:
    """CPU seconds all processes of the machine have used since boot (/proc/stat)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / CLOCK


def run_setting(setting: str, corpus, args: argparse.Namespace) -> dict:
    """Runs one setting in a child process; adds the CPU seconds other processes used meanwhile."""
    busy, wall = _busy_seconds(), time.time()
    cmd = [sys.executable, __file__, "--child", setting, "--store", str(corpus.store), "--manifest",
           str(corpus.manifest), "--model", args.model, "--epochs", str(args.epochs), "--spawned", str(wall)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"setting {setting!r} failed:\n{done.stderr[-3000:]}")
    row = json.loads(done.stdout.strip().splitlines()[-1])
    row["other_cpu_s"] = max(0.0, _busy_seconds() - busy - row["cpu_s"])
    row["wall_s"] = time.time() - wall
    return row


def _gb(n: float) -> str:
    return f"{n / 2**30:.2f} GB"


def _fastest(row: dict) -> float:
    return max(e["utt_per_s"] for e in row["epochs"])


def report(rows: dict[str, list[dict]], args: argparse.Namespace, feature_bytes: int) -> None:
    """Prints the table of the best round per setting and the ratios."""
    best = {s: max(runs, key=lambda r: max(e["utt_per_s"] for e in r["epochs"])) for s, runs in rows.items()}
    print("\n| augmentation | utt/s (best epoch) | utt/s (epoch 1) | epoch s | dev eval s | start-up s | "
          "peak PSS | peak RSS main | held in memory | peak / held | 30 epochs (extrapolated) | "
          "other processes' CPU |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for setting, r in best.items():
        fast = max(r["epochs"], key=lambda e: e["utt_per_s"])
        total = r["startup_s"] + args.full_epochs * (fast["time_s"] + r["evaluate_s"])
        others = sum(x["other_cpu_s"] for x in rows[setting]) / sum(x["wall_s"] for x in rows[setting])
        print(f"| {setting} | {fast['utt_per_s']:.1f} | {r['epochs'][0]['utt_per_s']:.1f} | {fast['time_s']:.1f} | "
              f"{r['evaluate_s']:.1f} | {r['startup_s']:.1f} | {_gb(r['peak_pss'])} | {_gb(r['peak_rss_main'])} | "
              f"{_gb(r['held_bytes'])} | {r['peak_pss'] / max(1, r['held_bytes']):.2f}x | {total / 60:.1f} min | "
              f"{others:.2f} cores |")
    if {"on", "off"} <= best.keys():
        speed = {s: max(e["utt_per_s"] for e in best[s]["epochs"]) for s in ("on", "off")}
        rounds = ", ".join(f"{_fastest(a) / _fastest(b):.2f}x" for a, b in zip(rows["on"], rows["off"]))
        print(f"\naugmentation on / off: {speed['on'] / speed['off']:.2f}x utterances/s (per round: {rounds})")
        per_cpu = {s: min(e["cpu_s"] / e["train_utterances"] for e in best[s]["epochs"]) for s in ("on", "off")}
        print(f"CPU seconds per utterance (training process + workers, least of the epochs): on "
              f"{1e3 * per_cpu['on']:.1f} ms, off {1e3 * per_cpu['off']:.1f} ms: on / off utterances per CPU "
              f"second {per_cpu['off'] / per_cpu['on']:.2f}x (less sensitive to other jobs than wall time)")
    print(f"multimodal features of train + dev in the store: {_gb(feature_bytes)}; settings: "
          f"threads {best['off']['threads'] or 'torch default'}, DataLoader workers {best['off']['workers']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="mobilenet_v3_1d")
    parser.add_argument("--train", type=int, default=1000, help="train utterances (100 per signer)")
    parser.add_argument("--epochs", type=int, default=2, help="timed train epochs per process")
    parser.add_argument("--rounds", type=int, default=2, help="times each setting runs (taking turns)")
    parser.add_argument("--full-epochs", type=int, default=30, help="epochs of the extrapolated run")
    parser.add_argument("--work", type=Path, help="folder for the corpus (default: a temporary one)")
    parser.add_argument("--child", choices=("on", "off"), help=argparse.SUPPRESS)
    for name in ("--store", "--manifest"):
        parser.add_argument(name, help=argparse.SUPPRESS)
    parser.add_argument("--spawned", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    from islpose.io import FeatureStore
    from islpose.testing import make_synthetic_corpus

    with tempfile.TemporaryDirectory(dir=args.work) as tmp:
        start = time.perf_counter()
        per_signer = 100
        corpus = make_synthetic_corpus(Path(tmp) / "corpus", num_glosses=28, num_signers=args.train // per_signer + 2,
                                       utterances_per_signer=per_signer, min_glosses=5, max_glosses=9,
                                       multimodal=True)
        with FeatureStore(corpus.store) as store:
            ids = [i for i in store.ids() if int(i[1:3]) < args.train // per_signer + 1]  # train and dev signers
            lengths = [store.shape(i, "multimodal")[0] for i in ids]
        feature_bytes = sum(lengths) * 6516 * 2
        print(f"corpus: {corpus.splits} utterances, mean {sum(lengths) / len(lengths):.0f} frames "
              f"({time.perf_counter() - start:.0f} s to generate); model {args.model}; "
              f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} cores",
              flush=True)
        rows: dict[str, list[dict]] = {"off": [], "on": []}
        for k in range(args.rounds):
            for setting in ("off", "on") if k % 2 == 0 else ("on", "off"):
                rows[setting].append(run_setting(setting, corpus, args))
                r = rows[setting][-1]
                speeds = ", ".join(f"{e['utt_per_s']:.1f}" for e in r["epochs"])
                print(f"round {k + 1} {setting}: {speeds} utt/s, "
                      f"start-up {r['startup_s']:.1f} s, other processes {r['other_cpu_s'] / r['wall_s']:.2f} "
                      f"cores, load average {os.getloadavg()[0]:.2f}", flush=True)
        report(rows, args, feature_bytes)


if __name__ == "__main__":
    main()
