"""Frames for live recognition: ``.pose`` files, videos and cameras as streams of landmarks.

Every source gives its ``uid``, ``fps``, ``width`` and ``height`` up front and then yields
``(landmarks (543, 4) float32, media seconds)`` per frame from :meth:`FrameSource.frames`.
Videos and cameras go through MediaPipe Holistic in video mode (one graph per source,
tracking from frame to frame; :func:`islpose.extract.holistic.frame_landmarks`).

* :class:`PoseSource`: the frames of a ``.pose`` file;
* :class:`VideoSource`: the frames of a video file;
* :class:`CameraSource`: a live capture (``cv2.VideoCapture(index)`` or any capture a
  factory makes). A reader thread keeps only the newest frame: when Holistic falls behind,
  older frames are dropped and counted in ``dropped``, never queued, so the stream stays in
  real time. Frame times are seconds since the capture opened.

Files run as fast as the machine allows; with ``realtime=True`` they are paced at their
frame rate (a frame is not handed out before its media time has passed).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from islpose._optional import require
from islpose.extract.holistic import HolisticSettings, VideoError, frame_landmarks, open_holistic

Frame = tuple[np.ndarray, float]  # (543, 4) float32 landmarks, media seconds
#: What makes a camera's capture from its index when none is given (None: ``cv2.VideoCapture``);
#: tests (and apps with another capture library) replace it.
CAPTURE_FACTORY: Callable | None = None


class FrameSource:
    """Base of the live sources.

    Attributes:
        uid: the events' id (the file's stem, ``camN`` for camera N).
        fps: frames per second of the media; width, height: image size in pixels.
        dropped: frames the source let go because processing fell behind (cameras).
        delivered: frames handed out so far.
    """

    uid: str
    fps: float
    width: int
    height: int
    dropped: int = 0
    delivered: int = 0

    def frames(self) -> Iterator[Frame]:
        """Yields ``(landmarks, time)`` until the media ends (or :meth:`close`)."""
        raise NotImplementedError

    def close(self) -> None:
        """Releases the capture (safe to call twice)."""


class _Pacer:
    """Holds frames back until their media time has passed on the wall clock."""

    def __init__(
        self, realtime: bool, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.realtime, self.clock, self.sleep = realtime, clock, sleep
        self.start: float | None = None

    def wait(self, media_time: float) -> None:
        if not self.realtime:
            return
        if self.start is None:
            self.start = self.clock() - media_time
        ahead = self.start + media_time - self.clock()
        if ahead > 0:
            self.sleep(ahead)


class PoseSource(FrameSource):
    """The frames of a ``.pose`` file (``realtime``: paced at its frame rate)."""

    def __init__(self, path: str | Path, *, uid: str | None = None, realtime: bool = False) -> None:
        from islpose.recognize.recognizer import read_input

        data = read_input(path)
        self.uid = uid or Path(path).stem
        self.fps, self.width, self.height = data.fps, data.width, data.height
        self._landmarks = data.landmarks
        self._pacer = _Pacer(realtime)

    def frames(self) -> Iterator[Frame]:
        for i, lm in enumerate(self._landmarks):
            t = i / self.fps
            self._pacer.wait(t)
            self.delivered += 1
            yield lm, t


def _open_capture(cv2, capture, what: str):
    if not capture.isOpened():
        capture.release()
        raise VideoError(f"{what}: cannot be opened (not a video, or no such camera)")
    fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
    width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH) or 0)
    height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0)
    return (fps if np.isfinite(fps) and fps > 0 else 0.0), width, height


class VideoSource(FrameSource):
    """The frames of a video file through Holistic (``realtime``: paced at its frame rate)."""

    def __init__(
        self,
        path: str | Path,
        *,
        uid: str | None = None,
        realtime: bool = False,
        settings: HolisticSettings = HolisticSettings(),
    ) -> None:
        self._cv2 = require("cv2", "extract", "OpenCV")
        require("mediapipe", "extract", "MediaPipe")
        path = Path(path)
        if not path.is_file():
            raise VideoError(f"{path}: file not found")
        self.uid = uid or path.stem
        self._capture = self._cv2.VideoCapture(str(path))
        self.fps, self.width, self.height = _open_capture(self._cv2, self._capture, str(path))
        if not self.fps > 0:
            self.close()
            raise VideoError(f"{path}: no frame rate is declared, so no times can be given")
        self._settings, self._pacer = settings, _Pacer(realtime)

    def frames(self) -> Iterator[Frame]:
        try:
            with open_holistic(self._settings) as holistic:
                i = 0
                while True:
                    ok, image = self._capture.read()  # (H, W, 3) uint8 BGR
                    if not ok:
                        break
                    t = i / self.fps
                    self._pacer.wait(t)
                    lm, _ = frame_landmarks(self._cv2, holistic, image)
                    i += 1
                    self.delivered += 1
                    yield lm, t
        finally:
            self.close()

    def close(self) -> None:
        self._capture.release()


class CameraSource(FrameSource):
    """A live capture in real time, dropping (and counting) frames that processing cannot keep up with.

    Args:
        index: the camera index for ``cv2.VideoCapture``.
        capture_factory: makes the capture from ``index`` (default :data:`CAPTURE_FACTORY`,
            else ``cv2.VideoCapture``; tests give a video file's capture).
        fps: frame rate to assume when the capture declares none.
        max_seconds: stop after this many seconds (None: until the capture ends or :meth:`close`).
    """

    def __init__(
        self,
        index: int,
        *,
        capture_factory: Callable | None = None,
        fps: float = 30.0,
        max_seconds: float | None = None,
        settings: HolisticSettings = HolisticSettings(),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._cv2 = require("cv2", "extract", "OpenCV")
        require("mediapipe", "extract", "MediaPipe")
        self.uid = f"cam{index}"
        self._capture = (capture_factory or CAPTURE_FACTORY or self._cv2.VideoCapture)(index)
        declared, self.width, self.height = _open_capture(self._cv2, self._capture, f"camera {index}")
        self.fps = declared or float(fps)
        if not (self.width and self.height):  # a capture that does not say: its first frame does
            ok, image = self._capture.read()
            if not ok:
                self._capture.release()
                raise VideoError(f"camera {index}: gives no frame")
            self.height, self.width = image.shape[:2]
        self._settings, self._clock, self._max = settings, clock, max_seconds
        self._cond = threading.Condition()
        self._slot: tuple[np.ndarray, float] | None = None
        self._ended = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _read(self) -> None:
        """Reader thread: keeps the newest frame in the slot, counting the ones it replaces."""
        start = self._clock()
        try:
            while not self._stop.is_set():
                ok, image = self._capture.read()
                t = self._clock() - start
                if not ok or (self._max is not None and t > self._max):
                    break
                with self._cond:
                    if self._slot is not None:
                        self.dropped += 1
                    self._slot = (image, t)
                    self._cond.notify()
        finally:
            with self._cond:
                self._ended = True
                self._cond.notify()

    def _next(self) -> tuple[np.ndarray, float] | None:
        with self._cond:
            while self._slot is None and not self._ended:
                self._cond.wait(0.5)
            item, self._slot = self._slot, None
            return item

    def frames(self) -> Iterator[Frame]:
        self._thread = threading.Thread(target=self._read, name=f"islpose-{self.uid}", daemon=True)
        self._thread.start()
        try:
            with open_holistic(self._settings) as holistic:
                while (item := self._next()) is not None:
                    image, t = item
                    lm, _ = frame_landmarks(self._cv2, holistic, image)
                    self.delivered += 1
                    yield lm, t
        finally:
            self.close()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self._capture.release()


def camera_index(source: str) -> int | None:
    """The camera index a command-line SOURCE names (a whole number that is no existing path), else None."""
    if source.isdigit() and not Path(source).exists():
        return int(source)
    return None


def open_source(
    item: str | Path,
    *,
    realtime: bool = False,
    uid: str | None = None,
    capture_factory: Callable | None = None,
    max_seconds: float | None = None,
) -> FrameSource:
    """The source for a camera index, a ``.pose`` file or a video file.

    Raises:
        IslposeError: the source cannot be opened (one line naming it and why).
    """
    from islpose.io.pose import POSE_EXTENSIONS

    index = camera_index(str(item))
    if index is not None:
        return CameraSource(index, capture_factory=capture_factory, max_seconds=max_seconds)
    path = Path(item)
    if path.suffix.lower() in POSE_EXTENSIONS:
        return PoseSource(path, uid=uid, realtime=realtime)
    return VideoSource(path, uid=uid, realtime=realtime)


__all__ = ["CameraSource", "Frame", "FrameSource", "PoseSource", "VideoSource", "camera_index", "open_source"]
