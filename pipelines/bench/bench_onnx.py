"""CPU latency of the exported students: onnxruntime against PyTorch, side by side.

Both students at their default sizes (randomly initialised; speed does not depend on the
weights) with a 1229-token vocabulary (the first corpus's), exported with
``islpose.export.export_onnx``. For each student and batch shape (batch 1 x 150 frames, a
6-second clip at 25 fps; batch 32 x 150 frames) it times one forward pass of the PyTorch
model (``torch.inference_mode``) and of the onnxruntime session, the two taking turns in
every round, and prints the median and best milliseconds and the speed-up of
onnxruntime. Both use the same number of threads (``--threads``).

    python pipelines/bench/bench_onnx.py --threads 1 --rounds 20
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from islpose import Vocabulary
from islpose.export import export_onnx
from islpose.models import build_model
from islpose.recognize.runtime import OnnxStudent
from islpose.train import save_checkpoint

SHAPES = ((1, 150), (32, 150))


def _student(name: str, vocab: Vocabulary, folder: Path, threads: int) -> tuple[torch.nn.Module, OnnxStudent]:
    model = build_model(name, None, vocab_size=len(vocab)).eval()
    ck = save_checkpoint(
        folder / f"{name}.pt", model, vocab, {"model": name, "model_config": {}, "train": {}}, {"epoch": 0}
    )
    return model, OnnxStudent(export_onnx(ck, folder / f"{name}.onnx"), threads=threads)


def _ms(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads of both runtimes")
    parser.add_argument("--rounds", type=int, default=20, help="timed forward passes per runtime and shape")
    parser.add_argument("--vocab", type=int, default=1229, help="output classes, blank included")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    vocab = Vocabulary([f"G{i:04d}" for i in range(args.vocab - 2)])  # + <blank>, <unk>
    rng = np.random.default_rng(0)
    print(f"threads {args.threads}, rounds {args.rounds}, V = {len(vocab)}; milliseconds per forward pass")
    print(
        f"{'model':<18} {'batch x frames':>14} {'torch median':>13} {'onnx median':>12} {'torch best':>11} "
        f"{'onnx best':>10} {'speed-up':>9}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("bilstm_optimized", "mobilenet_v3_1d"):
            model, onnx_model = _student(name, vocab, Path(tmp), args.threads)
            for batch, frames in SHAPES:
                x = rng.normal(0, 1, size=(batch, frames, onnx_model.input_dim)).astype(np.float32)
                lengths = np.full(batch, frames, dtype=np.int64)
                xt, lt = torch.from_numpy(x), torch.from_numpy(lengths)

                def run_torch() -> None:
                    with torch.inference_mode():
                        model(xt, lt)

                def run_onnx() -> None:
                    onnx_model.run(x, lengths)

                run_torch(), run_onnx()  # warm-up
                times = {"torch": [], "onnx": []}
                for _ in range(args.rounds):  # the two take turns, so other load hits both alike
                    times["torch"].append(_ms(run_torch))
                    times["onnx"].append(_ms(run_onnx))
                med = {k: statistics.median(v) for k, v in times.items()}
                best = {k: min(v) for k, v in times.items()}
                print(
                    f"{name:<18} {f'{batch} x {frames}':>14} {med['torch']:>13.1f} {med['onnx']:>12.1f} "
                    f"{best['torch']:>11.1f} {best['onnx']:>10.1f} {med['torch'] / med['onnx']:>8.2f}x"
                )


if __name__ == "__main__":
    main()
