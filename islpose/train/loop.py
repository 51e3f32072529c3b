"""The training loop behind ``islpose train`` (single process, or DDP under ``torchrun``)."""
from __future__ import annotations

import json
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from islpose.data import BucketBatchSampler, FeatureDataset, collate
from islpose.decode.greedy import greedy_decode_batch
from islpose.decode.score import score_lists
from islpose.errors import IslposeError
from islpose.io import FeatureStore
from islpose.manifests import Problem, Utterance, check_against_store, read_manifest
from islpose.models import MODELS, build_model, count_parameters
from islpose.train.checkpoint import load_weights, read_checkpoint, save_checkpoint
from islpose.train.config import RunConfig, write_yaml
from islpose.train.distributed import DistContext, all_sum, broadcast, cleanup_distributed, init_distributed
from islpose.vocab import Vocabulary


@dataclass
class TrainResult:
    """What a run reached: best dev WER (0-1) and its epoch, epochs done, skipped utterances."""

    out_dir: Path
    best_wer: float | None
    best_epoch: int
    last_epoch: int
    stopped_early: bool
    skipped: list[Problem]


class LossTerm(Protocol):
    """A term added to the CTC loss, with the data it needs (e.g. :class:`islpose.train.distill.Distiller`)."""

    def check(self, utterances: Sequence[Utterance], vocab: Vocabulary) -> list[Problem]:
        """Problems of train utterances that must be skipped (or raises IslposeError)."""

    def dataset(self, base: FeatureDataset) -> torch.utils.data.Dataset:
        """The train set with the term's extra item fields (``lengths``, ``ids``, ``in_memory`` kept)."""

    def __call__(self, log_probs: torch.Tensor, out_lengths: torch.Tensor, batch: dict) -> torch.Tensor:
        """The term (a scalar) for log_probs (T', B, V) float32 and out_lengths (B,)."""


def train(config: RunConfig, features: str | Path, manifest: str | Path, out_dir: str | Path, *,
          resume: bool = False, console: Console | None = None, loss_term: LossTerm | None = None) -> TrainResult:
    """Trains ``config.model`` on the ``train`` split, selecting checkpoints on dev WER.

    Args:
        config: the resolved run config.
        features: HDF5 feature store.
        manifest: manifest with ``glosses`` and ``split`` (``train`` and ``dev`` are needed).
        out_dir: run folder (``best.pt``, ``last.pt``, ``tokens.txt``, ``config.yaml``,
            ``metrics.jsonl``, ``skipped.tsv``).
        resume: continue the run in ``out_dir`` from ``last.pt``.
        console: where progress and messages go (default: stderr).
        loss_term: an extra loss term (distillation); ``config.distill`` runs need one.

    Under ``torchrun`` (``WORLD_SIZE`` > 1) every process calls this; rank 0 evaluates,
    logs and writes checkpoints.
    """
    ctx = init_distributed(config.train.device)
    try:
        return Trainer(config, Path(features), Path(manifest), Path(out_dir), resume, ctx, console,
                       loss_term).fit()
    finally:
        cleanup_distributed(ctx)


def warmup_cosine(warmup_steps: int, total_steps: int):
    """LR factor per step: linear from 0.1 to 1 over ``warmup_steps`` (as ``LinearLR(start_factor=0.1)``),
    then cosine from 1 to 0 at ``total_steps``."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return 0.1 + 0.9 * step / warmup_steps
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict:
    """Python, numpy, torch and CUDA RNG states (for an exact resume)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {"python": random.getstate(), "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss,
                                                   cached],
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}


