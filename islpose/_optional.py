"""Optional dependencies: import one, or fail with one line that names the extra to install."""
from __future__ import annotations

import importlib
from types import ModuleType

from islpose.errors import IslposeError


def require(module: str, extra: str, what: str | None = None) -> ModuleType:
    """Imports an optional dependency, or raises one user error that says how to install it.

    Args:
        module: the module to import, e.g. ``"mediapipe"`` or ``"cv2"``.
        extra: the islpose extra that installs it, e.g. ``"extract"``.
        what: how the message names the package (default: ``module``), e.g. ``"OpenCV"``.

    Returns:
        The imported module.

    Raises:
        IslposeError: ``<what> is not installed: pip install 'islpose[<extra>]'`` (also when
            the module is installed but fails to import; the reason is appended).

    Example:
        >>> mp = require("mediapipe", "extract", "MediaPipe")  # doctest: +SKIP
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        name = what or module
        missing = isinstance(exc, ModuleNotFoundError) and exc.name is not None and \
            (module == exc.name or module.startswith(exc.name + "."))
        reason = "is not installed" if missing else f"cannot be imported ({exc})"
        raise IslposeError(f"{name} {reason}: pip install 'islpose[{extra}]'") from None
