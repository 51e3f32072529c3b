"""islpose: continuous sign-language recognition from body landmarks.

The top-level import stays light (no torch, no MediaPipe); heavy parts are imported
by the modules that need them.
"""
__version__ = "0.1.0"

from islpose.errors import IslposeError
from islpose.vocab import Vocabulary

__all__ = ["IslposeError", "Vocabulary", "__version__"]
