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
        missing = (
            isinstance(exc, ModuleNotFoundError)
            and exc.name is not None
            and (module == exc.name or module.startswith(exc.name + "."))
        )
        reason = "is not installed" if missing else f"cannot be imported ({exc})"
        raise IslposeError(f"{name} {reason}: pip install 'islpose[{extra}]'") from None


#: top-level module of an optional dependency -> (how messages name it, the extra that installs it)
EXTRAS = {
    "torch": ("PyTorch", "train"),
    "onnxruntime": ("onnxruntime", "runtime"),
    "onnx": ("onnx", "export"),
    "mediapipe": ("MediaPipe", "extract"),
    "cv2": ("OpenCV", "extract"),
    "flashlight": ("flashlight-text", "decode"),
    "ray": ("Ray", "ray"),
    "sacrebleu": ("sacrebleu", "teacher"),
    "safetensors": ("safetensors", "teacher"),
    "matplotlib": ("matplotlib", "viz"),
}


def missing_extra_message(exc: BaseException) -> str | None:
    """The one line for a :class:`ModuleNotFoundError` of an optional dependency, else ``None``.

    A command whose module imports an optional dependency at the top (e.g. torch for
    ``islpose train``) fails before :func:`require` can speak; the CLI turns that error
    into the same line: ``PyTorch is not installed: pip install 'islpose[train]'``.
    """
    if not isinstance(exc, ModuleNotFoundError) or not exc.name:
        return None
    known = EXTRAS.get(exc.name.split(".")[0])
    if known is None:
        return None
    name, extra = known
    return f"{name} is not installed: pip install 'islpose[{extra}]'"
