"""Media shipped with the package: one short real clip for ``islpose demo`` (see ``SOURCES.md`` here)."""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
DEMO_CLIP = HERE / "webcam_signer.mp4"


def demo_clip() -> Path:
    """The real signing clip shipped with islpose (58 frames, 540x720, MIT licence beside it)."""
    return DEMO_CLIP
