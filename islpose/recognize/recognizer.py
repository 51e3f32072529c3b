"""The :class:`Recognizer`: glosses with their times from a video, a ``.pose`` file or landmarks.

Example:
    >>> from islpose import Recognizer
    >>> rec = Recognizer.from_checkpoint("runs/bilstm/best.pt", beam=5)  # doctest: +SKIP
    >>> record = rec.recognize("clip.mp4")  # doctest: +SKIP
    >>> record["glosses"], record["segments"][0]  # doctest: +SKIP
    ('I GO SCHOOL', {'gloss': 'I', 'start': 0.24, 'end': 0.68, 'score': 0.97})
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from islpose.decode.config import DecoderConfig
from islpose.errors import IslposeError
from islpose.features.compute import multimodal_features, pose_features, signing_span
from islpose.features.layout import NUM_LANDMARKS, Landmarks, nobody_detected, presence_of
from islpose.io.pose import POSE_EXTENSIONS
from islpose.recognize.runtime import StudentModel, load_student
from islpose.recognize.segments import gloss_segments

if TYPE_CHECKING:
    from islpose.recognize.stream import StreamingRecognizer


def read_input(path: str | Path) -> Landmarks:
    """Landmarks of a video (MediaPipe Holistic) or a ``.pose`` file.

    Raises:
        IslposeError: the file cannot be used (missing, not a video or ``.pose``, nobody
            visible, no frame rate).
    """
    path = Path(path)
    if path.suffix.lower() in POSE_EXTENSIONS:
        from islpose.io.pose import read_pose

        data = read_pose(path)
    else:
        from islpose.features.video import VideoOptions, load_video

        data = load_video(path, VideoOptions())
    if not data.fps > 0:
        raise IslposeError(f"{path}: no frame rate is declared, so no times can be given")
    return data


class Recognizer:
    """A trained student plus a decoder: landmarks in, glosses and their segments out.

    Every ``recognize*`` method returns one record (the same as a line of ``islpose
    recognize --out``): ``{"id", "source", "duration", "glosses", "segments": [{"gloss",
    "start", "end", "score"}, ...]}``, times in seconds.

    Args:
        model: the student (see :func:`~islpose.recognize.runtime.load_student`).
        config: decoder settings; ``beam_size == 1`` is greedy decoding, beam search needs
            flashlight-text. With an ONNX model neither needs torch.
    """

    def __init__(self, model: StudentModel, config: DecoderConfig | None = None) -> None:
        self.model = model
        self.config = config or DecoderConfig()
        self.config.check()
        if self.config.method == "greedy":
            from islpose.decode.greedy import greedy_decode

            blank = model.vocab.blank_id
            self._decode: Callable[[np.ndarray], list[int]] = lambda lp: greedy_decode(lp, blank)
        else:
            from islpose.decode.decoders import build_decoder

            self._decode = build_decoder(self.config, model.vocab).decode

    @classmethod
    def from_checkpoint(cls, path: str | Path, *, beam: int = 5, lm: str | Path | None = None,
                        lm_weight: float = DecoderConfig.lm_weight, word_score: float = DecoderConfig.word_score,
                        **decoder: Any) -> "Recognizer":
        """A recognizer for a ``.pt`` checkpoint of ``islpose train`` or a ``.onnx`` of ``islpose export``.

        Args:
            path: the checkpoint or ONNX model (with ``MODEL.tokens.txt`` beside it).
            beam: beam size; 1 = greedy.
            lm: gloss n-gram LM (ARPA or KenLM binary) for beam search.
            lm_weight, word_score: as in ``islpose decode``.
            decoder: other :class:`DecoderConfig` fields (``beam_size_token``, ``beam_threshold``).
        """
        config = DecoderConfig(beam_size=beam, lm=None if lm is None else str(lm), lm_weight=lm_weight,
                               word_score=word_score, **decoder)
        config.check()
        return cls(load_student(path), config)

    def stream(self, fps: float, width: int, height: int, config: Any = None, *,
               uid: str = "live") -> "StreamingRecognizer":
        """A live stream over this model: landmarks go in frame by frame, committed glosses
        come out (:class:`~islpose.recognize.stream.StreamingRecognizer`; ``config`` is its
        :class:`~islpose.recognize.stream.StreamConfig`)."""
        from islpose.recognize.stream import StreamingRecognizer

        return StreamingRecognizer(self, fps, width, height, config, uid=uid)

    def recognize(self, path: str | Path, *, uid: str | None = None) -> dict:
        """Recognises a video (MediaPipe Holistic runs on it) or a ``.pose`` file."""
        return self.recognize_input(read_input(path), uid=uid or Path(path).stem)

    def recognize_landmarks(self, landmarks: np.ndarray, fps: float, width: int, height: int, *,
                            presence: np.ndarray | None = None, uid: str = "input",
                            source: str | None = None) -> dict:
        """Recognises landmarks a caller already has (e.g. a live camera app).

        Args:
            landmarks: (T, 543, 4) Holistic landmarks (x, y normalised to the image; NaN where missing).
            fps: frames per second; width, height: image size in pixels.
            presence: (T, 4) bool per component; default: where the component has finite points.
            uid, source: the record's ``id`` and ``source``.
        """
        landmarks = np.asarray(landmarks, dtype=np.float32)
        if landmarks.ndim != 3 or landmarks.shape[1:] != (NUM_LANDMARKS, 4) or len(landmarks) == 0:
            raise IslposeError(f"landmarks must be (T > 0, {NUM_LANDMARKS}, 4), got {landmarks.shape}")
        presence = presence_of(landmarks) if presence is None else np.asarray(presence, dtype=bool)
        return self.recognize_input(Landmarks(landmarks, presence, float(fps), int(width), int(height),
                                              source=source), uid=uid)

    def features(self, data: Landmarks) -> np.ndarray:
        """The (T, D) float32 features the model reads, computed from the landmarks."""
        if not (data.width > 0 and data.height > 0):
            raise IslposeError(f"image size must be positive, got {data.width}x{data.height}")
        reason = nobody_detected(data.presence)  # as `islpose extract` asks of a signer
        if reason:
            raise IslposeError(f"{data.source or 'input'}: {reason}")
        if self.model.feature == "pose":
            return pose_features(data.landmarks, data.presence, data.width, data.height)
        return multimodal_features(data.landmarks, data.presence, data.width, data.height, np.float32)

    def recognize_input(self, data: Landmarks, *, uid: str) -> dict:
        """The record of one input's landmarks."""
        return self.decode_input(data, uid=uid)[0]

    def decode_input(self, data: Landmarks, *, uid: str) -> tuple[dict, np.ndarray]:
        """The record of one input's landmarks and the model's (T', V) log-probabilities
        behind it (for a posteriorgram)."""
        if not data.fps > 0:
            raise IslposeError(f"frame rate must be > 0, got {data.fps!r}")
        log_probs = self.model.log_probs(self.features(data))  # (T', V)
        labels = self._decode(log_probs)
        num_frames = len(data.landmarks)
        signing = signing_span(data.landmarks, data.presence, data.width, data.height)
        segments = gloss_segments(log_probs, labels, self.model.vocab.tokens, fps=data.fps,
                                  subsample=self.model.subsample, num_frames=num_frames,
                                  blank=self.model.vocab.blank_id, signing=signing)
        record = {"id": uid, "source": data.source, "duration": round(num_frames / data.fps, 4),
                  "glosses": " ".join(s.gloss for s in segments), "segments": [s.to_dict() for s in segments]}
        return record, log_probs
