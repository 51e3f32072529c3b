"""The pose-format ``.pose`` binary format (v0.1 read, v0.2 read and written), numpy only.

The mapping of MediaPipe Holistic recordings onto islpose's landmark layout lives in
:mod:`islpose.extract.posefile`; the ``pose-format`` package itself is not needed (tests
check against it).
"""

from islpose.io.pose.binary import PoseFileError, PoseHeader

POSE_EXTENSIONS = frozenset({".pose"})  # what counts as a pose-format file in folders and inputs

__all__ = ["POSE_EXTENSIONS", "PoseFileError", "PoseHeader"]
