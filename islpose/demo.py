"""``islpose demo``: the whole chain on built-in data, in a few minutes on a laptop CPU.

1. Extraction (MediaPipe Holistic) of the real signing clip shipped with the package
   (:func:`islpose.assets.demo_clip`), when MediaPipe is installed (skipped with a note
   naming the extra otherwise).
2. A synthetic signing corpus (:func:`islpose.testing.make_synthetic_corpus`).
3. A short ``bilstm_optimized`` training on it.
4. Test-set decoding, greedy and beam search with a gloss 3-gram LM, with the WER.
5. ``recognize`` on one held-out utterance written as a ``.pose`` file: its glosses
   and timed segments, printed beside the true ones.

Everything goes under one folder; a non-empty folder the demo did not make is refused
unless ``overwrite`` is set (and then only the demo's own sub-folders are replaced).
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from islpose.errors import IslposeError

if TYPE_CHECKING:
    from islpose.recognize import Recognition

MARKER = ".islpose-demo"
PARTS = ("real", "corpus", "run", "decode", "recognize")


@dataclass(frozen=True)
class DemoSize:
    """How big the demo runs: corpus, model and training."""

    glosses: int
    signers: int
    sentences: int  # per signer
    epochs: int
    model: dict


FULL = DemoSize(
    glosses=12,
    signers=6,
    sentences=40,
    epochs=40,
    model={"projection_dim": 64, "hidden_dim": 96, "num_layers": 2, "dropout": 0.1},
)
QUICK = DemoSize(
    glosses=6,
    signers=3,
    sentences=12,
    epochs=10,
    model={"projection_dim": 32, "hidden_dim": 48, "num_layers": 2, "dropout": 0.1},
)


def prepare_folder(out: Path, overwrite: bool) -> None:
    """Creates ``out`` or checks that the demo may write there (see the module docstring).

    Sub-folders named like the demo's parts are replaced only in a folder the demo made
    (its marker file is there): in any other folder, even with ``overwrite``, they are the
    user's and the demo refuses to run.
    """
    if out.exists() and not out.is_dir():
        raise IslposeError(f"{out}: not a folder")
    ours = (out / MARKER).is_file()
    if out.is_dir() and any(out.iterdir()) and not ours and not overwrite:
        raise IslposeError(
            f"{out}: folder is not empty and was not made by `islpose demo`; "
            "pass --overwrite to let the demo write there"
        )
    clash = [part for part in PARTS if (out / part).exists()]
    if clash and not ours:
        raise IslposeError(f"{out}: holds {', '.join(clash)}, which `islpose demo` did not make; choose another folder")
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("made by islpose demo\n", encoding="utf-8")
    for part in clash:
        if (out / part).is_dir():
            shutil.rmtree(out / part)
        else:
            (out / part).unlink()


def _extract_real(out: Path, echo: Callable[[str], None]) -> None:
    import importlib.util

    from islpose.assets import demo_clip

    if importlib.util.find_spec("mediapipe") is None:
        echo("  skipped: MediaPipe is not installed (pip install 'islpose[extract]')")
        return
    from islpose.extract.videos import ExtractConfig, extract

    (out / "real").mkdir()
    summary = extract([demo_clip()], out / "real" / "features.h5", ExtractConfig(workers=1))
    echo(
        f"  {len(summary.done)} clip(s), {summary.frames} frames in {summary.seconds:.1f} s "
        f"({summary.frames_per_second:.1f} frames/s) -> {out / 'real' / 'features.h5'}"
    )
    for _, reason in summary.failed:
        echo(f"  not usable (as expected for a clip without a signer): {reason}")


def _decode(out: Path, corpus, echo: Callable[[str], None]) -> None:
    from islpose.decode import DecoderConfig, build_lm, decode_store, manifest_sentences, write_arpa

    arpa = write_arpa(build_lm(manifest_sentences(corpus.manifest, "train"), 3), out / "decode" / "glosses.arpa")
    settings = {"greedy": DecoderConfig(beam_size=1), "beam 5 + 3-gram LM": DecoderConfig(beam_size=5, lm=str(arpa))}
    for name, config in settings.items():
        try:
            result = decode_store(
                out / "run" / "best.pt", corpus.store, manifest=corpus.manifest, split="test", config=config
            )
        except IslposeError as exc:  # flashlight-text missing: greedy only
            echo(f"  {name}: skipped ({exc})")
            continue
        s = result.score
        echo(
            f"  test WER, {name}: {100 * s.wer:.1f}% ({s.substitutions} sub, {s.deletions} del, "
            f"{s.insertions} ins over {s.ref_words} glosses)"
        )


def _recognize_one(out: Path, corpus, echo: Callable[[str], None]) -> Recognition:
    from islpose.extract.posefile import write_pose
    from islpose.io import FeatureStore
    from islpose.manifests import read_manifest
    from islpose.recognize import Recognition, Recognizer
    from islpose.recognize.run import recognize_files

    utt = read_manifest(corpus.manifest).split("test")[0]
    with FeatureStore(corpus.store) as store:
        a = store.attrs(utt.id)
        pose = write_pose(
            out / "recognize" / f"{utt.id}.pose",
            store.read(utt.id, "landmarks"),
            a["fps"],
            a["width"],
            a["height"],
            store.read(utt.id, "presence"),
        )
    rec = Recognizer.from_checkpoint(out / "run" / "best.pt", beam=1)
    jsonl = out / "recognize" / "recognized.jsonl"
    summary = recognize_files(rec, [pose], jsonl, eaf_dir=out / "recognize", srt_dir=out / "recognize")
    if summary.failed:
        raise IslposeError(f"recognize failed on {pose}: {summary.failed[0][1]}")
    result = Recognition.from_dict(json.loads(jsonl.read_text(encoding="utf-8").splitlines()[0]))
    fps = a["fps"]
    echo(f"  {pose.name} ({result.duration:.2f} s)")
    echo(
        "  true signs:  "
        + "  ".join(f"{g} {a0 / fps:.2f}-{b0 / fps:.2f}" for g, (a0, b0) in zip(utt.glosses, corpus.spans[utt.id]))
    )
    echo(
        "  recognised:  "
        + ("  ".join(f"{s.gloss} {s.start:.2f}-{s.end:.2f} ({s.score:.2f})" for s in result.segments) or "nothing")
    )
    echo(f"  wrote {jsonl}, {utt.id}.eaf (ELAN) and {utt.id}.srt beside it")
    return result


def run_demo(
    out_dir: str | Path, *, quick: bool = False, overwrite: bool = False, echo: Callable[[str], None] = print
) -> Recognition:
    """Runs the demo into ``out_dir`` (on one torch thread) and returns what step 5 recognised."""
    from islpose.device import torch_threads

    # One thread: the same numbers on every machine, and no epoch slowed down while a thread
    # waits for a core that another program holds.
    with torch_threads(1):
        return _run_demo(Path(out_dir), QUICK if quick else FULL, overwrite, echo)


def _run_demo(out: Path, size: DemoSize, overwrite: bool, echo: Callable[[str], None]) -> dict:
    from islpose.testing import make_synthetic_corpus
    from islpose.train import resolve_config, train

    prepare_folder(out, overwrite)
    start = time.perf_counter()
    echo("[1/5] MediaPipe Holistic on a real signing clip")
    _extract_real(out, echo)
    echo("[2/5] synthetic corpus")
    corpus = make_synthetic_corpus(
        out / "corpus", num_glosses=size.glosses, num_signers=size.signers, utterances_per_signer=size.sentences, seed=0
    )
    echo(
        f"  {size.glosses} glosses; train/dev/test {corpus.splits['train']}/{corpus.splits['dev']}/"
        f"{corpus.splits['test']} sentences (dev and test signers unseen) -> {corpus.store}"
    )
    echo(f"[3/5] training bilstm_optimized for {size.epochs} epochs")
    config = resolve_config(
        "bilstm_optimized",
        {
            "model_config": size.model,
            "train": {
                "epochs": size.epochs,
                "batch_size": 8,
                "warmup_epochs": 1,
                "lr": 3e-3,
                "device": "cpu",
                "progress": False,
                "amp": False,
                "patience": 0,
                "seed": 0,
            },
        },
    )
    result = train(config, corpus.store, corpus.manifest, out / "run")
    echo(
        f"  best dev WER {100 * (result.best_wer or 0):.1f}% at epoch {result.best_epoch} -> {out / 'run' / 'best.pt'}"
    )
    echo("[4/5] decoding the test signer")
    (out / "decode").mkdir()
    _decode(out, corpus, echo)
    echo("[5/5] recognize on one test sentence (as a .pose file)")
    (out / "recognize").mkdir()
    result = _recognize_one(out, corpus, echo)
    echo(f"done in {time.perf_counter() - start:.0f} s; everything is in {out}")
    return result
