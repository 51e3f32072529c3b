"""A bounded pool of recognition workers shared by all requests.

``workers`` threads run recognitions; each has its own decoder (a beam-search decoder
keeps state while it searches) and all share the model (PyTorch inference and
onnxruntime sessions may run from several threads). Requests beyond the workers wait
in a queue of at most ``max_queue``; beyond that the pool refuses with 503.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from islpose.errors import IslposeError
from islpose.io.pose import POSE_EXTENSIONS
from islpose.recognize import Landmarks, Recognizer, read_input
from islpose.serve.uploads import UploadError

log = logging.getLogger("islpose.serve")

# Landmarks the page draws: the body pose (33) and both hands (21 + 21), rows 0-74 of (T, 543, 4).
DRAWN = slice(0, 75)


def read_upload(path: Path) -> Landmarks:
    """The landmarks of an uploaded video or ``.pose`` file, as :func:`~islpose.recognize.read_input`
    reads them, but without redirecting file descriptor 2 per video (which is not safe from
    several threads at once; ``islpose serve`` silences native logs once at start)."""
    if path.suffix.lower() in POSE_EXTENSIONS:
        return read_input(path)
    from islpose.extract.video import VideoOptions, load_video

    data = load_video(path, VideoOptions(quiet_native_logs=False))
    if not data.fps > 0:
        raise IslposeError(f"{path}: no frame rate is declared, so no times can be given")
    return data


def drawn_landmarks(data: Landmarks) -> dict:
    """What the page draws over the video: ``{"fps", "width", "height", "points": 75,
    "frames": [[x0, y0, x1, y1, ...] | per frame]}``, x and y normalised to the image and
    rounded to 4 digits, None where a point is missing (pose 0-32, left hand 33-53, right hand 54-74)."""
    xy = np.round(data.landmarks[:, DRAWN, :2].astype(np.float64), 4).reshape(len(data.landmarks), -1)  # (T, 150)
    frames = [[None if not np.isfinite(v) else float(v) for v in row] for row in xy]
    return {"fps": data.fps, "width": data.width, "height": data.height, "points": DRAWN.stop, "frames": frames}


class RecognitionPool:
    """Runs recognitions on ``workers`` threads with a bounded queue.

    Args:
        recognizer: the model and decoder settings (copied per worker thread).
        workers: recognitions at once.
        max_queue: requests allowed to wait beyond the running ones.
    """

    def __init__(self, recognizer: Recognizer, workers: int, max_queue: int) -> None:
        self.recognizer = recognizer
        self.workers = workers
        self.max_queue = max_queue
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="islpose-recognize")
        self._local = threading.local()
        self._pending = 0  # running + waiting, changed on the event loop only

    @property
    def pending(self) -> int:
        """Recognitions running or waiting."""
        return self._pending

    def _own_recognizer(self) -> Recognizer:
        rec = getattr(self._local, "recognizer", None)
        if rec is None:
            base = self.recognizer
            rec = base if base.config.method == "greedy" else Recognizer(base.model, base.config)
            self._local.recognizer = rec
        return rec

    def _recognize(self, path: Path, uid: str, source: str, landmarks: bool) -> dict:
        data = read_upload(path)
        data.source = source
        record = self._own_recognizer().recognize_input(data, uid=uid).to_dict()
        if landmarks:
            record["landmarks"] = drawn_landmarks(data)
        return record

    async def recognize(self, path: Path, *, uid: str, source: str, landmarks: bool = False) -> dict:
        """The record of one uploaded file (run on a worker thread).

        Raises:
            UploadError: 503 when the queue is full; 422 when the file cannot be used (the
                message names the upload, never the temporary path).
        """
        if self._pending >= self.workers + self.max_queue:
            raise UploadError(503, f"the server is busy ({self._pending} recognitions running or waiting); retry later")
        self._pending += 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, self._recognize, path, uid, source, landmarks)
        except IslposeError as exc:
            raise UploadError(422, str(exc).replace(str(path), source)) from None
        except Exception as exc:
            log.warning("%s: recognition failed", source, exc_info=True)
            raise UploadError(
                422, f"{source}: cannot be read as a video or .pose file ({type(exc).__name__})"
            ) from None
        finally:
            self._pending -= 1

    def run(self, fn, *args):
        """Runs ``fn(*args)`` on the pool (for other blocking work, e.g. live frames); returns a future."""
        return asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