def set_rng_state(state: dict) -> None:
    """Restores what :func:`rng_state` returned."""
    random.setstate(state["python"])
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class EpochLoop:
    """The epoch loop, early stopping on dev WER and the metrics log, shared by the
    students' :class:`Trainer` and the teacher's trainer.

    A subclass sets ``tc`` (``epochs``, ``patience``), ``ctx``, ``console``, ``out``,
    ``start_epoch``, ``best_wer``, ``best_epoch``, ``bad_epochs`` and ``stopped``, and
    defines ``train_epoch(epoch) -> stats``, ``_end_epoch(epoch, stats)`` (rank 0: evaluate,
    :meth:`_track`, :meth:`_log`, checkpoints) and ``_result(last_epoch)``.
    """

    def fit(self):
        """Trains from ``start_epoch`` until ``tc.epochs`` or early stopping."""
        epoch = self.start_epoch - 1
        if self.stopped or self.start_epoch > self.tc.epochs:
            if self.ctx.is_main:
                self.console.print(f"nothing to do: the run already ended at epoch {epoch}")
        else:
            for epoch in range(self.start_epoch, self.tc.epochs + 1):
                stats = self.train_epoch(epoch)
                if self.ctx.is_main:
                    self._end_epoch(epoch, stats)
                if broadcast(self.stopped, self.ctx):
                    break
        return self._result(epoch)

    def _track(self, wer: float, epoch: int) -> bool:
        """Records this epoch's dev WER; returns whether it is the best so far."""
        improved = self.best_wer is None or wer < self.best_wer
        if improved:
            self.best_wer, self.best_epoch, self.bad_epochs = wer, epoch, 0
        else:
            self.bad_epochs += 1
        self.stopped = 0 < self.tc.patience <= self.bad_epochs
        return improved

    def _log(self, record: dict) -> None:
        """Appends one epoch's record to ``metrics.jsonl``."""
        with (self.out / "metrics.jsonl").open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")

    def _resume_state(self, read: Callable[[Path], dict], fixed: Sequence[str]) -> dict:
        """The run's ``last.pt`` (read with ``read``); the config sections ``fixed`` must not change."""
        last = self.out / "last.pt"
        if not last.is_file():
            raise IslposeError(f"{self.out}: nothing to resume (no last.pt)")
        state = read(last)
        if "training_state" not in state:
            raise IslposeError(f"{last}: has no training state to resume from")
        saved, now = state["config"], self.config.to_dict()
        for key in fixed:
            if saved.get(key) != now.get(key):
                raise IslposeError(f"{last}: the run used {key} {saved.get(key)!r}, not {now.get(key)!r}")
        return state

    def _training_state(self, epoch: int) -> dict:
        """What ``last.pt`` needs for an exact resume."""
        return {"epoch": epoch, "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                "rng": rng_state(), "best_wer": self.best_wer, "best_epoch": self.best_epoch,
                "bad_epochs": self.bad_epochs, "stopped": self.stopped}

    def _load_state(self, state: dict) -> None:
        """Restores weights, optimizer, scheduler, RNG and early stopping from ``last.pt``."""
        ts = state["training_state"]
        load_weights(self.model, state["model_state"], self.out / "last.pt")
        self.optimizer.load_state_dict(ts["optimizer"])
        self.scheduler.load_state_dict(ts["scheduler"])
        set_rng_state(ts["rng"])
        self.start_epoch = ts["epoch"] + 1
        self.best_wer, self.best_epoch, self.bad_epochs = ts["best_wer"], ts["best_epoch"], ts["bad_epochs"]
        self.stopped = ts["stopped"]


