"""Training throughput of the CTC models on this machine, and peak memory at batch 32.

Runs the real training loop (``islpose.train.loop.Trainer``) of both models for one
epoch on a synthetic corpus, once with length-bucketed batches and once with plain
random batches, side by side in one run, and prints utterances/s, frames/s (real, not
padded frames) and the padding overhead. Then, in a fresh process per model, one
training step on a batch of 32 utterances of 150 frames: the peak memory it adds (CPU:
resident set size; CUDA: ``max_memory_allocated``).

    python pipelines/bench/bench_train.py                  # CPU, small corpus
    python pipelines/bench/bench_train.py --device cuda --signers 10 --utterances 600
"""

from __future__ import annotations

import multiprocessing as mp
import tempfile
from pathlib import Path

import numpy as np
import torch
from _common import best_epochs, make_trainer, synthetic_corpus, training_parser  # this script's folder
from rich.console import Console

from islpose.models import MODELS, build_model


def throughput(name: str, corpus, args, work: Path) -> dict[bool, dict]:
    """Best of ``args.repeats`` epochs per batching mode, the modes interleaved (fair under varying load)."""
    trainers, padding = {}, {}
    for bucketing in (True, False):
        trainer = make_trainer(name, corpus, work / f"{name}-{bucketing}", args, bucketing=bucketing)
        lengths = np.asarray(trainer.train_set.lengths)
        padding[bucketing] = sum(len(b) * lengths[b].max() for b in trainer.sampler.batches()) / lengths.sum() - 1
        trainers[bucketing] = trainer
    best = best_epochs(trainers, args.repeats)
    return {bucketing: {**stats, "padding": padding[bucketing]} for bucketing, stats in best.items()}


def _rss_mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024  # kB
    raise RuntimeError(f"{field} not in /proc/self/status")


def _peak_memory(name: str, device: str, frames: int, batch: int, queue) -> None:
    torch.manual_seed(0)
    dev = torch.device(device)
    model = build_model(name, vocab_size=1229).to(dev).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    dim = 66 if MODELS[name].feature == "pose" else 6516
    x = torch.randn(batch, frames, dim, device=dev)
    lengths = torch.full((batch,), frames, device=dev)
    targets = torch.randint(1, 1229, (batch * 10,), device=dev)
    target_lengths = torch.full((batch,), 10, device=dev)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
        base = torch.cuda.memory_allocated(dev) / 2**20
    else:
        Path("/proc/self/clear_refs").write_text("5")  # resets the peak RSS (VmHWM) to the current RSS
        base = _rss_mib("VmRSS")
    for _ in range(2):
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda"):
            log_probs, out_lengths = model(x, lengths)
        loss = torch.nn.functional.ctc_loss(log_probs.float(), targets, out_lengths, target_lengths, zero_infinity=True)
        opt.zero_grad()
        loss.backward()
        opt.step()
    peak = torch.cuda.max_memory_allocated(dev) / 2**20 if dev.type == "cuda" else _rss_mib("VmHWM")
    queue.put((peak - base, peak))


def peak_memory(name: str, device: str, frames: int = 150, batch: int = 32) -> tuple[float, float]:
    """(MiB a training step adds at its peak, peak MiB), in a fresh process.

    CPU: resident set size (Linux /proc); CUDA: ``torch.cuda.max_memory_allocated``.
    """
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_peak_memory, args=(name, device, frames, batch, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def main() -> None:
    parser = training_parser(
        __doc__, batch_size=32, signers=6, utterances=60, threads=torch.get_num_threads(), repeats_of="mode"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    console = Console()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        corpus = synthetic_corpus(work, args, True, console)
        console.print(
            "| model | batching | utterances/s | frames/s | padding | epoch s | bucketed speed-up |", soft_wrap=True
        )
        console.print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
        for name in sorted(MODELS):
            rows = throughput(name, corpus, args, work)
            for bucketing, row in rows.items():
                gain = f"{row['utt_per_s'] / rows[False]['utt_per_s']:.2f}x" if bucketing else ""
                console.print(
                    f"| {name} | {'bucketed' if bucketing else 'random'} | {row['utt_per_s']:.1f} | "
                    f"{row['frames_per_s']:.0f} | {100 * row['padding']:.0f}% | {row['time_s']:.1f} | "
                    f"{gain} |",
                    soft_wrap=True,
                )
    console.print("\n| model | training step at batch 32 x 150 frames: added memory | peak |")
    console.print("| --- | ---: | ---: |")
    for name in sorted(MODELS):
        added, peak = peak_memory(name, args.device)
        console.print(f"| {name} | {added:.0f} MiB | {peak:.0f} MiB |")


if __name__ == "__main__":
    main()
