"""``WS /live``: webcam frames in, landmarks and live gloss events out.

Protocol (one connection = one signer, its own MediaPipe Holistic in video mode):

- client -> server, first a text message ``{"type": "start", "token": "..."}`` (the token
  only when the server has one); then per frame a binary message: 8 bytes little-endian
  float64 capture time in seconds, then the frame as JPEG, PNG or WebP; ``{"type": "stop"}``
  ends the utterance (the recogniser flushes).
- server -> client: ``{"type": "ready", "streaming": bool}``; per frame ``{"type": "frame",
  "t", "width", "height", "points": [x0, y0, ...]}`` (pose and hands as in ``?landmarks=1``);
  ``{"type": "events", "events": [...]}`` with the streaming recogniser's events;
  ``{"type": "error", "error": "..."}`` for a frame that cannot be used (the connection goes on).

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

from islpose.features.layout import NUM_LANDMARKS, SLICES
from islpose.serve.pool import DRAWN

log = logging.getLogger("islpose.serve")
MAX_FRAME_BYTES = 4_000_000
MAX_CONNECTIONS = 4


class LiveSession:
    """The per-connection state: a Holistic graph in video mode and, when the streaming
    recogniser is available, its state. Used from one thread at a time."""

    def __init__(self, recognizer) -> None:
        self.recognizer = recognizer
        self.holistic = None
        self.stream = _streaming(recognizer)
        self.size: tuple[int, int] | None = None

    def frame(self, t: float, image: bytes) -> dict:
        """Landmarks of one encoded frame and the events it gave (blocking; MediaPipe runs here)."""
        import cv2

        from islpose.features.holistic import HolisticSettings, _to_rows

        pixels = cv2.imdecode(np.frombuffer(image, np.uint8), cv2.IMREAD_COLOR)  # (H, W, 3) BGR or None
        if pixels is None:
            raise ValueError("frame is not a decodable JPEG, PNG or WebP image")
        height, width = pixels.shape[:2]
        if self.holistic is None:
            import mediapipe as mp

            self.holistic = mp.solutions.holistic.Holistic(**HolisticSettings().to_dict())
        result = self.holistic.process(cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB))
        lm = np.full((NUM_LANDMARKS, 4), np.nan, dtype=np.float32)
        parts = (result.pose_landmarks, result.left_hand_landmarks, result.right_hand_landmarks, result.face_landmarks)
        for (name, rows), part in zip(SLICES.items(), parts):
            if part is not None:
                _to_rows(part, lm[rows], with_visibility=name == "pose")
        xy = np.round(lm[DRAWN, :2].astype(np.float64), 4).reshape(-1)
        out = {"type": "frame", "t": t, "width": width, "height": height,
               "points": [None if not np.isfinite(v) else float(v) for v in xy]}
        events = self.stream.push(lm, np.array([t])) if self.stream is not None else []
        return {"frame": out, "events": [e.to_dict() for e in events]}

    def flush(self) -> list[dict]:
        return [e.to_dict() for e in self.stream.flush()] if self.stream is not None else []

    def close(self) -> None:
        if self.holistic is not None:
            self.holistic.close()


def _streaming(recognizer):
    """The streaming recogniser of ``recognizer``, or None where this islpose has none."""
    stream = getattr(recognizer, "stream", None)
    return stream() if callable(stream) else None


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
            loop = asyncio.get_running_loop()
            session = await loop.run_in_executor(executor, LiveSession, pool.recognizer)
            await ws.send_json({"type": "ready", "streaming": session.stream is not None})
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
                events = await loop.run_in_executor(executor, session.flush)
                await ws.send_json({"type": "events", "events": events, "final": True})
            continue
        data = message.get("bytes") or b""
        if len(data) <= 8 or len(data) > MAX_FRAME_BYTES:
            await ws.send_json({"type": "error", "error": f"a frame is 8 bytes of time then an image "
                                                          f"(at most {MAX_FRAME_BYTES} bytes)"})
            continue
        (t,) = struct.unpack("<d", data[:8])
        try:
            out = await loop.run_in_executor(executor, session.frame, float(t), data[8:])
        except ValueError as exc:
            await ws.send_json({"type": "error", "error": str(exc)})
            continue
        await ws.send_json(out["frame"])
        if out["events"]:
            await ws.send_json({"type": "events", "events": out["events"]})


async def _close_with(ws, message: str) -> None:
    try:
        await ws.send_json({"type": "error", "error": message})
        await ws.close(code=1003)
    except Exception:  # noqa: BLE001 - the client may already be gone
        pass