class Trainer(EpochLoop):
    """Set-up and epochs of one run; :func:`train` is the entry point (benchmarks drive epochs directly).

    Args: as :func:`train`, plus ``ctx``, the :class:`DistContext` of this process.
    """

    def __init__(self, config: RunConfig, features: Path, manifest_path: Path, out: Path, resume: bool,
                 ctx: DistContext, console: Console | None, loss_term: LossTerm | None = None) -> None:
        if config.distill is not None and loss_term is None:
            raise IslposeError("this run config has a `distill` section: run it with `islpose distill`")
        self.config, self.tc, self.out, self.ctx = config, config.train, out, ctx
        self.loss_term = loss_term
        self.console = console or Console(stderr=True)
        self.device = ctx.device
        state = self._resume_state(read_checkpoint, ("model", "model_config", "distill")) if resume else None
        if not resume and (out / "last.pt").exists():
            raise IslposeError(f"{out}: already holds a run (last.pt); use --resume to continue it "
                               "or choose another --out")
        seed_everything(self.tc.seed)
        manifest = read_manifest(manifest_path)
        splits = {name: manifest.split(name) for name in ("train", "dev")}
        for name, utts in splits.items():
            if not utts:
                raise IslposeError(f"{manifest_path}: no utterances in split {name!r} "
                                   "(training needs train, and dev for WER-based checkpoint selection)")
            unlabelled = [u.id for u in utts if not u.glosses]
            if unlabelled:
                raise IslposeError(f"{manifest_path}: {len(unlabelled)} {name} utterance(s) have no glosses, "
                                   f"e.g. {unlabelled[0]!r}")
        self.vocab = (Vocabulary.from_tokens(state["vocab"]) if state
                      else Vocabulary(g for u in splits["train"] for g in u.glosses))
        model_cls = MODELS[config.model]
        with FeatureStore(features) as store:
            problems = check_against_store(manifest, store, subsample=model_cls.subsample, splits=("train", "dev"))
        if loss_term is not None:
            bad = {p.uid for p in problems}
            problems += loss_term.check([u for u in splits["train"] if u.id not in bad], self.vocab)
        # Dev utterances that are too short for CTC are still decoded (and count as errors).
        self.skipped = [p for p in problems if p.kind == "no-features" or manifest[p.uid].split == "train"]
        skip = {p.uid for p in self.skipped}
        keep = {name: [u for u in utts if u.id not in skip] for name, utts in splits.items()}
        if not keep["train"] or not keep["dev"]:
            raise IslposeError(f"{manifest_path}: no usable {'train' if not keep['train'] else 'dev'} utterances "
                               f"({len(self.skipped)} skipped, e.g. {self.skipped[0]})")
        self.train_set = FeatureDataset(features, keep["train"], self.vocab, model_cls.feature,
                                        preload_gb=self.tc.preload_gb)
        if loss_term is not None:
            self.train_set = loss_term.dataset(self.train_set)
        self.dev_set = FeatureDataset(features, keep["dev"], self.vocab, model_cls.feature,
                                      preload_gb=self.tc.preload_gb) if ctx.is_main else None
        self.sampler = BucketBatchSampler(self.train_set.lengths, self.tc.batch_size, bucketing=self.tc.bucketing,
                                          pool=self.tc.bucket_pool, seed=self.tc.seed,
                                          num_replicas=ctx.world_size, rank=ctx.rank)
        cuda = self.device.type == "cuda"
        self.loader = torch.utils.data.DataLoader(
            self.train_set, batch_sampler=self.sampler, collate_fn=collate, num_workers=self.tc.num_workers,
            pin_memory=cuda, persistent_workers=self.tc.num_workers > 0)
        self.amp = self.tc.amp and cuda and torch.cuda.is_bf16_supported()

        self.model = build_model(config.model, config.model_config, vocab_size=len(self.vocab)).to(self.device)
        self.net = self.model
        if ctx.distributed:
            self.net = torch.nn.parallel.DistributedDataParallel(self.model, device_ids=[self.device] if cuda else None)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=self.tc.lr, weight_decay=self.tc.weight_decay)
        steps = len(self.sampler)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, warmup_cosine(self.tc.warmup_epochs * steps, self.tc.epochs * steps))
        self.start_epoch, self.best_wer, self.best_epoch, self.bad_epochs, self.stopped = 1, None, 0, 0, False
        if state:
            self._load_state(state)
        self.writer = None
        if ctx.is_main:
            self._prepare_out_dir(len(splits["train"]), len(splits["dev"]))

    # ------------------------------------------------------------------ set-up
    def _prepare_out_dir(self, n_train: int, n_dev: int) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        self.vocab.save(self.out / "tokens.txt")
        if self.start_epoch == 1:  # a fresh run: drop the logs of a run that died before its first epoch
            for name in ("metrics.jsonl", "skipped.tsv"):
                (self.out / name).unlink(missing_ok=True)
        write_yaml(self.config, self.out / "config.yaml")
        if self.skipped:
            lines = [f"{p.uid}\t{p.kind}\t{p.message}" for p in self.skipped]
            (self.out / "skipped.tsv").write_text("id\tkind\tmessage\n" + "\n".join(lines) + "\n", encoding="utf-8")
            self.console.print(f"[yellow]skipping {len(self.skipped)} utterance(s)[/] "
                               f"(all listed in {self.out / 'skipped.tsv'}):")
            for p in self.skipped[:5]:
                self.console.print(f"  {p.message}", markup=False, highlight=False, soft_wrap=True)
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(self.out / "tensorboard"))
        except ImportError:
            pass
        memory = "in memory" if self.train_set.in_memory else "read per batch"
        processes = f" x {self.ctx.world_size} processes" if self.ctx.distributed else ""
        self.console.print(
            f"{self.config.model}: {count_parameters(self.model):,} parameters, vocabulary {len(self.vocab)}, "
            f"{len(self.train_set)}/{n_train} train and {len(self.dev_set)}/{n_dev} dev utterances ({memory}), "
            f"device {self.device}{processes}{', bf16' if self.amp else ''}", highlight=False, soft_wrap=True)

    # ------------------------------------------------------------------ loop
    def _result(self, epoch: int) -> TrainResult:
        if self.writer is not None:
            self.writer.close()
        return TrainResult(self.out, self.best_wer, self.best_epoch, epoch, bool(self.stopped), self.skipped)

    def train_epoch(self, epoch: int) -> dict:
        """One pass over the train split; returns loss, lr, time and speed (all ranks summed)."""
        self.sampler.set_epoch(epoch)
        self.net.train()
        loss_sum = torch.zeros((), device=self.device, dtype=torch.float64)
        utts = frames = bad_steps = 0
        start = time.perf_counter()
        show = self.ctx.is_main and self.tc.progress
        columns = (TextColumn(f"epoch {epoch}/{self.tc.epochs}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("loss {task.fields[loss]}"), TextColumn("{task.fields[speed]} utt/s"),
                   TimeElapsedColumn(), TimeRemainingColumn())
        with Progress(*columns, console=self.console, transient=True, disable=not show) as progress:
            task = progress.add_task("train", total=len(self.sampler), loss="-", speed="-")
            for step, batch in enumerate(self.loader):
                loss, stepped = self._step(batch)
                n = len(batch["ids"])
                if stepped:
                    loss_sum += loss.detach().double() * n
                else:
                    bad_steps += 1
                utts += n
                frames += int(batch["lengths"].sum())
                if show and (step % 10 == 0 or step + 1 == len(self.sampler)):
                    speed = utts * self.ctx.world_size / (time.perf_counter() - start)
                    progress.update(task, loss=f"{loss_sum.item() / max(1, utts):.3f}", speed=f"{speed:.0f}")
                progress.advance(task)
        seconds = time.perf_counter() - start
        loss_total, utts_total, frames_total, bad_total = all_sum([loss_sum.item(), utts, frames, bad_steps], self.ctx)
        return {"train_loss": loss_total / max(1.0, utts_total), "bad_steps": int(bad_total),
                "lr": self.optimizer.param_groups[0]["lr"], "time_s": seconds, "train_utterances": int(utts_total),
                "utt_per_s": utts_total / seconds, "frames_per_s": frames_total / seconds}

    def _step(self, batch: dict) -> tuple[torch.Tensor, bool]:
        """One optimisation step; returns the batch's mean CTC loss (per target token, plus the
        loss term's value) and whether the step was taken (not when the gradients are not finite)."""
        x = batch["features"].to(self.device, non_blocking=True)  # (B, T, D)
        lengths = batch["lengths"].to(self.device)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            log_probs, out_lengths = self.net(x, lengths)  # (T', B, V), (B,)
        loss = F.ctc_loss(log_probs.float(), batch["targets"].to(self.device), out_lengths,
                          batch["target_lengths"].to(self.device), blank=0, reduction="mean", zero_infinity=True)
        if self.loss_term is not None:
            loss = loss + self.loss_term(log_probs.float(), out_lengths, batch)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.tc.grad_clip or float("inf"))
        stepped = bool(torch.isfinite(norm))  # the norm of the all-reduced gradients: every rank agrees
        if stepped:
            self.optimizer.step()
        self.scheduler.step()
        return loss, stepped

    @torch.no_grad()
    def evaluate(self) -> dict:
        """Greedy-decodes the dev set; returns :class:`~islpose.decode.score.ScoreResult` as a dict."""
        self.model.eval()
        sampler = BucketBatchSampler(self.dev_set.lengths, self.tc.batch_size, shuffle=False)
        hyps: dict[str, str] = {}
        for batch in torch.utils.data.DataLoader(self.dev_set, batch_sampler=sampler, collate_fn=collate):
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
                log_probs, out_lengths = self.model(batch["features"].to(self.device), batch["lengths"].to(self.device))
            for uid, labels in zip(batch["ids"], greedy_decode_batch(log_probs.float(), out_lengths)):
                hyps[uid] = " ".join(self.vocab.decode(labels))
        return score_lists(self.dev_set.references, [hyps[uid] for uid in self.dev_set.ids]).to_dict()

    def _end_epoch(self, epoch: int, stats: dict) -> None:
        dev = self.evaluate()
        improved = self._track(dev["wer"], epoch)
        record = {"epoch": epoch, **stats, "dev_wer": dev["wer"], "dev_substitutions": dev["substitutions"],
                  "dev_deletions": dev["deletions"], "dev_insertions": dev["insertions"],
                  "best_wer": self.best_wer, "best_epoch": self.best_epoch}
        self._log(record)
        if self.writer is not None:
            for key in ("train_loss", "dev_wer", "lr", "utt_per_s"):
                self.writer.add_scalar(key, record[key], epoch)
        config = self.config.to_dict()
        meta = {"epoch": epoch, "dev_wer": dev["wer"], "best_wer": self.best_wer, "best_epoch": self.best_epoch,
                "train_loss": stats["train_loss"]}
        if improved:
            save_checkpoint(self.out / "best.pt", self.model, self.vocab, config, meta)
        save_checkpoint(self.out / "last.pt", self.model, self.vocab, config, meta, self._training_state(epoch))
        mark = " [green]*[/]" if improved else ""
        bad = f", {stats['bad_steps']} step(s) with non-finite gradients skipped" if stats["bad_steps"] else ""
        self.console.print(
            f"epoch {epoch}/{self.tc.epochs}  loss {stats['train_loss']:.4f}  dev WER {100 * dev['wer']:.2f}%{mark}"
            f"  (best {100 * self.best_wer:.2f}% @ {self.best_epoch})  lr {stats['lr']:.2e}"
            f"  {stats['time_s']:.1f}s  {stats['utt_per_s']:.0f} utt/s{bad}", highlight=False, soft_wrap=True)
        if self.stopped:
            self.console.print(f"early stop: no better dev WER for {self.bad_epochs} epochs")
