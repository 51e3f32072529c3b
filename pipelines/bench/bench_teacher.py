"""Teacher throughput: video loader frames/s against model training frames/s, side by side.

1. Loader: decodes the manifest's videos (repeated to ``--clips``) through the real data
   path (VideoDataset + DataLoader workers, OpenCV decoding, resize) and reports frames/s.
2. Model: full training steps (uint8 frames -> normalise -> forward with the text head ->
   hybrid CTC + CE loss -> backward -> AdamW, fused on CUDA) on random clips of the
   config's shape, bf16 autocast on CUDA; reports frames/s, step time, peak memory.
3. MFU: model FLOPs of one training step (counted with torch's FlopCounterMode, attention
   included) x steps/s / ``--peak-tflops`` (H100 SXM dense bf16: 989).

The loader must deliver at least the model's frames/s or the GPU starves. The epoch time
is derived: ``--epoch-videos`` clips of ``--frames`` frames at the measured model rate.

    python pipelines/bench/bench_teacher.py                                  # CPU, tiny config
    python pipelines/bench/bench_teacher.py --config configs/teacher_dense_vit.yaml \\
        --device cuda --batch-size 16 --frames 64 --workers 16 --peak-tflops 989
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from pathlib import Path

import torch

from islpose.io.atomic import write_text_atomic
from islpose.manifests import read_manifest
from islpose.teacher.config import load_teacher_config
from islpose.teacher.loss import hybrid_loss
from islpose.teacher.models import build_teacher
from islpose.teacher.video import VideoDataset, make_loader, normalize_frames

REPO = Path(__file__).resolve().parents[2]


def bench_loader(manifest: Path, video, clips: int, batch_size: int, workers: int) -> dict:
    utts = [u for u in read_manifest(manifest) if u.video and Path(u.video).is_file()]
    if not utts:
        raise SystemExit(f"{manifest}: no readable videos")
    utts = (utts * (clips // len(utts) + 1))[:clips]
    loader = make_loader(VideoDataset(utts, video), batch_size, num_workers=workers)
    t0 = time.perf_counter()
    it = iter(loader)
    first = next(it)
    t_first = time.perf_counter() - t0
    frames = int(first.lengths.sum())
    for batch in it:
        frames += int(batch.lengths.sum())
    total = time.perf_counter() - t0
    return {
        "clips": clips,
        "frames": frames,
        "seconds": total,
        "first_batch_s": t_first,
        "frames_per_s": frames / total,
    }


def train_step(model, opt, cfg, frames, lengths, text, targets, tlens, autocast) -> None:
    with autocast:
        out = model(normalize_frames(frames, cfg.video.mean, cfg.video.std), lengths, text)
        loss = hybrid_loss(out, targets, tlens, text, cfg.loss).loss
    loss.backward()
    if opt is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.train.grad_clip or float("inf"))
        opt.step()
        opt.zero_grad(set_to_none=True)


def bench_model(
    cfg, device: torch.device, batch_size: int, num_frames: int, steps: int, warmup: int, vocab: int, text_vocab: int
) -> dict:
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    torch.manual_seed(0)
    model = build_teacher(cfg.model, cfg.model_config, vocab_size=vocab, text_vocab_size=text_vocab).to(device)
    t = cfg.train
    groups = model.param_groups(t.encoder_lr, t.decoder_lr, t.weight_decay)
    opt = torch.optim.AdamW(groups, fused=device.type == "cuda")
    s = cfg.video.size
    frames = torch.randint(0, 256, (batch_size, num_frames, 3, s, s), dtype=torch.uint8, device=device)
    lengths = torch.full((batch_size,), num_frames, device=device)
    text = torch.randint(4, text_vocab, (batch_size, 16), device=device)
    text[:, 0], text[:, -1] = 1, 2
    targets = torch.randint(1, vocab, (batch_size, max(1, num_frames // 8)), device=device)
    tlens = torch.full((batch_size,), targets.shape[1], device=device)
    use_amp = t.amp and device.type == "cuda"
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if use_amp else contextlib.nullcontext()
    args = (model, opt, cfg, frames, lengths, text, targets, tlens, autocast)
    model.train()
    for _ in range(warmup):
        train_step(*args)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    sync()
    t0 = time.perf_counter()
    for _ in range(steps):
        train_step(*args)
    sync()
    step_s = (time.perf_counter() - t0) / steps
    with FlopCounterMode(display=False) as counter, sdpa_kernel(SDPBackend.MATH):  # math: attention is counted
        train_step(model, None, *args[2:])
    model.zero_grad(set_to_none=True)
    return {
        "params": sum(p.numel() for p in model.parameters()),
        "batch": batch_size,
        "frames_per_clip": num_frames,
        "step_s": step_s,
        "frames_per_s": batch_size * num_frames / step_s,
        "flops_per_step": counter.get_total_flops(),
        "amp_bf16": use_amp,
        "peak_mem_gib": torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", type=Path, default=REPO / "configs" / "teacher_dense_vit_tiny.yaml")
    ap.add_argument("--manifest", type=Path, default=REPO / "data_manifests" / "real_clips.jsonl")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--batch-size", type=int, help="clips per step (default: the config's train.batch_size)")
    ap.add_argument(
        "--frames", type=int, help="frames per clip in the model step (default: video.num_frames or video.max_frames)"
    )
    ap.add_argument("--steps", type=int, default=5, help="timed training steps")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    ap.add_argument("--clips", type=int, default=16, help="clips the loader decodes")
    ap.add_argument("--workers", type=int, default=2, help="loader worker processes")
    ap.add_argument("--grad-checkpointing", action="store_true", help="override the config: recompute activations")
    ap.add_argument("--vocab", type=int, default=1229, help="gloss classes (first ISL corpus: 1229)")
    ap.add_argument("--text-vocab", type=int, default=3000)
    ap.add_argument("--peak-tflops", type=float, default=989.0, help="device peak for MFU (H100 SXM bf16 dense: 989)")
    ap.add_argument("--epoch-videos", type=int, default=6000)
    ap.add_argument("--skip-loader", action="store_true")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()

    cfg = load_teacher_config(args.config)
    if args.grad_checkpointing:
        cfg.model_config.grad_checkpointing = True
    device = torch.device(
        "cuda"
        if args.device == "auto" and torch.cuda.is_available()
        else "cpu"
        if args.device == "auto"
        else args.device
    )
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    batch_size = args.batch_size or cfg.train.batch_size
    num_frames = args.frames or cfg.video.num_frames or cfg.video.max_frames

    results = {
        "config": str(args.config),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch": torch.__version__,
    }
    if not args.skip_loader:
        results["loader"] = bench_loader(args.manifest, cfg.video, args.clips, batch_size, args.workers)
    model = bench_model(cfg, device, batch_size, num_frames, args.steps, args.warmup, args.vocab, args.text_vocab)
    model["achieved_tflops"] = model["flops_per_step"] / model["step_s"] / 1e12
    model["mfu"] = model["achieved_tflops"] / args.peak_tflops
    model["epoch_minutes_est"] = args.epoch_videos * num_frames / model["frames_per_s"] / 60
    results["model"] = model

    print(f"config {args.config.name} on {results['device']} (torch {torch.__version__})")
    if "loader" in results:
        ld = results["loader"]
        print(
            f"loader: {ld['frames_per_s']:9.1f} frames/s  ({ld['clips']} clips, {ld['frames']} frames, "
            f"{args.workers} workers, first batch {ld['first_batch_s']:.2f} s)"
        )
    print(
        f"model:  {model['frames_per_s']:9.1f} frames/s  ({model['params'] / 1e6:.1f} M params, batch "
        f"{batch_size} x {num_frames} frames, {model['step_s'] * 1e3:.1f} ms/step, bf16={model['amp_bf16']}"
        + (f", peak {model['peak_mem_gib']:.1f} GiB)" if model["peak_mem_gib"] is not None else ")")
    )
    if "loader" in results:
        print(f"loader / model frames/s: {results['loader']['frames_per_s'] / model['frames_per_s']:.2f}")
    print(
        f"model FLOPs/step {model['flops_per_step'] / 1e9:.3f} GFLOP -> {model['achieved_tflops']:.4f} TFLOP/s, "
        f"MFU {100 * model['mfu']:.3f}% of {args.peak_tflops:g} TFLOP/s"
    )
    print(
        f"epoch of {args.epoch_videos} videos x {num_frames} frames at this rate: "
        f"{model['epoch_minutes_est']:.1f} min (derived)"
    )
    if args.json:
        write_text_atomic(args.json, json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
