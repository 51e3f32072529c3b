"""The GPU figures in one command (about 8 minutes on one CUDA device); writes one JSON file.

1. Student epoch time: ``mobilenet_v3_1d`` (default config, batch 32) trained for one epoch of
   ``--utterances`` synthetic utterances of about 150 frames (``--distinct`` generated ones,
   repeated), through the training data path (DataLoader with the model's default workers,
   collation, copy to the device, bf16 autocast or not, CTC loss, AdamW): bf16 off, bf16 on,
   and bf16 on with augmentation and features computed on the device (the DataLoader then
   reads landmarks). The cost of the on-device augmentation is also timed alone over the
   same batches. Dev evaluation is not included.
2. Teacher ``dense_vit`` at the seed's full size (``configs/teacher_dense_vit.yaml``):
   training step time (bf16), with and without ``torch.compile``, and MFU from the model
   FLOPs of one training step counted with ``torch.utils.flop_counter.FlopCounterMode``
   (attention included) against ``--peak-tflops``. A batch that does not fit is halved.
3. Teacher loader: frames/s of the video data path (``VideoDataset`` + DataLoader workers,
   OpenCV decoding and resizing) on rendered synthetic videos, and per worker (CPU core).

``--dry-run`` runs every part tiny on the CPU (seconds; the tests run it; without ``torch.compile``
and without DataLoader workers).

    python pipelines/bench/gpu_figures.py --out gpu_figures.json
    python pipelines/bench/gpu_figures.py --dry-run --out /tmp/gpu_dry.json
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_teacher import bench_loader, train_step  # noqa: E402  (this script's folder)

from islpose.data import AugmentConfig, BucketBatchSampler, collate  # noqa: E402
from islpose.data.augment import min_frames  # noqa: E402
from islpose.data.device_augment import DeviceAugment, collate_landmarks  # noqa: E402
from islpose.io import FeatureStore  # noqa: E402
from islpose.io.atomic import write_text_atomic  # noqa: E402
from islpose.models import MODELS, build_model  # noqa: E402
from islpose.teacher.config import load_teacher_config  # noqa: E402
from islpose.teacher.models import build_teacher  # noqa: E402
from islpose.testing import make_synthetic_corpus  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


class Repeated(torch.utils.data.Dataset):
    """``n`` training items cycling over ``items`` (features, or landmarks for device augmentation)."""

    def __init__(self, items: list[dict], n: int, landmarks: bool) -> None:
        keys = ("id", "landmarks", "presence", "size", "min_length", "targets") if landmarks else \
            ("id", "features", "targets")
        self.items, self.n = [{k: item[k] for k in keys} for item in items], n
        self.lengths = [len(items[i % len(items)]["presence"]) for i in range(n)]

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> dict:
        return self.items[index % len(self.items)]


def student_items(work: Path, distinct: int, glosses: tuple[int, int]) -> tuple[list[dict], int]:
    """Synthetic utterances (about 150 frames with glosses 6-10) read back from their store; and the vocabulary size."""
    corpus = make_synthetic_corpus(work, num_glosses=28, num_signers=3, utterances_per_signer=distinct,
                                   min_glosses=glosses[0], max_glosses=glosses[1], multimodal=True)
    names = {name: i + 1 for i, name in enumerate(corpus.glosses)}
    from islpose.manifests import read_manifest

    items = []
    with FeatureStore(corpus.store) as store:
        for utt in read_manifest(corpus.manifest):
            attrs = store.attrs(utt.id)
            targets = np.array([names[g] for g in utt.glosses], dtype=np.int64)
            items.append({"id": utt.id, "features": store.read(utt.id, "multimodal"),
                          "landmarks": store.read(utt.id, "landmarks"), "presence": store.read(utt.id, "presence"),
                          "size": (attrs["width"], attrs["height"]), "min_length": min_frames(targets, 1),
                          "targets": targets})
    return items, len(names) + 1


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def student_epoch(items: list[dict], vocab: int, args: argparse.Namespace, device: torch.device, amp: bool,
                  augment: bool) -> dict:
    """One timed epoch (after ``args.warmup`` untimed steps) of mobilenet_v3_1d, as the trainer's step does it."""
    torch.manual_seed(0)
    model = build_model("mobilenet_v3_1d", args.student_config, vocab_size=vocab).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4, fused=device.type == "cuda")
    dataset = Repeated(items, args.utterances, augment)
    sampler = BucketBatchSampler(dataset.lengths, args.batch_size, seed=0)
    workers = 0 if args.dry_run else MODELS["mobilenet_v3_1d"].train_defaults.get("num_workers", 0)
    loader = torch.utils.data.DataLoader(dataset, batch_sampler=sampler, num_workers=workers,
                                         collate_fn=collate_landmarks if augment else collate,
                                         pin_memory=device.type == "cuda", persistent_workers=workers > 0)
    augmenter = DeviceAugment(AugmentConfig(enabled=True), "multimodal", seed=0) if augment else None
    steps = utts = frames = 0
    aug_s = 0.0
    start = time.perf_counter()
    for step, batch in enumerate(loader):
        if step == args.warmup:
            _sync(device)
            start, utts, frames, aug_s = time.perf_counter(), 0, 0, 0.0
        if augmenter is not None:
            t0 = time.perf_counter()
            batch["features"], batch["lengths"] = augmenter(batch, 1, step, device)
            _sync(device)
            aug_s += time.perf_counter() - t0
        x, lengths = batch["features"].to(device, non_blocking=True), batch["lengths"].to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            log_probs, out_lengths = model(x, lengths)
        loss = F.ctc_loss(log_probs.float(), batch["targets"].to(device), out_lengths,
                          batch["target_lengths"].to(device), blank=0, zero_infinity=True)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        steps, utts, frames = steps + 1, utts + len(batch["ids"]), frames + int(batch["lengths"].sum())
    _sync(device)
    seconds = time.perf_counter() - start
    timed = max(1, steps - args.warmup)
    epoch_s = seconds * len(sampler) / timed  # the whole epoch at the timed steps' rate
    return {"amp_bf16": amp, "augment_on_device": augment, "timed_steps": timed, "utt_per_s": utts / seconds,
            "frames_per_s": frames / seconds, "epoch_s": epoch_s, "augment_s_per_epoch":
            aug_s * len(sampler) / timed if augment else None}


