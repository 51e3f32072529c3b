"""The epoch loop shared by the students' and the teacher's trainers: early stopping on dev
WER, the metrics log, the learning-rate schedule, per-rank seeds, checkpoints and resume.

What survives a kill: after every epoch rank 0 appends the epoch's row to
``metrics.jsonl``, writes ``best.pt`` when dev WER improved, then ``last.pt``, each
checkpoint atomically (temporary file, then rename) and ``last.pt`` last. A run killed at
any moment therefore has a readable ``last.pt`` of its last complete epoch; resuming
from it drops the metric rows of later (unfinished) epochs and adopts a ``best.pt``
that the killed epoch wrote after the ``last.pt`` it resumes from.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from islpose.errors import IslposeError
from islpose.io.jsonl import append_jsonl, write_jsonl
from islpose.models.checkpoint import load_weights
from islpose.train.distributed import broadcast


def warmup_cosine(warmup_steps: int, total_steps: int) -> Callable[[int], float]:
    """LR factor per step: linear from 0.1 to 1 over ``warmup_steps`` (as ``LinearLR(start_factor=0.1)``),
    then cosine from 1 to 0 at ``total_steps``."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return 0.1 + 0.9 * step / warmup_steps
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


class LRSchedule:
    """The learning-rate factor per optimizer step: :func:`warmup_cosine`, and continuous when
    a resumed run gets another number of epochs.

    Args:
        warmup_steps: steps of the linear warmup.
        total_steps: the step at which the factor reaches 0.
        segments: ``[first_step, total_steps]`` pairs (from :meth:`state`); the first starts at 0.

    :meth:`extend` starts a segment at the resume step: the factor goes on from the one of
    the step before and follows a cosine to 0 at the new end, so the learning rate never
    jumps (extending a run that finished its schedule goes on at its last, small rate).
    """

    def __init__(self, warmup_steps: int, total_steps: int, segments: Sequence[Sequence[int]] | None = None) -> None:
        self.warmup_steps = warmup_steps
        self.segments = [[int(a), int(b)] for a, b in segments] if segments else [[0, total_steps]]

    def __call__(self, step: int) -> float:
        start, total = next(s for s in reversed(self.segments) if s[0] <= step)
        if start == 0:
            return warmup_cosine(self.warmup_steps, total)(step)
        progress = min(1.0, (step - start) / max(1, total - start))
        return self(start - 1) * 0.5 * (1.0 + math.cos(math.pi * progress))

    def extend(self, step: int, total_steps: int) -> None:
        """From ``step`` on, decays to 0 at ``total_steps`` (no change when that is the end already)."""
        if total_steps == self.segments[-1][1]:
            return
        if len(self.segments) == 1 and step <= self.warmup_steps:  # the warmup does not depend on the end
            self.segments = [[0, total_steps]]
        else:
            self.segments = [s for s in self.segments if s[0] < step] + [[step, total_steps]]

    def state(self) -> dict:
        """Plain values for ``last.pt`` (``LRSchedule(**state)`` rebuilds it)."""
        return {"warmup_steps": self.warmup_steps, "total_steps": self.segments[-1][1], "segments": self.segments}


def refuse_finished_run(out: Path) -> None:
    """A new run must not write into a folder holding a run that finished an epoch.

    Raises:
        IslposeError: ``out`` holds ``last.pt`` or ``best.pt`` (a run that died before its
            first epoch ended, with only its logs, may be started again).
    """
    found = [name for name in ("last.pt", "best.pt") if (out / name).exists()]
    if found:
        raise IslposeError(
            f"{out}: already holds a run ({', '.join(found)}); use --resume to continue it or choose another --out"
        )


