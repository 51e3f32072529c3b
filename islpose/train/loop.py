"""The training loop behind ``islpose train`` (single process, or DDP under ``torchrun``)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch
import torch.nn.functional as F
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from islpose.data import BucketBatchSampler, EpochBatches, FeatureDataset, collate, frame_batch_count, shard
from islpose.data.device_augment import DeviceAugment, LandmarkDataset, collate_landmarks
from islpose.decode.greedy import greedy_decode_batch
from islpose.decode.score import score_lists
from islpose.device import torch_threads
from islpose.errors import IslposeError
from islpose.io import FeatureStore
from islpose.io.atomic import write_text_atomic
from islpose.manifests import Problem, Utterance, check_against_store, read_manifest, select_utterances
from islpose.models import build_model, count_parameters, input_dim
from islpose.models.checkpoint import save_checkpoint
from islpose.train.config import RunConfig, write_yaml
from islpose.train.distributed import DistContext, all_sum, cleanup_distributed, init_distributed
from islpose.train.epochs import EpochLoop, refuse_finished_run, seed_everything
from islpose.train.runs import read_run_checkpoint
from islpose.vocab import Vocabulary

SPLITS_HINT = " (training needs train, and dev for WER-based checkpoint selection)"


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


def train(
    config: RunConfig,
    features: str | Path,
    manifest: str | Path,
    out_dir: str | Path,
    *,
    resume: bool = False,
    console: Console | None = None,
    loss_term: LossTerm | None = None,
) -> TrainResult:
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

    Returns:
        The best dev WER and its epoch.

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> import islpose
        >>> from islpose.testing import make_synthetic_corpus
        >>> tmp = tempfile.TemporaryDirectory()
        >>> corpus = make_synthetic_corpus(Path(tmp.name) / "corpus", num_glosses=4, num_signers=3,
        ...                                utterances_per_signer=4, seed=0)
        >>> config = islpose.resolve_config("bilstm_optimized", {
        ...     "model_config": {"projection_dim": 8, "hidden_dim": 8, "num_layers": 1},
        ...     "train": {"epochs": 1, "batch_size": 4, "device": "cpu", "progress": False}})
        >>> result = islpose.train(config, corpus.store, corpus.manifest, Path(tmp.name) / "run")
        >>> result.best_epoch, sorted(p.name for p in (Path(tmp.name) / "run").glob("*.pt"))
        (1, ['best.pt', 'last.pt'])
        >>> tmp.cleanup()
    """
    ctx = init_distributed(config.train.device)
    finished = False
    try:
        with torch_threads(config.train.threads):
            result = Trainer(
                config, Path(features), Path(manifest), Path(out_dir), resume, ctx, console, loss_term
            ).fit()
        finished = True
        return result
    finally:
        cleanup_distributed(ctx, finished)