def teacher_figures(cfg, device: torch.device, batch: int, frames: int, args: argparse.Namespace,
                    compiled: bool) -> dict:
    """Training step time and MFU of the teacher (bf16 on CUDA); halves the batch when it does not fit."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    while True:
        try:
            return _teacher_step(cfg, device, batch, frames, args, compiled, FlopCounterMode, sdpa_kernel,
                                 SDPBackend)
        except torch.cuda.OutOfMemoryError:
            torch.cuda.empty_cache()
            if batch == 1:
                return {"error": "out of memory at batch 1"}
            batch //= 2


def _teacher_step(cfg, device, batch, frames, args, compiled, FlopCounterMode, sdpa_kernel, SDPBackend) -> dict:
    torch.manual_seed(0)
    vocab, text_vocab = args.vocab, 3000
    model = build_teacher(cfg.model, cfg.model_config, vocab_size=vocab, text_vocab_size=text_vocab).to(device)
    t = cfg.train
    opt = torch.optim.AdamW(model.param_groups(t.encoder_lr, t.decoder_lr, t.weight_decay),
                            fused=device.type == "cuda")
    s = cfg.video.size
    clips = torch.randint(0, 256, (batch, frames, 3, s, s), dtype=torch.uint8, device=device)
    lengths = torch.full((batch,), frames, device=device)
    text = torch.randint(4, text_vocab, (batch, 16), device=device)
    text[:, 0], text[:, -1] = 1, 2
    targets = torch.randint(1, vocab, (batch, max(1, frames // 8)), device=device)
    tlens = torch.full((batch,), targets.shape[1], device=device)
    amp = device.type == "cuda"
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if amp else contextlib.nullcontext()
    net = torch.compile(model) if compiled else model
    step_args = (cfg, clips, lengths, text, targets, tlens, autocast)
    model.train()
    start = time.perf_counter()
    for _ in range(args.teacher_warmup):
        train_step(net, opt, *step_args)
    _sync(device)
    warmup_s = time.perf_counter() - start
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    for _ in range(args.teacher_steps):
        train_step(net, opt, *step_args)
    _sync(device)
    step_s = (time.perf_counter() - start) / args.teacher_steps
    with FlopCounterMode(display=False) as counter, sdpa_kernel(SDPBackend.MATH):  # math: attention is counted
        train_step(model, None, *step_args)  # forward + backward of the eager model: the model's FLOPs
    model.zero_grad(set_to_none=True)
    flops = counter.get_total_flops()
    return {"compiled": compiled, "batch": batch, "frames_per_clip": frames, "amp_bf16": amp,
            "params": sum(p.numel() for p in model.parameters()), "warmup_s_incl_compile": warmup_s,
            "step_s": step_s, "frames_per_s": batch * frames / step_s, "flops_per_step": flops,
            "achieved_tflops": flops / step_s / 1e12, "mfu": flops / step_s / 1e12 / args.peak_tflops,
            "peak_mem_gib": torch.cuda.max_memory_allocated(device) / 2**30 if amp else None}


def loader_figures(cfg, work: Path, args: argparse.Namespace) -> dict:
    """Frames/s of the teacher's video loader on rendered synthetic videos, in total and per worker."""
    from islpose.testing.render import render_synthetic_videos

    corpus = make_synthetic_corpus(work / "video_corpus", num_glosses=10, num_signers=3,
                                   utterances_per_signer=max(1, args.clips // 3), min_glosses=6, max_glosses=10)
    width, height = args.video_size
    manifest = render_synthetic_videos(corpus, work / "videos", width=width, height=height)
    result = bench_loader(manifest, cfg.video, args.clips, cfg.train.batch_size, args.loader_workers)
    result["workers"] = args.loader_workers
    result["frames_per_s_per_core"] = result["frames_per_s"] / max(1, args.loader_workers)
    result["video_size"] = f"{width}x{height}"
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("gpu_figures.json"))
    ap.add_argument("--dry-run", action="store_true", help="everything tiny on the CPU (seconds)")
    ap.add_argument("--utterances", type=int, default=6000, help="student utterances per epoch")
    ap.add_argument("--distinct", type=int, default=100, help="distinct synthetic utterances per signer (3 signers)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--warmup", type=int, default=10, help="untimed student steps first")
    ap.add_argument("--student-config", type=json.loads, default={}, help="mobilenet_v3_1d model_config (JSON)")
    ap.add_argument("--teacher-config", type=Path, default=REPO / "configs" / "teacher_dense_vit.yaml")
    ap.add_argument("--teacher-batch", type=int, default=8)
    ap.add_argument("--teacher-frames", type=int, default=64)
    ap.add_argument("--teacher-steps", type=int, default=5)
    ap.add_argument("--teacher-warmup", type=int, default=2)
    ap.add_argument("--vocab", type=int, default=1229)
    ap.add_argument("--peak-tflops", type=float, default=989.0, help="dense bf16 peak (H100/H200 SXM: 989)")
    ap.add_argument("--clips", type=int, default=24, help="videos the loader decodes")
    ap.add_argument("--loader-workers", type=int, default=min(8, os.cpu_count() or 1))
    ap.add_argument("--video-size", type=lambda s: tuple(map(int, s.split("x"))), default=(1280, 720))
    args = ap.parse_args(argv)
    if args.dry_run:
        args.utterances, args.distinct, args.batch_size, args.warmup = 8, 2, 4, 1
        args.teacher_config = REPO / "configs" / "teacher_dense_vit_tiny.yaml"
        args.teacher_batch, args.teacher_frames = 1, 8
        args.teacher_steps, args.teacher_warmup, args.clips, args.loader_workers = 1, 1, 2, 0
        args.video_size = (64, 48)
        args.student_config = {"pose_dim": 8, "hands_dim": 8, "face_dim": 8, "temporal_dim": 8, "upsample_dim": 8,
                               "lstm_hidden": 8}
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    device = torch.device("cpu" if args.dry_run else "cuda")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise SystemExit("no CUDA device (use --dry-run to check the script on the CPU)")
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    results: dict = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu (dry run)",
                     "torch": torch.__version__, "cpu_cores": os.cpu_count(), "dry_run": args.dry_run}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        items, vocab = student_items(work / "student", args.distinct, (1, 2) if args.dry_run else (6, 10))
        results["student"] = {"model": "mobilenet_v3_1d", "utterances": args.utterances, "batch": args.batch_size,
                              "mean_frames": float(np.mean([len(i["presence"]) for i in items])), "runs": [
                                  student_epoch(items, vocab, args, device, amp, augment)
                                  for amp, augment in ((False, False), (True, False), (True, True))]}
        del items
        cfg = load_teacher_config(args.teacher_config)
        results["teacher"] = {"config": args.teacher_config.name, "peak_tflops": args.peak_tflops, "runs": [
            teacher_figures(cfg, device, args.teacher_batch, args.teacher_frames, args, compiled)
            for compiled in ((False,) if args.dry_run else (False, True))]}
        results["teacher_loader"] = loader_figures(cfg, work, args)
    results["seconds"] = time.perf_counter() - start
    write_text_atomic(args.out, json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
