"""The stages that turn media into store records: videos through MediaPipe Holistic
(:mod:`~islpose.extract.videos`, :mod:`~islpose.extract.video`, :mod:`~islpose.extract.holistic`),
pose-format ``.pose`` files in and out (:mod:`~islpose.extract.import_pose`,
:mod:`~islpose.extract.export_pose`, :mod:`~islpose.extract.posefile`), features of stored
landmarks (:mod:`~islpose.extract.featurize`), and the run they share (inputs, executors,
resume, summary: :mod:`~islpose.extract.inputs`, :mod:`~islpose.extract.executors`,
:mod:`~islpose.extract.runner`).

Importing this package is light; the submodules import h5py, OpenCV and MediaPipe. The
package is also callable: ``islpose.extract(inputs, out)`` is :func:`islpose.extract.videos.extract`.
"""
from __future__ import annotations

import sys
import types
from typing import Any


class _CallableModule(types.ModuleType):
    """Lets ``islpose.extract(...)`` run :func:`islpose.extract.videos.extract` (the package
    and the function share the name)."""

    def __call__(self, *args: Any, **kwargs: Any):
        from islpose.extract.videos import extract

        return extract(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
