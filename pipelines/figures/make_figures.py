"""Draws the README's pictures: one of each kind islpose makes.

    overlay.png        `islpose show`: MediaPipe Holistic landmarks of a real clip
                       (tests/data/videos/webcam_signer.mp4) over its video
    curves.png         `islpose plot`: two short training runs on the synthetic corpus
    posteriorgram.png  `plot_posteriorgram`: the trained model on a held-out dev sentence,
                       with its decoded segments and the true sign times

Usage::

    python pipelines/figures/make_figures.py                       # writes pipelines/figures/*.png
    python pipelines/figures/make_figures.py --work /tmp/figs --epochs 3   # quicker, for a try

The PNGs are reduced to 256-colour palettes so that the three stay a few hundred KB.
Every CLI command is printed before it runs.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
MEDIA = HERE.parents[1] / "tests" / "data"
CLIP = "webcam_signer"


def islpose(*args) -> None:
    """Runs ``islpose ARGS`` (as ``python -m islpose.cli.main``), echoing the command; stops on failure."""
    args = [str(a) for a in args]
    print("$ islpose " + " ".join(shlex.quote(a) for a in args), flush=True)
    subprocess.run([sys.executable, "-m", "islpose.cli.main", *args], check=True)


def palette(path: Path, colours: int = 256) -> None:
    """Rewrites a PNG with a palette of ``colours`` (a third of the size, or less)."""
    from PIL import Image

    with Image.open(path) as im:
        small = im.convert("RGB").quantize(colours, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    small.save(path, optimize=True)
    print(f"  {path.name}: {path.stat().st_size / 1024:.0f} KB", flush=True)


def overlay(work: Path, out: Path) -> None:
    """Extracts the real clip and draws 8 of its frames over the video."""
    store = work / "real.h5"
    if not store.exists():
        islpose("extract", MEDIA / "videos" / f"{CLIP}.mp4", store, "--workers", 1, "--quiet")
    islpose("show", store, CLIP, "--out", out, "--frames", 8, "--width", 200, "--overwrite")
    palette(out)


def training(work: Path, out: Path, epochs: int) -> tuple:
    """Two bilstm_optimized runs (learning rates 2e-3 and 5e-4) on the synthetic corpus; their curves."""
    import yaml

    from islpose.testing import make_synthetic_corpus

    corpus = make_synthetic_corpus(work / "corpus", seed=0)
    runs = []
    for lr in ("2e-3", "5e-4"):
        run = work / f"bilstm_lr{lr}"
        config = work / f"lr{lr}.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "model": "bilstm_optimized",
                    "train": {
                        "epochs": epochs,
                        "batch_size": 8,
                        "lr": float(lr),
                        "warmup_epochs": 1,
                        "progress": False,
                    },
                }
            )
        )
        if not (run / "best.pt").exists():
            islpose(
                "train", "--config", config, "--features", corpus.store, "--manifest", corpus.manifest, "--out", run
            )
        runs.append(run)
    islpose("plot", *runs, "--out", out, "--title", "bilstm_optimized on the synthetic corpus", "--overwrite")
    palette(out)
    return corpus, runs[0]


def posteriorgram(corpus, run: Path, out: Path) -> None:
    """The first dev sentence through the run's best model, with the true sign times."""
    from islpose.manifests import read_manifest
    from islpose.testing.synthetic import FPS
    from islpose.viz import align_utterance, plot_posteriorgram

    utt = read_manifest(corpus.manifest).split("dev")[0]
    a = align_utterance(run / "best.pt", corpus.store, utt.id)
    truth = [{"gloss": g, "start": s / FPS, "end": e / FPS} for g, (s, e) in zip(utt.glosses, corpus.spans[utt.id])]
    plot_posteriorgram(
        a.log_probs,
        a.tokens,
        out,
        segments=a.segments,
        reference=truth,
        frame_seconds=a.frame_seconds,
        title=f"{utt.id} (dev signer), {run.name}/best.pt",
    )
    print(f"  {utt.id}: decoded {' '.join(s.gloss for s in a.segments)}; reference {' '.join(utt.glosses)}")
    palette(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, help="Folder for the store, corpus and runs (default: a temporary one).")
    parser.add_argument("--out", type=Path, default=HERE, help="Where the PNGs go.")
    parser.add_argument("--epochs", type=int, default=14, help="Epochs of each training run.")
    args = parser.parse_args()
    if not (MEDIA / "videos" / f"{CLIP}.mp4").is_file():
        sys.exit(f"real test media not found at {MEDIA}")
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        overlay(work, args.out / "overlay.png")
        corpus, run = training(work, args.out / "curves.png", args.epochs)
        posteriorgram(corpus, run, args.out / "posteriorgram.png")


if __name__ == "__main__":
    main()
