"""Training of the RGB video teachers behind ``islpose teacher train`` (one process, or DDP under ``torchrun``).

Per optimizer update: ``grad_accum`` batches of clips (uint8 -> normalised on the device)
-> teacher under bf16 autocast on CUDA -> hybrid CTC + label-smoothed CE loss -> backward
(DDP gradient sync only on the last of them) -> gradient clipping -> fused AdamW on CUDA
with separate encoder / decoder learning rates, each warmed up and cosine-decayed. After
every epoch rank 0 measures dev WER (CTC head, greedy) and BLEU (text head, greedy, needs
``sacrebleu``), keeps ``best.pt`` (lowest dev WER) and ``last.pt`` (resume), and stops
early after ``patience`` epochs without a better WER.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from rich.console import Console
from torch.utils.data.distributed import DistributedSampler

from islpose.data.sampler import shard
from islpose.decode.greedy import greedy_decode_batch
from islpose.decode.score import score_lists
from islpose.errors import IslposeError
from islpose.io.atomic import write_text_atomic
from islpose.manifests import read_manifest, select_utterances
from islpose.teacher.checkpoint import read_teacher_checkpoint, rebuild, save_teacher_checkpoint
from islpose.teacher.config import TeacherConfig
from islpose.teacher.generate import greedy_generate
from islpose.teacher.loss import hybrid_loss
from islpose.teacher.models import build_teacher, load_init_weights
from islpose.teacher.text import TextVocabulary, tokenize
from islpose.teacher.video import VideoDataset, make_loader, normalize_frames
from islpose.train.config import write_yaml
from islpose.train.distributed import DistContext, all_sum, cleanup_distributed, init_distributed
from islpose.train.epochs import EpochLoop, refuse_finished_run, seed_everything
from islpose.vocab import Vocabulary

TEXT_HINT = " (the text decoder learns from it; set loss.ce_weight: 0 to train the CTC head only)"
BLEU_HINT = "dev BLEU skipped: sacrebleu is not installed (pip install sacrebleu)"


@dataclass
class TeacherTrainResult:
    """What a run reached: best dev WER (0-1) with its epoch and BLEU, epochs done,
    ``(id, message)`` of the videos that could not be read."""

    out_dir: Path
    best_wer: float | None
    best_epoch: int
    best_bleu: float | None
    last_epoch: int
    stopped_early: bool
    failures: list


def train_teacher(
    config: TeacherConfig,
    manifest: str | Path,
    out_dir: str | Path,
    *,
    resume: bool = False,
    init_weights: str | Path | None = None,
    console: Console | None = None,
) -> TeacherTrainResult:
    """Trains ``config.model`` on the manifest's ``train`` videos, selecting checkpoints on dev WER.

    Args:
        config: the run config (``load_teacher_config``).
        manifest: utterances with ``video``, ``glosses``, ``split`` (train and dev) and, when
            ``config.loss.ce_weight > 0``, ``text``.
        out_dir: run folder: ``best.pt``, ``last.pt``, ``tokens.txt``, ``text_tokens.txt``,
            ``config.yaml``, ``metrics.jsonl``, ``failures.tsv`` (unreadable videos).
        resume: continue the run in ``out_dir`` from ``last.pt``.
        init_weights: local pretrained weights for a new run (``load_init_weights``).
        console: where progress and messages go (default: stderr).

    Under ``torchrun`` (``WORLD_SIZE`` > 1) every process calls this; rank 0 evaluates,
    logs and writes checkpoints.
    """
    ctx = init_distributed(config.train.device)
    finished = False
    try:
        result = TeacherTrainer(config, Path(manifest), Path(out_dir), resume, init_weights, ctx, console).fit()
        finished = True
        return result
    finally:
        cleanup_distributed(ctx, finished)


class TeacherTrainer(EpochLoop):
    """Set-up and epochs of one teacher run; :func:`train_teacher` is the entry point."""

    def __init__(
        self,
        config: TeacherConfig,
        manifest_path: Path,
        out: Path,
        resume: bool,
        init_weights: str | Path | None,
        ctx: DistContext,
        console: Console | None,
    ) -> None:
        self.config, self.tc, self.out, self.ctx, self.device = config, config.train, out, ctx, ctx.device
        self.console = console or Console(stderr=True)
        if resume and init_weights:
            raise IslposeError("--init-weights starts a new run; it cannot be combined with --resume")
        if not resume:
            refuse_finished_run(out)
        state = (
            self._resume_state(read_teacher_checkpoint, ("model", "model_config", "video", "loss")) if resume else None
        )
        seed_everything(self.tc.seed)
        self._read_data(manifest_path, state)
        cuda = self.device.type == "cuda"
        self.amp = self.tc.amp and cuda and torch.cuda.is_bf16_supported()
        init_note = self._build_model(init_weights)
        groups = self.model.param_groups(self.tc.encoder_lr, self.tc.decoder_lr, self.tc.weight_decay)
        self.optimizer = torch.optim.AdamW(groups, fused=True if cuda else None)
        # One factor per optimizer update for every group: each keeps its own peak.
        self._make_scheduler(math.ceil(len(self.loader) / self.tc.grad_accum))
        self._start()
        self.best_bleu, self.failures, self.bleu_noticed = None, {}, False
        if state:
            self._load_state(state)
        if ctx.is_main:
            self._prepare_out_dir(init_note)

    # ------------------------------------------------------------------ set-up
    def _read_data(self, manifest_path: Path, state: dict | None) -> None:
        """The vocabularies, this rank's training videos and loader, and (rank 0) the dev loader."""
        config = self.config
        train, dev = self._read_splits(manifest_path)
        self.use_text = config.loss.ce_weight > 0
        if state:
            _, self.vocab, self.text_vocab = rebuild(state, self.out / "last.pt")
        else:
            self.vocab = Vocabulary(g for u in train for g in u.glosses)
            self.text_vocab = TextVocabulary.from_texts(u.text for u in train) if self.use_text else None
        if self.use_text:
            limit = config.model_config.decoder.max_len
            long = [u.id for u in train if len(self.text_vocab.encode(u.text)) > limit]
            if long:
                raise IslposeError(
                    f"{manifest_path}: {len(long)} train text(s) are longer than "
                    f"model_config.decoder.max_len={limit} tokens, e.g. {long[0]!r}"
                )
        # Under DDP each rank reads (and caches) only its own share of the videos, every epoch.
        share = [train[i] for i in shard([0] * len(train), self.ctx.world_size, self.ctx.rank)]
        self.n_train = len(train)
        self.train_set = VideoDataset(
            share, config.video, gloss_vocab=self.vocab, text_vocab=self.text_vocab, skip_errors=True
        )
        self.sampler = DistributedSampler(self.train_set, num_replicas=1, rank=0, shuffle=True, seed=self.tc.seed)
        cuda = self.device.type == "cuda"
        self.loader = make_loader(
            self.train_set, self.tc.batch_size, num_workers=self.tc.num_workers, sampler=self.sampler, pin_memory=cuda
        )
        self.dev = dev
        self.dev_loader = (
            make_loader(
                VideoDataset(dev, config.video, skip_errors=True),
                self.tc.batch_size,
                num_workers=self.tc.num_workers,
                pin_memory=cuda,
            )
            if self.ctx.is_main
            else None
        )

    def _build_model(self, init_weights: str | Path | None) -> str:
        """The teacher on its device (``net``: wrapped in DDP when distributed); returns a note
        on the pretrained weights loaded, for the run's first message."""
        self.model = build_teacher(
            self.config.model,
            self.config.model_config,
            vocab_size=len(self.vocab),
            text_vocab_size=len(self.text_vocab) if self.use_text else 0,
        )
        init_note = ""
        if init_weights:
            loaded = load_init_weights(self.model, init_weights)
            init_note = f", {len(loaded['loaded'])} tensors from {init_weights}"
        self.model.to(self.device)
        self.net = self.model
        if self.ctx.distributed:
            cuda = self.device.type == "cuda"
            self.net = torch.nn.parallel.DistributedDataParallel(self.model, device_ids=[self.device] if cuda else None)
        return init_note

    def _read_splits(self, path: Path) -> tuple[list, list]:
        manifest = read_manifest(path, check_videos=True)
        splits = [select_utterances(manifest, name, require=("video", "glosses")) for name in ("train", "dev")]
        if self.config.loss.ce_weight > 0:
            for name in ("train", "dev"):
                select_utterances(manifest, name, require=("text",), hint=TEXT_HINT)
        return splits[0], splits[1]

    def _load_state(self, state: dict) -> None:
        super()._load_state(state)
        self.best_bleu = (self.adopted_best or {}).get("dev_bleu", state["training_state"]["best_bleu"])

    def _training_state(self, epoch: int) -> dict:
        return {**super()._training_state(epoch), "best_bleu": self.best_bleu}

    def _prepare_out_dir(self, init_note: str) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        self.vocab.save(self.out / "tokens.txt")
        if self.text_vocab is not None:
            self.text_vocab.save(self.out / "text_tokens.txt")
        if self.start_epoch == 1:  # a fresh run: drop the log of a run that died before its first epoch
            (self.out / "metrics.jsonl").unlink(missing_ok=True)
        write_yaml(self.config, self.out / "config.yaml")
        params = sum(p.numel() for p in self.model.parameters())
        text = f"text vocabulary {len(self.text_vocab)}" if self.text_vocab is not None else "no text head"
        processes = f" x {self.ctx.world_size} processes" if self.ctx.distributed else ""
        self.console.print(
            f"teacher {self.config.model}: {params:,} parameters{init_note}, gloss vocabulary {len(self.vocab)}, "
            f"{text}, {self.n_train} train / {len(self.dev)} dev videos, device {self.device}{processes}"
            f"{', bf16' if self.amp else ''}",
            highlight=False,
            soft_wrap=True,
        )

    # ------------------------------------------------------------------ loop
    def _result(self, epoch: int) -> TeacherTrainResult:
        return TeacherTrainResult(
            self.out,
            self.best_wer,
            self.best_epoch,
            self.best_bleu,
            epoch,
            bool(self.stopped),
            sorted(self.failures.items()),
        )

    def _autocast(self) -> contextlib.AbstractContextManager:
        return torch.autocast("cuda", dtype=torch.bfloat16) if self.amp else contextlib.nullcontext()

    def _frames(self, batch) -> torch.Tensor:
        """(B, T, 3, S, S) uint8 on the device -> normalised float."""
        return normalize_frames(batch.frames, self.config.video.mean, self.config.video.std)

    def train_epoch(self, epoch: int) -> dict:
        """One pass over the train split; returns losses, lr, time and speed (all ranks summed)."""
        self.sampler.set_epoch(epoch)
        self.net.train()
        sums = torch.zeros(4, dtype=torch.float64)  # loss, ctc, ce (x clips), clips
        frames = skipped = bad_steps = 0
        failures: list = []
        accum, steps = self.tc.grad_accum, len(self.loader)
        start = time.perf_counter()
        self.optimizer.zero_grad(set_to_none=True)
        for i, batch in enumerate(self.loader):
            failures += batch.failures
            last_micro = (i + 1) % accum == 0 or i + 1 == steps
            if batch.ids:
                batch = batch.to(self.device, non_blocking=True)
                sync = self.net.no_sync() if self.ctx.distributed and not last_micro else contextlib.nullcontext()
                with sync:
                    with self._autocast():
                        out = self.net(self._frames(batch), batch.lengths, batch.text)
                    loss = hybrid_loss(out, batch.targets, batch.target_lengths, batch.text, self.config.loss)
                    (loss.loss / accum).backward()
                n = len(batch.ids)
                sums += torch.tensor(
                    [loss.loss.item() * n, loss.ctc.item() * n, loss.ce.item() * n, n], dtype=torch.float64
                )
                frames += int(batch.lengths.sum())
                skipped += loss.skipped
            if last_micro:
                norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.tc.grad_clip or float("inf"))
                if torch.isfinite(norm):  # the norm of the all-reduced gradients: every rank agrees
                    self.optimizer.step()
                else:
                    bad_steps += 1
                self.optimizer.zero_grad(set_to_none=True)
                self.scheduler.step()
        seconds = time.perf_counter() - start
        loss, ctc, ce, clips, frames, skipped, bad_steps = all_sum(
            sums.tolist() + [frames, skipped, bad_steps], self.ctx
        )
        failures = self._gather(failures)
        self.failures.update(failures)
        if clips == 0:
            raise IslposeError(f"no train video could be read, e.g. {failures[0][0]}: {failures[0][1]}")
        return {
            "train_loss": loss / clips,
            "train_ctc": ctc / clips,
            "train_ce": ce / clips,
            "ctc_skipped": int(skipped),
            "bad_steps": int(bad_steps),
            "unreadable": len(failures),
            "encoder_lr": self.optimizer.param_groups[0]["lr"],
            "time_s": seconds,
            "clips_per_s": clips / seconds,
            "frames_per_s": frames / seconds,
        }

    def _gather(self, items: list) -> list:
        if not self.ctx.distributed:
            return items
        lists: list = [None] * self.ctx.world_size
        torch.distributed.all_gather_object(lists, items)
        return [x for part in lists for x in part]

    @torch.no_grad()
    def evaluate(self) -> dict:
        """Dev WER of the greedy CTC output and, with a text head, BLEU of greedy generation.
        An unreadable dev video counts as an empty hypothesis (all its words are errors)."""
        self.model.eval()
        glosses, texts = {u.id: "" for u in self.dev}, {u.id: "" for u in self.dev}
        for batch in self.dev_loader:
            self.failures.update(batch.failures)
            if not batch.ids:
                continue
            batch = batch.to(self.device, non_blocking=True)
            frames = self._frames(batch)
            with self._autocast():
                out = self.model(frames, batch.lengths)
                generated = greedy_generate(self.model, frames, batch.lengths) if self.use_text else None
            for b, (uid, labels) in enumerate(zip(batch.ids, greedy_decode_batch(out.log_probs.float(), out.lengths))):
                glosses[uid] = " ".join(self.vocab.decode(labels))
                if generated is not None:
                    texts[uid] = self.text_vocab.decode(generated[b])
        result = score_lists([" ".join(u.glosses) for u in self.dev], [glosses[u.id] for u in self.dev]).to_dict()
        result["bleu"] = (
            self._bleu([" ".join(tokenize(u.text)) for u in self.dev], [texts[u.id] for u in self.dev])
            if self.use_text
            else None
        )
        return result

    def _bleu(self, references: list[str], hypotheses: list[str]) -> float | None:
        """Corpus BLEU (0-100) with sacrebleu, or None (with a one-time notice) without it."""
        try:
            import sacrebleu
        except ImportError:
            if not self.bleu_noticed:
                self.console.print(BLEU_HINT, highlight=False)
                self.bleu_noticed = True
            return None
        return float(sacrebleu.corpus_bleu(hypotheses, [references]).score)

    def _end_epoch(self, epoch: int, stats: dict) -> None:
        dev = self.evaluate()
        improved = self._track(dev["wer"], epoch)
        if improved:
            self.best_bleu = dev["bleu"]
        record = {
            "epoch": epoch,
            **stats,
            "decoder_lr": self.optimizer.param_groups[-1]["lr"],
            "dev_wer": dev["wer"],
            "dev_bleu": dev["bleu"],
            "dev_substitutions": dev["substitutions"],
            "dev_deletions": dev["deletions"],
            "dev_insertions": dev["insertions"],
            "best_wer": self.best_wer,
            "best_epoch": self.best_epoch,
        }
        self._log(record)
        if self.failures:
            lines = "".join(f"{uid}\t{msg}\n" for uid, msg in sorted(self.failures.items()))
            write_text_atomic(self.out / "failures.tsv", "id\tmessage\n" + lines)
        meta = {
            "epoch": epoch,
            "dev_wer": dev["wer"],
            "dev_bleu": dev["bleu"],
            "best_wer": self.best_wer,
            "best_epoch": self.best_epoch,
            "train_loss": stats["train_loss"],
        }
        self._save(
            epoch,
            improved,
            lambda path, meta, state=None: save_teacher_checkpoint(
                path, self.model, self.config, self.vocab, self.text_vocab, meta, state
            ),
            meta,
        )
        bleu = f"  BLEU {dev['bleu']:.1f}" if dev["bleu"] is not None else ""
        notes = (
            [f"{stats['ctc_skipped']} clip(s) too short for their glosses left out of CTC"] * bool(stats["ctc_skipped"])
            + [f"{stats['bad_steps']} update(s) with non-finite gradients skipped"] * bool(stats["bad_steps"])
            + [f"{len(self.failures)} unreadable video(s), see failures.tsv"] * bool(self.failures)
        )
        self.console.print(
            f"epoch {epoch}/{self.tc.epochs}  loss {stats['train_loss']:.4f} (ctc {stats['train_ctc']:.3f}, "
            f"ce {stats['train_ce']:.3f})  dev WER {100 * dev['wer']:.2f}%{bleu}{' *' if improved else ''}  "
            f"(best {100 * self.best_wer:.2f}% @ {self.best_epoch})  {stats['time_s']:.1f}s  "
            f"{stats['frames_per_s']:.0f} frames/s" + "".join(f"; {n}" for n in notes),
            highlight=False,
            soft_wrap=True,
        )
        if self.stopped:
            self.console.print(f"early stop: no better dev WER for {self.bad_epochs} epochs")