class Trainer(EpochLoop):
    """Set-up and epochs of one run; :func:`train` is the entry point (benchmarks drive epochs directly).

    Args: as :func:`train`, plus ``ctx``, the :class:`DistContext` of this process.
    """

    def __init__(
        self,
        config: RunConfig,
        features: Path,
        manifest_path: Path,
        out: Path,
        resume: bool,
        ctx: DistContext,
        console: Console | None,
        loss_term: LossTerm | None = None,
    ) -> None:
        if config.distill is not None and loss_term is None:
            raise IslposeError("this run config has a `distill` section: run it with `islpose distill`")
        self.config, self.tc, self.out, self.ctx = config, config.train, out, ctx
        self.loss_term = loss_term
        self.console = console or Console(stderr=True)
        self.device = ctx.device
        state = self._resume_state(read_run_checkpoint, ("model", "model_config", "distill")) if resume else None
        if not resume:
            refuse_finished_run(out)
        seed_everything(self.tc.seed)  # the same initial weights on every rank
        self._read_data(features, manifest_path, state)
        cuda = self.device.type == "cuda"
        self.loader = torch.utils.data.DataLoader(
            self.train_set,
            batch_sampler=EpochBatches(self.sampler),
            collate_fn=collate_landmarks if self.augmenter is not None else collate,
            num_workers=self.tc.num_workers,
            pin_memory=cuda,
            persistent_workers=self.tc.num_workers > 0,
            # its own generator: starting (persistent) workers must not draw from the seeded global RNG,
            # or a resumed run (whose workers start in a later epoch) would train on other dropout draws
            generator=torch.Generator().manual_seed(self.tc.seed),
        )
        self.amp = self.tc.amp and cuda and torch.cuda.is_bf16_supported()
        self.net = self.model
        if ctx.distributed:
            self.net = torch.nn.parallel.DistributedDataParallel(self.model, device_ids=[self.device] if cuda else None)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=self.tc.lr, weight_decay=self.tc.weight_decay)
        self._make_scheduler(len(self.sampler))
        self._start()
        if state:
            self._load_state(state)
        self.writer = None
        if ctx.is_main:
            self._prepare_out_dir()

    # ------------------------------------------------------------------ set-up
    def _read_data(self, features: Path, manifest_path: Path, state: dict | None) -> None:
        """The vocabulary, the model, the utterances to skip and this rank's datasets."""
        manifest = read_manifest(manifest_path)
        splits = {
            name: select_utterances(manifest, name, require=("glosses",), hint=SPLITS_HINT) for name in ("train", "dev")
        }
        self.vocab = (
            Vocabulary.from_tokens(state["vocab"])
            if state
            else Vocabulary(g for u in splits["train"] for g in u.glosses)
        )
        self.model = build_model(self.config.model, self.config.model_config, vocab_size=len(self.vocab))
        self.model.to(self.device)
        feature = self.model.feature
        with FeatureStore(features) as store:
            problems = check_against_store(manifest, store, subsample=self.model.subsample, splits=("train", "dev"))
            if self.loss_term is not None:
                bad = {p.uid for p in problems}
                problems += self.loss_term.check([u for u in splits["train"] if u.id not in bad], self.vocab)
            # Dev utterances that are too short for CTC are still decoded (and count as errors).
            self.skipped = [p for p in problems if p.kind == "no-features" or manifest[p.uid].split == "train"]
            skip = {p.uid for p in self.skipped}
            keep = {name: [u for u in utts if u.id not in skip] for name, utts in splits.items()}
            if not keep["train"] or not keep["dev"]:
                raise IslposeError(
                    f"{manifest_path}: no usable {'train' if not keep['train'] else 'dev'} "
                    f"utterances ({len(self.skipped)} skipped, e.g. {self.skipped[0]})"
                )
            self._check_width(store, keep["train"][0].id)
            lengths = [store.shape(u.id, feature)[0] for u in keep["train"]]
        self.counts = {name: (len(keep[name]), len(utts)) for name, utts in splits.items()}
        # A dev utterance without features is decoded as nothing: all its glosses are deletions.
        self.dev_missing = [u for u in splits["dev"] if u.id in skip]
        share = [keep["train"][i] for i in shard(lengths, self.ctx.world_size, self.ctx.rank)]
        # augmenting: the loader reads raw landmarks, augmented with their features computed per batch on the device
        augment = self.config.augment.enabled
        self.train_set = (LandmarkDataset if augment else FeatureDataset)(
            features,
            share,
            self.vocab,
            feature,
            preload_gb=self.tc.preload_gb,
            augment=self.config.augment,
            seed=self.tc.seed,
            subsample=self.model.subsample,
        )
        self.augmenter = DeviceAugment(self.config.augment, feature, self.tc.seed, self.ctx.rank) if augment else None
        if self.loss_term is not None:
            self.train_set = self.loss_term.dataset(self.train_set)
        self.dev_set = (
            FeatureDataset(features, keep["dev"], self.vocab, feature, preload_gb=self.tc.preload_gb)
            if self.ctx.is_main
            else None
        )
        num_batches = (
            frame_batch_count(lengths, self.tc.max_frames, self.ctx.world_size) if self.tc.max_frames else None
        )
        self.sampler = BucketBatchSampler(
            self.train_set.lengths,
            self.tc.batch_size,
            bucketing=self.tc.bucketing,
            pool=self.tc.bucket_pool,
            seed=self.tc.seed,
            max_frames=self.tc.max_frames,
            num_batches=num_batches,
        )

    def _check_width(self, store: FeatureStore, uid: str) -> None:
        """The store's features must have the width the model reads."""
        shape, width = store.shape(uid, self.model.feature), input_dim(self.model)
        if len(shape) != 2 or shape[1] != width:
            raise IslposeError(
                f"{store.path}: {self.model.feature!r} features of {uid!r} have shape {shape}, but "
                f"{self.config.model} with this model_config reads (T, {width})"
            )

    def _prepare_out_dir(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        self.vocab.save(self.out / "tokens.txt")
        if self.start_epoch == 1:  # a fresh run: drop the logs of a run that died before its first epoch
            for name in ("metrics.jsonl", "skipped.tsv"):
                (self.out / name).unlink(missing_ok=True)
        write_yaml(self.config, self.out / "config.yaml")
        if self.skipped:
            lines = [f"{p.uid}\t{p.kind}\t{p.message}\n" for p in self.skipped]
            write_text_atomic(self.out / "skipped.tsv", "id\tkind\tmessage\n" + "".join(lines))
            self.console.print(
                f"[yellow]skipping {len(self.skipped)} utterance(s)[/] (all listed in {self.out / 'skipped.tsv'}):"
            )
            for p in self.skipped[:5]:
                self.console.print(f"  {p.message}", markup=False, highlight=False, soft_wrap=True)
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(self.out / "tensorboard"))
        except ImportError:
            pass
        memory = "in memory" if self.train_set.in_memory else "read per batch"
        processes = f" x {self.ctx.world_size} processes" if self.ctx.distributed else ""
        (n_train, all_train), (n_dev, all_dev) = self.counts["train"], self.counts["dev"]
        self.console.print(
            f"{self.config.model}: {count_parameters(self.model):,} parameters, vocabulary {len(self.vocab)}, "
            f"{n_train}/{all_train} train and {n_dev}/{all_dev} dev utterances ({memory}), "
            f"device {self.device}{processes}{', bf16' if self.amp else ''}",
            highlight=False,
            soft_wrap=True,
        )

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
        utts = frames = bad_steps = stepped_utts = 0
        start = time.perf_counter()
        show = self.ctx.is_main and self.tc.progress
        columns = (
            TextColumn(f"epoch {epoch}/{self.tc.epochs}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"),
            TextColumn("{task.fields[speed]} utt/s"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=self.console, transient=True, disable=not show) as progress:
            task = progress.add_task("train", total=len(self.sampler), loss="-", speed="-")
            for step, batch in enumerate(self.loader):
                if self.augmenter is not None:  # augmented features of the batch's landmarks, on the device
                    batch["features"], batch["lengths"] = self.augmenter(batch, epoch, step, self.device)
                loss, stepped = self._step(batch)
                n = len(batch["ids"])
                if stepped:
                    loss_sum += loss.detach().double() * n
                    stepped_utts += n
                else:
                    bad_steps += 1
                utts += n
                frames += int(batch["lengths"].sum())
                if show and (step % 10 == 0 or step + 1 == len(self.sampler)):
                    speed = utts * self.ctx.world_size / (time.perf_counter() - start)
                    progress.update(task, loss=f"{loss_sum.item() / max(1, stepped_utts):.3f}", speed=f"{speed:.0f}")
                progress.advance(task)
        seconds = time.perf_counter() - start
        loss_total, utts_total, frames_total, bad_total, stepped_total = all_sum(
            [loss_sum.item(), utts, frames, bad_steps, stepped_utts], self.ctx
        )
        # train_loss: the mean over the steps taken (a skipped step's utterances do not dilute it)
        return {
            "train_loss": loss_total / max(1.0, stepped_total),
            "bad_steps": int(bad_total),
            "lr": self.optimizer.param_groups[0]["lr"],
            "time_s": seconds,
            "train_utterances": int(utts_total),
            "utt_per_s": utts_total / seconds,
            "frames_per_s": frames_total / seconds,
        }

    def _step(self, batch: dict) -> tuple[torch.Tensor, bool]:
        """One optimisation step; returns the batch's mean CTC loss (per target token, plus the
        loss term's value) and whether the step was taken (not when the gradients are not finite)."""
        x = batch["features"].to(self.device, non_blocking=True)  # (B, T, D)
        lengths = batch["lengths"].to(self.device)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            log_probs, out_lengths = self.net(x, lengths)  # (T', B, V), (B,)
        log_probs = log_probs.float()  # the losses in fp32
        targets, target_lengths = batch["targets"].to(self.device), batch["target_lengths"].to(self.device)
        loss = F.ctc_loss(
            log_probs, targets, out_lengths, target_lengths, blank=0, reduction="mean", zero_infinity=True
        )
        if self.loss_term is not None:
            loss = loss + self.loss_term(log_probs, out_lengths, batch)
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
        """Greedy-decodes the dev set; returns :class:`~islpose.decode.score.ScoreResult` as a dict
        plus ``loss``, the mean CTC loss per gloss of the dev utterances that CTC can align (it
        falls while the model still emits only blanks, when WER cannot show learning).
        Dev utterances without features count as empty hypotheses (all their glosses deleted)."""
        self.model.eval()
        sampler = BucketBatchSampler(
            self.dev_set.lengths, self.tc.batch_size, shuffle=False, max_frames=self.tc.max_frames
        )
        hyps: dict[str, str] = {}
        losses: list[torch.Tensor] = []
        for batch in torch.utils.data.DataLoader(self.dev_set, batch_sampler=sampler, collate_fn=collate):
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
                log_probs, out_lengths = self.model(batch["features"].to(self.device), batch["lengths"].to(self.device))
            log_probs = log_probs.float()
            target_lengths = batch["target_lengths"].to(self.device)
            loss = F.ctc_loss(
                log_probs, batch["targets"].to(self.device), out_lengths, target_lengths, blank=0, reduction="none"
            ) / target_lengths.clamp(min=1)  # (B,), inf: cannot align
            losses.append(loss[torch.isfinite(loss)].cpu())
            for uid, labels in zip(batch["ids"], greedy_decode_batch(log_probs, out_lengths)):
                hyps[uid] = " ".join(self.vocab.decode(labels))
        references = self.dev_set.references + [" ".join(u.glosses) for u in self.dev_missing]
        hypotheses = [hyps[uid] for uid in self.dev_set.ids] + [""] * len(self.dev_missing)
        aligned = torch.cat(losses) if losses else torch.zeros(0)
        return {
            **score_lists(references, hypotheses).to_dict(),
            "loss": float(aligned.mean()) if len(aligned) else None,
        }

    def _end_epoch(self, epoch: int, stats: dict) -> None:
        dev = self.evaluate()
        improved = self._track(dev["wer"], epoch)
        record = {
            "epoch": epoch,
            **stats,
            "dev_loss": dev["loss"],
            "dev_wer": dev["wer"],
            "dev_substitutions": dev["substitutions"],
            "dev_deletions": dev["deletions"],
            "dev_insertions": dev["insertions"],
            "dev_without_features": len(self.dev_missing),
            "best_wer": self.best_wer,
            "best_epoch": self.best_epoch,
        }
        self._log(record)
        if self.writer is not None:
            for key in ("train_loss", "dev_loss", "dev_wer", "lr", "utt_per_s"):
                if record[key] is not None:
                    self.writer.add_scalar(key, record[key], epoch)
        meta = {
            "epoch": epoch,
            "dev_wer": dev["wer"],
            "best_wer": self.best_wer,
            "best_epoch": self.best_epoch,
            "train_loss": stats["train_loss"],
        }
        self._save(
            epoch,
            improved,
            lambda path, meta, state=None: save_checkpoint(
                path, self.model, self.vocab, self.config.to_dict(), meta, state
            ),
            meta,
        )
        mark = " [green]*[/]" if improved else ""
        bad = f", {stats['bad_steps']} step(s) with non-finite gradients skipped" if stats["bad_steps"] else ""
        if self.dev_missing:
            bad += f", {len(self.dev_missing)} dev utterance(s) without features counted as all deletions"
        dev_loss = f"  dev loss {dev['loss']:.4f}" if dev["loss"] is not None else ""
        self.console.print(
            f"epoch {epoch}/{self.tc.epochs}  loss {stats['train_loss']:.4f}{dev_loss}"
            f"  dev WER {100 * dev['wer']:.2f}%{mark}"
            f"  (best {100 * self.best_wer:.2f}% @ {self.best_epoch})  lr {stats['lr']:.2e}"
            f"  {stats['time_s']:.1f}s  {stats['utt_per_s']:.0f} utt/s{bad}",
            highlight=False,
            soft_wrap=True,
        )
        if self.stopped:
            self.console.print(f"early stop: no better dev WER for {self.bad_epochs} epochs")
