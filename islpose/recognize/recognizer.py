"""The :class:`Recognizer`: glosses with their times from a video, a ``.pose`` file or landmarks.

Example:
    >>> from islpose import Recognizer
    >>> rec = Recognizer.from_checkpoint("runs/bilstm/best.pt", beam=5)  # doctest: +SKIP
    >>> result = rec.recognize("clip.mp4")  # doctest: +SKIP
    >>> result.glosses, result.segments[0]  # doctest: +SKIP
    ('I GO SCHOOL', Segment(gloss='I', start=0.24, end=0.68, score=0.97))
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from islpose.decode.config import DecoderConfig
from islpose.errors import IslposeError
from islpose.features.compute import multimodal_features, pose_features, signing_span
from islpose.features.layout import NUM_LANDMARKS, Landmarks, nobody_detected, presence_of
from islpose.io.pose import POSE_EXTENSIONS
from islpose.recognize.runtime import StudentModel, load_student
from islpose.recognize.segments import Recognition, gloss_segments

if TYPE_CHECKING:
    from islpose.recognize.stream import StreamingRecognizer


def read_input(path: str | Path, video_options: Any = None) -> Landmarks:
    """Landmarks of a video (MediaPipe Holistic) or a ``.pose`` file.

    ``video_options`` (a :class:`~islpose.extract.video.VideoOptions`; None: the defaults,
    i.e. the legacy backend) says how a video is extracted.

    Raises:
        IslposeError: the file cannot be used (missing, not a video or ``.pose``, nobody
            visible, no frame rate).
    """
    path = Path(path)
    if path.suffix.lower() in POSE_EXTENSIONS:
        from islpose.extract.posefile import read_pose

        data = read_pose(path)
    else:
        from islpose.extract.video import VideoOptions, load_video

        data = load_video(path, video_options or VideoOptions())
    if not data.fps > 0:
        raise IslposeError(f"{path}: no frame rate is declared, so no times can be given")
    return data


class Recognizer:
    """A trained student plus a decoder: landmarks in, glosses and their segments out.

    Every ``recognize*`` method returns a :class:`~islpose.recognize.segments.Recognition`
    (glosses with start and end in seconds and a score); its ``to_dict()`` is a line of
    ``islpose recognize --out``.

    Args:
        model: the student (see :func:`~islpose.recognize.runtime.load_student`).
        config: decoder settings; ``beam_size == 1`` is greedy decoding, beam search needs
            flashlight-text. With an ONNX model neither needs torch.

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> import islpose
        >>> from islpose.testing import make_synthetic_corpus
        >>> tmp = tempfile.TemporaryDirectory()
        >>> corpus = make_synthetic_corpus(Path(tmp.name) / "corpus", num_glosses=4, num_signers=3,
        ...                                utterances_per_signer=4, seed=0)
        >>> config = islpose.resolve_config("bilstm_optimized", {
        ...     "model_config": {"projection_dim": 8, "hidden_dim": 8, "num_layers": 1},
        ...     "train": {"epochs": 1, "batch_size": 4, "device": "cpu", "progress": False}})
        >>> _ = islpose.train(config, corpus.store, corpus.manifest, Path(tmp.name) / "run")
        >>> rec = islpose.Recognizer.from_checkpoint(Path(tmp.name) / "run" / "best.pt", beam=1)
        >>> with islpose.FeatureStore(corpus.store) as store:
        ...     uid = store.ids()[0]
        ...     attrs, landmarks = store.attrs(uid), store.read(uid, "landmarks")
        >>> result = rec.recognize_landmarks(landmarks, attrs["fps"], attrs["width"], attrs["height"], uid=uid)
        >>> result.id == uid, result.glosses == " ".join(s.gloss for s in result.segments)
        (True, True)
        >>> sorted(result.to_dict())
        ['duration', 'glosses', 'id', 'segments', 'source']
        >>> tmp.cleanup()
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
    def from_checkpoint(
        cls,
        path: str | Path,
        *,
        beam: int = 5,
        lm: str | Path | None = None,
        lm_weight: float = DecoderConfig.lm_weight,
        word_score: float = DecoderConfig.word_score,
        **decoder: Any,
    ) -> Recognizer:
        """A recognizer for a ``.pt`` checkpoint of ``islpose train`` or a ``.onnx`` of ``islpose export``.

        Args:
            path: the checkpoint or ONNX model (with ``MODEL.tokens.txt`` beside it).
            beam: beam size; 1 = greedy.
            lm: gloss n-gram LM (ARPA or KenLM binary) for beam search.
            lm_weight, word_score: as in ``islpose decode``.
            decoder: other :class:`DecoderConfig` fields (``beam_size_token``, ``beam_threshold``).
        """
        config = DecoderConfig(
            beam_size=beam, lm=None if lm is None else str(lm), lm_weight=lm_weight, word_score=word_score, **decoder
        )
        config.check()
        return cls(load_student(path), config)

    def stream(
        self, fps: float, width: int, height: int, config: Any = None, *, uid: str = "live"
    ) -> StreamingRecognizer:
        """A live stream over this model: landmarks go in frame by frame, committed glosses
        come out (:class:`~islpose.recognize.stream.StreamingRecognizer`; ``config`` is its
        :class:`~islpose.recognize.stream.StreamConfig`)."""
        from islpose.recognize.stream import StreamingRecognizer

        return StreamingRecognizer(self, fps, width, height, config, uid=uid)

    def recognize(self, path: str | Path, *, uid: str | None = None) -> Recognition:
        """Recognises a video (MediaPipe Holistic runs on it) or a ``.pose`` file."""
        return self.recognize_input(read_input(path), uid=uid or Path(path).stem)

    def recognize_landmarks(
        self,
        landmarks: np.ndarray,
        fps: float,
        width: int,
        height: int,
        *,
        presence: np.ndarray | None = None,
        uid: str = "input",
        source: str | None = None,
    ) -> Recognition:
        """Recognises landmarks a caller already has (e.g. a live camera app).

        Args:
            landmarks: (T, 543, 4) Holistic landmarks (x, y normalised to the image; NaN where missing).
            fps: frames per second; width, height: image size in pixels.
            presence: (T, 4) bool per component; default: where the component has finite points.
                A component without a finite point in a frame is not present there, whatever
                ``presence`` says.
            uid, source: the result's ``id`` and ``source``.
        """
        landmarks = np.asarray(landmarks, dtype=np.float32)
        if landmarks.ndim != 3 or landmarks.shape[1:] != (NUM_LANDMARKS, 4) or len(landmarks) == 0:
            raise IslposeError(f"landmarks must be (T > 0, {NUM_LANDMARKS}, 4), got {landmarks.shape}")
        finite = presence_of(landmarks)
        if presence is not None and np.shape(presence) != finite.shape:
            raise IslposeError(f"presence must be {finite.shape} (frames, components), got {np.shape(presence)}")
        presence = finite if presence is None else np.asarray(presence, dtype=bool) & finite
        return self.recognize_input(
            Landmarks(landmarks, presence, float(fps), int(width), int(height), source=source), uid=uid
        )

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

    def recognize_input(self, data: Landmarks, *, uid: str) -> Recognition:
        """What is recognised in one input's landmarks."""
        return self.decode_input(data, uid=uid)[0]

    def decode_input(self, data: Landmarks, *, uid: str) -> tuple[Recognition, np.ndarray]:
        """What is recognised in one input's landmarks, and the model's (T', V)
        log-probabilities behind it (for a posteriorgram)."""
        if not data.fps > 0:
            raise IslposeError(f"frame rate must be > 0, got {data.fps!r}")
        features = self.features(data)  # checks the image size and that somebody is there
        signing = signing_span(data.landmarks, data.presence, data.width, data.height)
        return self.decode_features(features, data.fps, uid=uid, source=data.source, signing=signing)

    def decode_features(
        self,
        features: np.ndarray,
        fps: float,
        *,
        uid: str,
        source: str | None = None,
        signing: tuple[int, int] | None = None,
    ) -> tuple[Recognition, np.ndarray]:
        """What is recognised in features the model reads (e.g. from a feature store), and
        the model's log-probabilities behind it.

        Args:
            features: (T, D) float32 features of the model's feature set.
            fps: frames per second of the features' frames.
            uid, source: the result's ``id`` and ``source``.
            signing: ``(first, end)`` frames where the signer signs (segments are kept
                inside it), or None.

        Returns:
            The recognition and the (T', V) log-probabilities.
        """
        if not fps > 0:
            raise IslposeError(f"frame rate must be > 0, got {fps!r}")
        log_probs = self.model.log_probs(features)  # (T', V)
        labels = self._decode(log_probs)
        num_frames = len(features)
        segments = gloss_segments(
            log_probs,
            labels,
            self.model.vocab.tokens,
            fps=fps,
            subsample=self.model.subsample,
            num_frames=num_frames,
            blank=self.model.vocab.blank_id,
            signing=signing,
        )
        return Recognition(uid, source, round(num_frames / fps, 4), tuple(segments)), log_probs
