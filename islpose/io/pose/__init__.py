"""pose-format ``.pose`` files: reading and writing MediaPipe Holistic recordings.

Only numpy is needed; the ``pose-format`` package itself is not (tests check against it).
"""
from islpose.io.pose.binary import PoseFileError, PoseHeader
from islpose.io.pose.holistic import PoseRecording, read_pose, write_pose

POSE_EXTENSIONS = frozenset({".pose"})  # what counts as a pose-format file in folders and inputs

__all__ = ["POSE_EXTENSIONS", "PoseFileError", "PoseHeader", "PoseRecording", "read_pose", "write_pose"]
