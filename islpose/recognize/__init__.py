"""Recognition for users: glosses with their times from videos, ``.pose`` files or landmarks.

:class:`Recognizer` runs a trained student (a ``.pt`` checkpoint, or an ONNX export that
needs only onnxruntime) and a decoder; :mod:`islpose.recognize.segments` turns the
decoded labelling into timed segments; :mod:`islpose.recognize.writers` writes the
records as JSONL, ELAN ``.eaf`` and ``.srt``; :mod:`islpose.recognize.stream` recognises live
streams (committed glosses while the signer signs).
"""

from islpose.recognize.recognizer import Landmarks, Recognizer, presence_of, read_input
from islpose.recognize.segments import Recognition, Segment, forced_align, gloss_segments, segment_frames
from islpose.recognize.stream import LiveEvent, StreamConfig, StreamingRecognizer

__all__ = [
    "Landmarks",
    "LiveEvent",
    "Recognition",
    "Recognizer",
    "Segment",
    "StreamConfig",
    "StreamingRecognizer",
    "forced_align",
    "gloss_segments",
    "presence_of",
    "read_input",
    "segment_frames",
]