def seed_everything(seed: int) -> None:
    """Seeds Python, NumPy and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rank_seed(seed: int, epoch: int, rank: int) -> int:
    """The seed of DDP rank ``rank`` (> 0) from epoch ``epoch`` on: every rank draws its own
    dropout masks and augmentations (rank 0 goes on with the run's own stream)."""
    return int(np.random.SeedSequence([seed, epoch, rank]).generate_state(1)[0])


def rng_state() -> dict:
    """Python, numpy, torch and CUDA RNG states (for an exact resume)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict) -> None:
    """Restores what :func:`rng_state` returned."""
    random.setstate(state["python"])
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class EpochLoop:
    """The epoch loop, early stopping on dev WER, the metrics log and resume, shared by the
    students' :class:`~islpose.train.loop.Trainer` and the teacher's trainer.

    A subclass sets ``config`` (with ``to_dict``), ``tc`` (``epochs``, ``patience``, ``seed``,
    ``warmup_epochs``), ``ctx``, ``console``, ``out``, ``model``, ``optimizer`` and calls
    :meth:`_make_scheduler`, :meth:`_start` (after building the model, which every rank
    builds alike) and (on resume) :meth:`_load_state`; it defines ``train_epoch(epoch) ->
    stats``, ``_end_epoch(epoch, stats)`` (rank 0: evaluate, :meth:`_track`, :meth:`_log`,
    :meth:`_save`) and ``_result(last_epoch)``.
    """

    def fit(self):
        """Trains from ``start_epoch`` until ``tc.epochs`` or early stopping."""
        epoch = self.start_epoch - 1
        self.stopped = broadcast(self.stopped, self.ctx)  # rank 0 alone may have adopted a newer best.pt
        if self.stopped or self.start_epoch > self.tc.epochs:
            if self.ctx.is_main:
                why = (
                    f"early stop after {self.bad_epochs} epochs without a better dev WER (raise --patience to go on)"
                    if self.stopped
                    else f"--epochs {self.tc.epochs} reached"
                )
                self.console.print(f"nothing to do: the run already ended at epoch {epoch} ({why})")
        else:
            for epoch in range(self.start_epoch, self.tc.epochs + 1):
                stats = self.train_epoch(epoch)
                if self.ctx.is_main:
                    self._end_epoch(epoch, stats)
                if broadcast(self.stopped, self.ctx):
                    break
        return self._result(epoch)

    def _start(self) -> None:
        """The state of a new run (before :meth:`_load_state` on resume); from here on each
        DDP rank draws its own random numbers."""
        self.start_epoch, self.best_wer, self.best_epoch, self.bad_epochs, self.stopped = 1, None, 0, 0, False
        self._seed_rank()

    def _seed_rank(self) -> None:
        """Ranks > 0 leave rank 0's random stream (see :func:`rank_seed`)."""
        if self.ctx.rank > 0:
            seed_everything(rank_seed(self.tc.seed, self.start_epoch, self.ctx.rank))

    def _make_scheduler(self, steps_per_epoch: int) -> None:
        """The per-step LR schedule: warmup, then cosine to 0 at the last epoch."""
        self.steps_per_epoch = steps_per_epoch
        self.schedule = LRSchedule(self.tc.warmup_epochs * steps_per_epoch, self.tc.epochs * steps_per_epoch)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda step: self.schedule(step))

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
        append_jsonl(self.out / "metrics.jsonl", record)

    def _save(self, epoch: int, improved: bool, write: Callable[..., Path], meta: dict) -> None:
        """Writes ``best.pt`` (when improved), then ``last.pt`` with the training state: last,
        so that ``last.pt`` never misses a ``best.pt`` it should know."""
        if improved:
            write(self.out / "best.pt", meta)
        write(self.out / "last.pt", meta, self._training_state(epoch))

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
        self._read = read
        return state

    def _training_state(self, epoch: int) -> dict:
        """What ``last.pt`` needs for an exact resume."""
        return {
            "epoch": epoch,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "schedule": self.schedule.state(),
            "rng": rng_state(),
            "best_wer": self.best_wer,
            "best_epoch": self.best_epoch,
            "bad_epochs": self.bad_epochs,
        }

    def _load_state(self, state: dict) -> None:
        """Restores weights, optimizer, LR schedule, RNG and early stopping from ``last.pt``; trims
        ``metrics.jsonl`` to its epoch and adopts a newer ``best.pt``.

        ``--epochs`` may differ from the run's (the LR goes on without a jump, see
        :class:`LRSchedule`), and so may ``--patience`` (an early-stopped run goes on when
        the new patience allows it).
        """
        ts = state["training_state"]
        load_weights(self.model, state["model_state"], self.out / "last.pt")
        self.optimizer.load_state_dict(ts["optimizer"])
        self.scheduler.load_state_dict(ts["scheduler"])
        saved_epochs = state["config"]["train"]["epochs"]
        self.schedule = LRSchedule(
            **ts.get(
                "schedule",
                {"warmup_steps": self.schedule.warmup_steps, "total_steps": saved_epochs * self.steps_per_epoch},
            )
        )
        step = self.scheduler.last_epoch
        self.schedule.extend(step, self.tc.epochs * self.steps_per_epoch)
        for group, base in zip(self.optimizer.param_groups, self.scheduler.base_lrs):
            group["lr"] = base * self.schedule(step)  # the rate of the next step under the (new) schedule
        self.start_epoch = ts["epoch"] + 1
        set_rng_state(ts["rng"])  # rank 0's: exact on rank 0, and the other ranks leave it again
        self._seed_rank()
        self.best_wer, self.best_epoch, self.bad_epochs = ts["best_wer"], ts["best_epoch"], ts["bad_epochs"]
        self.stopped = 0 < self.tc.patience <= self.bad_epochs
        self.adopted_best = None
        if self.ctx.is_main:
            self._trim_metrics(ts["epoch"])
            self._adopt_newer_best(ts["epoch"])

    def _trim_metrics(self, epoch: int) -> None:
        """Keeps the rows of epochs up to ``epoch`` (a killed epoch may have logged its row)."""
        path = self.out / "metrics.jsonl"
        if not path.is_file():
            return
        rows = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:  # a line cut short by the kill
                continue
            if isinstance(row, dict) and row.get("epoch", epoch + 1) <= epoch:
                rows.append(row)
        write_jsonl(path, rows)

    def _adopt_newer_best(self, epoch: int) -> None:
        """A ``best.pt`` newer than ``last.pt`` (the killed epoch wrote it) is the best so far
        (its meta becomes ``adopted_best``)."""
        best = self.out / "best.pt"
        if not best.is_file():
            return
        meta = self._read(best)["meta"]
        if meta.get("epoch", 0) > epoch and meta.get("dev_wer") is not None:
            self.adopted_best = meta
            self.best_wer, self.best_epoch, self.bad_epochs, self.stopped = meta["dev_wer"], meta["epoch"], 0, False
            self.console.print(
                f"{best} is from epoch {meta['epoch']}, after last.pt (epoch {epoch}): "
                "kept as the best checkpoint so far",
                highlight=False,
                soft_wrap=True,
            )
