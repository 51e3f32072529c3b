"""``WS /live``: webcam frames in, landmarks and live gloss events out.

Protocol (one connection = one signer, its own MediaPipe Holistic in video mode):

- client -> server, first a text message ``{"type": "start", "token": "...", "fps": 15}``
  (the token only when the server has one; ``fps``: the rate the client sends frames at,
  which the model reads them at); then per frame a binary message: 8 bytes little-endian
  float64 capture time in seconds (increasing), then the frame as JPEG, PNG or WebP;
  ``{"type": "stop"}`` ends the utterance (the streaming recogniser flushes; the next frame
  starts a new one).
- server -> client: ``{"type": "ready", "streaming": bool, "fps"}``; per frame ``{"type":
  "frame", "t", "width", "height", "points": [x0, y0, ...]}`` (pose and hands as in
  ``?landmarks=1``), then, where the server recognises glosses (``streaming``), ``{"type":
  "events", "committed": [...], "partial": [...]}``: the glosses this frame committed (final,
  never withdrawn) and the current partial hypothesis (replaces the previous one), each a
  :class:`~islpose.recognize.stream.LiveEvent` as a dict; after ``stop`` the same with
  ``"final": true``; ``{"type": "error", "error": "..."}`` for a frame that cannot be used
  (the connection goes on).

The client sends a frame after the answer to the previous one, so a slow server makes the
client drop frames instead of queueing them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import struct
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from fastapi import WebSocket, WebSocketDisconnect

from islpose.errors import IslposeError
from islpose.serve.pool import DRAWN

log = logging.getLogger("islpose.serve")
MAX_FRAME_BYTES = 4_000_000
MAX_CONNECTIONS = 4
DEFAULT_FPS = 15.0


class LiveSession:
    """The per-connection state: a Holistic graph in video mode and, where this islpose has
    a streaming recogniser (``Recognizer.stream``), the stream of the current utterance.
    Used from one thread at a time.

    Args:
        recognizer: the server's recognizer (its model is shared, its decoder copied).
        fps: the frame rate the client sends at (the stream's model reads frames at this rate).
    """

    def __init__(self, recognizer, fps: float) -> None:
        from islpose.recognize import Recognizer

        self.recognizer = (
            recognizer if recognizer.config.method == "greedy" else Recognizer(recognizer.model, recognizer.config)
        )  # a beam decoder keeps state: one per connection
        self.fps = fps
        self.holistic = None
        self.stream = None
        self.size: tuple[int, int] | None = None

    @property
    def streaming(self) -> bool:
        """Whether gloss events are recognised (not only landmarks)."""
        return callable(getattr(self.recognizer, "stream", None))

    def frame(self, t: float, image: bytes) -> dict:
        """Landmarks of one encoded frame and what the stream made of it (blocking: MediaPipe runs here).

        Returns:
            ``{"frame": {...}, "events": {...} or None}`` (see the module docstring).

        Raises:
            ValueError: the image cannot be decoded, or its time is not after the previous frame's.
        """
        import cv2

        pixels = cv2.imdecode(np.frombuffer(image, np.uint8), cv2.IMREAD_COLOR)  # (H, W, 3) BGR or None
        if pixels is None:
            raise ValueError("frame is not a decodable JPEG, PNG or WebP image")
        height, width = pixels.shape[:2]
        lm = self._landmarks(cv2, pixels)  # (543, 4)
        xy = np.round(lm[DRAWN, :2].astype(np.float64), 4).reshape(-1)
        out = {
            "frame": {
                "type": "frame",
                "t": t,
                "width": width,
                "height": height,
                "points": [None if not np.isfinite(v) else float(v) for v in xy],
            },
            "events": None,
        }
        if not self.streaming:
            return out
        flushed = []
        if self.stream is not None and self.size != (width, height):  # the camera changed: a new utterance
            flushed = self.stream.flush()
            self.stream = None
        if self.stream is None:
            self.stream = self.recognizer.stream(self.fps, width, height, uid="live")
            self.size = (width, height)
        try:
            committed = flushed + self.stream.push(lm, t)
        except IslposeError as exc:
            raise ValueError(str(exc)) from None
        out["events"] = _events(committed, self.stream.partial())
        return out

    def _landmarks(self, cv2, pixels: np.ndarray) -> np.ndarray:
        """(543, 4) landmarks of one BGR frame (this connection's Holistic graph, in video mode)."""
        from islpose.extract.holistic import frame_landmarks, open_holistic

        if self.holistic is None:
            self.holistic = open_holistic()
        return frame_landmarks(cv2, self.holistic, pixels)[0]

    def flush(self) -> dict:
        """Ends the current utterance: its last glosses (the next frame starts a new one)."""
        committed = self.stream.flush() if self.stream is not None else []
        self.stream = None
        return {**_events(committed, []), "final": True}

    def close(self) -> None:
        if self.holistic is not None:
            self.holistic.close()


def _events(committed, partial) -> dict:
    return {"type": "events", "committed": [e.to_dict() for e in committed], "partial": [e.to_dict() for e in partial]}


def add_live_route(app, pool, authorised) -> None:
    """Adds ``WS /live`` to ``app``; ``authorised(header)`` checks a bearer token."""
    open_connections = 0

    @app.websocket("/live")
    async def live(ws: WebSocket):
        nonlocal open_connections
        await ws.accept()
        if open_connections >= MAX_CONNECTIONS:
            await ws.send_json({"type": "error", "error": f"at most {MAX_CONNECTIONS} live connections at once"})
            await ws.close(code=1013)
            return
        open_connections += 1
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="islpose-live")
        session = None
        try:
            start = await ws.receive_json()
            if not isinstance(start, dict) or start.get("type") != "start":
                raise ValueError('the first message must be {"type": "start"}')
            token = start.get("token")
            if not authorised(f"Bearer {token}" if isinstance(token, str) else None):
                await ws.send_json({"type": "error", "error": "missing or wrong token"})
                await ws.close(code=1008)
                return
            fps = start.get("fps", DEFAULT_FPS)
            if not isinstance(fps, (int, float)) or not 1 <= fps <= 60:
                raise ValueError(f"fps must be a number from 1 to 60, got {fps!r}")
            session = LiveSession(pool.recognizer, float(fps))
            await ws.send_json({"type": "ready", "streaming": session.streaming, "fps": session.fps})
            await _frames(ws, session, executor)
        except WebSocketDisconnect:
            pass
        except (ValueError, json.JSONDecodeError) as exc:
            await _close_with(ws, str(exc))
        finally:
            open_connections -= 1
            if session is not None:
                executor.submit(session.close)
            executor.shutdown(wait=False)


async def _frames(ws, session: LiveSession, executor) -> None:
    """Answers frames until the client goes away."""
    loop = asyncio.get_running_loop()
    while True:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") is not None:
            if json.loads(message["text"]).get("type") == "stop":
                await ws.send_json(await loop.run_in_executor(executor, session.flush))
            continue
        data = message.get("bytes") or b""
        if len(data) <= 8 or len(data) > MAX_FRAME_BYTES:
            await ws.send_json(
                {
                    "type": "error",
                    "error": f"a frame is 8 bytes of time then an image (at most {MAX_FRAME_BYTES} bytes)",
                }
            )
            continue
        (t,) = struct.unpack("<d", data[:8])
        try:
            out = await loop.run_in_executor(executor, session.frame, float(t), data[8:])
        except ValueError as exc:
            await ws.send_json({"type": "error", "error": str(exc)})
            continue
        await ws.send_json(out["frame"])
        if out["events"] is not None:
            await ws.send_json(out["events"])


async def _close_with(ws, message: str) -> None:
    try:
        await ws.send_json({"type": "error", "error": message})
        await ws.close(code=1003)
    except Exception:  # noqa: BLE001 - the client may already be gone
        pass
