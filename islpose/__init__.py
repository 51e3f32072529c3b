"""islpose: continuous sign-language recognition from body landmarks.

The top-level import stays light (no torch, no MediaPipe); heavy parts are imported
by the modules that need them.
"""
__version__ = "0.1.0"

from islpose.errors import IslposeError
from islpose.vocab import Vocabulary

__all__ = ["IslposeError", "Recognizer", "Vocabulary", "__version__"]


def __getattr__(name: str):
    if name == "Recognizer":  # imported on first use (it brings numpy and the decoders)
        from islpose.recognize import Recognizer

        return Recognizer
    raise AttributeError(f"module 'islpose' has no attribute {name!r}")
